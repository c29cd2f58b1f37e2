"""Load a data set, and hold out part of its training set for validation.

`load_dataset` finds a data set's four IDX files (network.sources), downloads them if they are nowhere
(network.download), reads them (network.idx) and returns the images as one (n, rows * cols) array of uint8
pixels and the labels as int64; `split_validation` holds out the validation set, by index.
"""

from pathlib import Path

import numpy as np

from network.dataset import N_CLASSES, DataError, Dataset, Subset
from network.download import download_dataset
from network.idx import read_idx
from network.kaggle import kaggle_layout, load_kaggle
from network.sources import FILE_NAMES, dataset_spec, file_in, find_dataset, how_to_provide


def load_dataset(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    download: bool = True,
) -> Dataset:
    """Find (or, if allowed, download) dataset `name` and load it.

    Images come back as one C-contiguous (n, rows * cols) array of uint8 pixels, as the files hold them
    (scaled to the network's dtype a batch at a time: ``kernels.pixels``), labels as int64. Raises
    DataError for anything wrong with the data. A `data_dir` holding one of Kaggle's CSV layouts is read
    as that layout (network.kaggle); the digit recognizer's has an empty test set.
    """
    dataset_spec(name)
    if data_dir is not None and (layout := kaggle_layout(data_dir)) is not None:
        return load_kaggle(name, data_dir, layout)
    folder = find_dataset(name, data_dir)
    if folder is None:
        if not download:
            raise DataError(f"{name}: dataset not found; " + how_to_provide(name))
        folder = download_dataset(name)
    return _read_dataset(name, folder)


def _read_dataset(name: str, folder: Path) -> Dataset:
    paths = {role: file_in(folder, stem) for role, stem in FILE_NAMES.items()}
    train_images, train_labels = _read_split(paths["train_images"], paths["train_labels"])
    test_images, test_labels = _read_split(paths["test_images"], paths["test_labels"])
    if train_images.shape[1:] != test_images.shape[1:]:
        raise DataError(
            f"{paths['train_images']} and {paths['test_images']}: image sizes differ "
            f"({'x'.join(map(str, train_images.shape[1:]))} vs {'x'.join(map(str, test_images.shape[1:]))})"
        )
    return Dataset(
        name=name,
        # (n, rows, cols) read whole into one array: the reshape is a view
        train_images=train_images.reshape(len(train_images), -1),
        train_labels=train_labels.astype(np.int64),
        test_images=test_images.reshape(len(test_images), -1),
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


def split_validation(
    images: np.ndarray, labels: np.ndarray, size: int | float, seed: int
) -> tuple[Subset, Subset]:
    """Hold out a random part of a training set: ``(train, validation)``, each a :class:`Subset` of
    ``images`` by index (no image is copied; each part's labels are its own).

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
    if n_val == 0:  # the whole set, read in place: a trainer gathers its batches without an index
        return Subset(images, labels), Subset(images, labels[:0], np.empty(0, np.intp))
    held_out = np.zeros(n, dtype=bool)
    held_out[np.random.default_rng((seed, 2)).choice(n, n_val, replace=False)] = True
    train_rows, val_rows = np.flatnonzero(~held_out), np.flatnonzero(held_out)
    return Subset(images, labels[train_rows], train_rows), Subset(images, labels[val_rows], val_rows)
