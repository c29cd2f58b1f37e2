"""Where a data set's files come from: the data sets known, and the folders searched for them.

A data set is four IDX files (training and test images and labels, network.idx) in one folder.
`find_dataset` looks for them in a few well-known places; network.download fetches them into the cache
(`cache_dir`) from the mirrors and checks them against the MD5s that `DATASETS` lists.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from network.dataset import DataError

DATA_ENV = "SCRATCHNET_DATA"

# The four files of a dataset, by role; each may be stored as NAME or NAME.gz.
FILE_NAMES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset can come from.

    `mirrors` are base URLs tried in order (a file is fetched from mirror + NAME.gz), `md5` holds the
    published checksum of each .gz file by role (the keys of FILE_NAMES), and `system_dirs` are folders that
    an operating system package installs the files in.
    """

    mirrors: tuple[str, ...]
    md5: Mapping[str, str]
    system_dirs: tuple[Path, ...] = ()


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        md5={
            "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
            "test_images": "9fb629c4189551a2d022fa330f9573f3",
            "test_labels": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": DatasetSpec(
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        md5={
            "train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
            "test_images": "bef4ecab320f06d8554ea6380940ec79",
            "test_labels": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        # Debian's dataset-fashion-mnist package; re-compressed files, so they do not match the md5 above.
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    ),
}


def cache_dir(name: str) -> Path:
    """The per-user folder that downloads go to: $XDG_CACHE_HOME/scratchnet/NAME (default ~/.cache/...)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative path here.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "scratchnet" / name


def search_paths(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """The folders `find_dataset` looks in, in order."""
    spec = dataset_spec(name)
    paths = []
    if data_dir is not None:
        paths += _layouts(name, Path(data_dir).expanduser())
    if env_dir := os.environ.get(DATA_ENV):
        paths += _layouts(name, Path(env_dir).expanduser())
    paths.append(cache_dir(name))
    paths += spec.system_dirs
    return paths


def find_dataset(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The first folder of `search_paths` that holds all four files of dataset `name`, or None.

    An explicit `data_dir` must hold the files (directly or in a NAME/ sub-folder): if it does not, that is a
    DataError rather than a silent fall-through to other places, because a user who typed a path wants that
    path.
    """
    dataset_spec(name)
    if data_dir is None:
        return next((folder for folder in search_paths(name) if not _missing_files(folder)), None)
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: no such folder")
    nested, direct = _layouts(name, data_dir)
    for folder in (nested, direct):
        if not _missing_files(folder):
            return folder
    # Report on the layout the user most likely meant.
    folder = nested if nested.is_dir() else direct
    missing = ", ".join(_missing_files(folder))
    raise DataError(f"{folder}: not a complete {name} dataset: missing {missing} (each may also end in .gz)")


def _layouts(name: str, folder: Path) -> list[Path]:
    """A data folder holds the four files in a sub-folder named after the dataset, or directly.

    The sub-folder comes first because it is unambiguous: MNIST and Fashion-MNIST use the same file names, so
    four files directly in a folder that also has a fashion-mnist/ sub-folder are not Fashion-MNIST.
    """
    return [folder / name, folder]


def file_in(folder: Path, stem: str) -> Path | None:
    """The file `stem` of a data set in `folder`, gzipped (STEM.gz) or not, or None if it is not there."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _missing_files(folder: Path) -> list[str]:
    return [stem for stem in FILE_NAMES.values() if file_in(folder, stem) is None]


def dataset_spec(name: str) -> DatasetSpec:
    """`DATASETS[name]`; an unknown name is a DataError that lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}") from None


def how_to_provide(name: str) -> str:
    """The end of a "data set not found" message: where it was looked for, and how to supply it."""
    places = ", ".join(map(str, search_paths(name)))
    files = ", ".join(FILE_NAMES.values())
    return (
        f"looked in {places}; put the four IDX files ({files}; gzipped or not) in one of those folders, "
        f"pass --data-dir DIR or set {DATA_ENV}=DIR"
    )
