"""Find, download and load MNIST-style datasets stored as IDX files.

IDX is the format of the original MNIST distribution: a big-endian header followed by raw data.

    bytes 0-1   always zero
    byte  2     element type; 0x08 = unsigned byte, the only type MNIST and Fashion-MNIST use
    byte  3     number of dimensions d
    then        d sizes, each a 32-bit big-endian unsigned integer
    then        prod(sizes) elements in C (row-major) order

So an image file starts with the magic number 0x00000803 followed by (count, rows, columns), and a label file
with 0x00000801 followed by (count). The files are usually distributed gzipped (`*.gz`).

A dataset is four such files (training and test images and labels) in one folder. `find_dataset` looks
for them in a few well-known places, `download_dataset` fetches and verifies them, and `load_dataset` does
both and returns the images as one (n, rows * cols) array of floats in [0, 1] and the labels as int64.
"""

import gzip
import hashlib
import http.client
import io
import math
import os
import struct
import sys
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from network.dataset import N_CLASSES, DataError, Dataset, to_features
from network.files import atomic_write
from network.kaggle import holds_kaggle_csv, load_kaggle_train

DATA_ENV = "SCRATCHNET_DATA"
DOWNLOAD_TIMEOUT = 30.0  # seconds of silence before a mirror counts as failed

# The four files of a dataset, by role; each may be stored as NAME or NAME.gz.
FILE_NAMES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08
_CHUNK = 1 << 16


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


# --- reading IDX files --------------------------------------------------------------------------------------


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes, gzipped or not, into a uint8 array shaped as its header says."""
    path = Path(path)
    try:
        with _open_idx(path) as stream:
            shape = _read_idx_header(stream, path)
            return _read_payload(stream, shape, path)
    except EOFError as error:
        raise DataError(f"{path}: the gzip stream is cut off (incomplete download?)") from error
    except (zlib.error, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: corrupt gzip data ({error})") from error
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or error})") from error


def _read_payload(stream: io.BufferedIOBase, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """The data the header promises, read in chunks straight into the array, and one byte more to see
    that there is no more: memory never exceeds what the header declares, however long the stream."""
    expected = math.prod(shape)
    try:
        array = np.empty(expected, dtype=np.uint8)
    except MemoryError:
        raise DataError(f"{path}: the header promises {expected:,} bytes of data, more than memory") from None
    view, filled = memoryview(array), 0
    while filled < expected and (n := stream.readinto(view[filled : filled + _CHUNK])):
        filled += n
    if filled < expected:
        raise DataError(
            f"{path}: truncated: the header promises {expected} bytes of data "
            f"({' x '.join(map(str, shape))}) but the file has {filled}"
        )
    if stream.read(1):
        raise DataError(f"{path}: unexpected bytes after the {expected} bytes the header promises")
    return array.reshape(shape)


def _open_idx(path: Path) -> io.BufferedIOBase:
    # Decide by content, not by suffix: people gunzip files and keep the name, or the other way round.
    with path.open("rb") as probe:
        gzipped = probe.read(len(_GZIP_MAGIC)) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def _read_idx_header(stream: io.BufferedIOBase, path: Path) -> tuple[int, ...]:
    magic = stream.read(4)
    if len(magic) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(magic)} bytes)")
    number = int.from_bytes(magic, "big")
    element_type, ndim = magic[2], magic[3]
    if magic[:2] != b"\0\0":
        raise DataError(
            f"{path}: not an IDX file: magic number 0x{number:08x} "
            "(expected 0x00000803 for images or 0x00000801 for labels)"
        )
    if element_type != _UBYTE:
        raise DataError(
            f"{path}: unsupported element type 0x{element_type:02x} in magic number 0x{number:08x} "
            f"(only unsigned bytes, 0x{_UBYTE:02x}, are supported)"
        )
    if ndim == 0:
        raise DataError(f"{path}: magic number 0x{number:08x} declares no dimensions")
    sizes = stream.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(
            f"{path}: truncated header: {ndim} dimensions need {4 * ndim} bytes of sizes, found {len(sizes)}"
        )
    return struct.unpack(f">{ndim}I", sizes)


# --- finding a dataset on disk ------------------------------------------------------------------------------


def cache_dir(name: str) -> Path:
    """The per-user folder that downloads go to: $XDG_CACHE_HOME/scratchnet/NAME (default ~/.cache/...)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative path here.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "scratchnet" / name


def search_paths(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """The folders `find_dataset` looks in, in order."""
    spec = _spec(name)
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
    _spec(name)
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


def _file_in(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _missing_files(folder: Path) -> list[str]:
    return [stem for stem in FILE_NAMES.values() if _file_in(folder, stem) is None]


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}") from None


def _how_to_provide(name: str) -> str:
    places = ", ".join(map(str, search_paths(name)))
    files = ", ".join(FILE_NAMES.values())
    return (
        f"looked in {places}; put the four IDX files ({files}; gzipped or not) in one of those folders, "
        f"pass --data-dir DIR or set {DATA_ENV}=DIR"
    )


# --- downloading --------------------------------------------------------------------------------------------


class _ChecksumMismatch(Exception):
    pass


# Anything that makes one mirror useless, so the next one is worth a try.
_MIRROR_ERRORS = (OSError, http.client.HTTPException, _ChecksumMismatch)


def download_dataset(
    name: str,
    dest: str | Path | None = None,
    mirrors: Sequence[str] | None = None,
    progress: bool | None = None,
) -> Path:
    """Download the four .gz files of dataset `name` into `dest` (default: `cache_dir(name)`); return `dest`.

    Mirrors (default: the dataset's public ones) are tried in order for each file; a file counts as downloaded
    only once its MD5 matches the published one (`DATASETS[name].md5`). Files already in `dest` with the right
    MD5 are kept. A file is written to a temporary name in `dest` and renamed into place once verified, so
    `dest` never holds a partial or unverified file under a real name. `progress` shows a bar on stderr
    (default: when stderr is a terminal).
    """
    spec = _spec(name)
    dest = cache_dir(name) if dest is None else Path(dest).expanduser()
    mirrors = spec.mirrors if mirrors is None else tuple(mirrors)
    progress = sys.stderr.isatty() if progress is None else progress
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"{dest}: cannot create the download folder ({error.strerror or error})") from error
    for role, stem in FILE_NAMES.items():
        target = dest / f"{stem}.gz"
        if _md5_of_file(target) != spec.md5[role]:
            _download_file(name, target, mirrors, spec.md5[role], progress)
    return dest


def _download_file(name: str, target: Path, mirrors: Sequence[str], md5: str, progress: bool) -> None:
    try:
        # atomic_write: the file appears under its real name only once a mirror's bytes matched the MD5.
        with atomic_write(target) as out:
            failures = []
            for mirror in mirrors:
                url = mirror + ("" if mirror.endswith("/") else "/") + target.name
                out.seek(0)
                out.truncate()
                try:
                    _fetch(url, out, md5, progress)
                    break
                except _MIRROR_ERRORS as error:
                    failures.append(f"{url}: {_describe(error)}")
                    if progress:
                        tqdm.write(failures[-1], file=sys.stderr)
            else:
                tried = "; ".join(failures) or "no mirrors configured"
                raise DataError(
                    f"could not download {name}: {target.name} failed from every mirror ({tried}); "
                    + _how_to_provide(name)
                )
    except OSError as error:  # OutputRefused included: a refused target says why in its message
        raise DataError(f"{target.parent}: cannot write the download ({error.strerror or error})") from error


def _fetch(url: str, out: io.BufferedIOBase, md5: str, progress: bool) -> None:
    """Stream `url` into `out`, raising _ChecksumMismatch unless the bytes have the MD5 `md5`."""
    digest = hashlib.md5(usedforsecurity=False)
    request = urllib.request.Request(url, headers={"User-Agent": "scratchnet"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
        length = response.headers.get("Content-Length")
        with tqdm(
            total=int(length) if length and length.isdigit() else None,
            desc=url.rsplit("/", 1)[-1],
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not progress,
        ) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    if digest.hexdigest() != md5:
        raise _ChecksumMismatch(f"md5 {digest.hexdigest()} does not match the published {md5}")


def _md5_of_file(path: Path) -> str | None:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as file:
            while chunk := file.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _describe(error: BaseException) -> str:
    """A short one-line reason for a failed download."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason
    text = (isinstance(error, OSError) and error.strerror) or str(error) or type(error).__name__
    return " ".join(text.split())


# --- loading ------------------------------------------------------------------------------------------------


def load_dataset(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    dtype: str | np.dtype | type = "float32",
    download: bool = True,
) -> Dataset:
    """Find (or, if allowed, download) dataset `name` and load it.

    Images come back as one C-contiguous (n, rows * cols) array of `dtype` (float32 or float64) scaled to
    [0, 1], labels as int64. Raises DataError for anything wrong with the data and ValueError for an
    unsupported dtype. A `data_dir` holding Kaggle's train.csv is read as that layout (network.kaggle), with
    an empty test set.
    """
    _spec(name)
    dtype = _float_dtype(dtype)
    if data_dir is not None and holds_kaggle_csv(data_dir):
        return load_kaggle_train(name, data_dir, dtype)
    folder = find_dataset(name, data_dir)
    if folder is None:
        if not download:
            raise DataError(f"{name}: dataset not found; " + _how_to_provide(name))
        folder = download_dataset(name)
    return _read_dataset(name, folder, dtype)


def _float_dtype(dtype: str | np.dtype | type) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.float32, np.float64):
        raise ValueError(f"unsupported dtype {dtype!r}; use float32 or float64")
    return resolved


def _read_dataset(name: str, folder: Path, dtype: np.dtype) -> Dataset:
    paths = {role: _file_in(folder, stem) for role, stem in FILE_NAMES.items()}
    train_images, train_labels = _read_split(paths["train_images"], paths["train_labels"])
    test_images, test_labels = _read_split(paths["test_images"], paths["test_labels"])
    if train_images.shape[1:] != test_images.shape[1:]:
        raise DataError(
            f"{paths['train_images']} and {paths['test_images']}: image sizes differ "
            f"({'x'.join(map(str, train_images.shape[1:]))} vs {'x'.join(map(str, test_images.shape[1:]))})"
        )
    return Dataset(
        name=name,
        train_images=to_features(train_images, dtype),
        train_labels=train_labels.astype(np.int64),
        test_images=to_features(test_images, dtype),
        test_labels=test_labels.astype(np.int64),
        source=folder,
    )


def _read_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(
            f"{images_path}: expected images (count, rows, columns) but the header has shape {images.shape}"
        )
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected labels (count) but the header has shape {labels.shape}")
    if 0 in images.shape:
        raise DataError(f"{images_path}: holds no pixels (shape {images.shape})")
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    out_of_range = np.flatnonzero(labels >= N_CLASSES)
    if out_of_range.size:
        index = out_of_range[0]
        raise DataError(
            f"{labels_path}: label {labels[index]} at index {index} is outside 0-{N_CLASSES - 1} "
            f"({out_of_range.size} such labels)"
        )
    return images, labels


# --- holding out a validation set ---------------------------------------------------------------------------


def split_validation(
    images: np.ndarray, labels: np.ndarray, size: int | float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Hold out a random part of a training set: ``((train_images, train_labels), (val_images, val_labels))``.

    ``size`` is a count of images (an int) or a fraction of them (a float in (0, 1), at least one image);
    0 holds out nothing. The rows held out are drawn from ``default_rng((seed, 2))``, a stream of its own
    (the network's weights use ``seed``, the trainer's shuffling ``(seed, 1)``), so one seed always gives one
    split; both parts keep the rows in their original order. Raises DataError if no image would be left to
    train on.
    """
    n = len(labels)
    n_val = size if isinstance(size, int) else max(1, round(size * n))
    if n_val >= n:
        raise DataError(
            f"cannot hold out {n_val:,} of {n:,} training images for validation: none would be left to train"
        )
    held_out = np.zeros(n, dtype=bool)
    held_out[np.random.default_rng((seed, 2)).choice(n, n_val, replace=False)] = True
    return (images[~held_out], labels[~held_out]), (images[held_out], labels[held_out])
