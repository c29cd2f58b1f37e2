"""What every layout of data on disk loads into: a :class:`Dataset`, or a :class:`DataError`.

``network.idx`` reads the IDX files, ``network.kaggle`` Kaggle's CSV files; both build on this module and on
nothing of each other's, and ``network.data`` loads a data set from either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

N_CLASSES = 10


class DataError(Exception):
    """A user-facing problem with the data: the message is one line that names the file and the problem."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: images as (n, rows * cols) arrays scaled to [0, 1], labels as int64 in 0..9."""

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


def to_features(images: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """(n, rows, cols) uint8 -> C-contiguous (n, rows * cols) in [0, 1], computed in `dtype` throughout."""
    # Division rather than multiplication by 1/255: it is correctly rounded, so 255 maps to exactly 1.0.
    return np.divide(images.reshape(len(images), -1), dtype.type(255), dtype=dtype)
