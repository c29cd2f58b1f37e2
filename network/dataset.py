"""What every layout of data on disk loads into: a :class:`Dataset`, or a :class:`DataError`.

``network.idx`` reads the IDX files, ``network.kaggle`` Kaggle's CSV files; both build on this module and on
nothing of each other's, and ``network.data`` loads a data set from either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

N_CLASSES = 10


class DataError(Exception):
    """A user-facing problem with the data: the message is one line that names the file and the problem."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: images as (n, rows * cols) uint8 pixels in 0..255, labels as int64 in 0..9.

    The pixels stay uint8: every batch gather scales its rows to the network's dtype
    (``kernels.pixels``), and ``network.MLP`` scales uint8 inputs the same way, so nothing holds the
    data set as floats (four or eight times the bytes)."""

    name: str
    train_images: np.ndarray = field(repr=False)
    train_labels: np.ndarray = field(repr=False)
    test_images: np.ndarray = field(repr=False)
    test_labels: np.ndarray = field(repr=False)
    source: Path

    @property
    def n_train(self) -> int:
        return self.train_images.shape[0]

    @property
    def n_test(self) -> int:
        return self.test_images.shape[0]

    @property
    def n_features(self) -> int:
        return self.train_images.shape[1]


class Subset(NamedTuple):
    """Some rows of a set of images, held by index: ``images[rows]`` with ``labels`` (one per row of
    ``rows``, in its order); ``rows=None`` is every row of ``images``. The images are the whole set's
    array, not a copy: a validation split costs an index, 8 bytes a row, where copying would cost the
    row's pixels (784 bytes, 3,136 as float32). The labels are the subset's own: 8 bytes a row too, and
    a trainer reads them in order."""

    images: np.ndarray
    labels: np.ndarray
    rows: np.ndarray | None = None
