"""Arrays that start on a cache line, for everything a training step writes from several threads.

The numba backend splits a product's columns between its threads at whole register tiles
(``kernels.jit_matmul``), which are whole cache lines of each row only when the row starts on one. NumPy
starts a large array 16 bytes into a line, so the line at every split would be written by both cores in turn
(false sharing), the weights and each optimizer state array alike.
"""

from __future__ import annotations

import numpy as np

CACHE_LINE = 64  # bytes: x86-64 and the common ARM cores


def empty(shape: int | tuple[int, ...], dtype: np.dtype | str) -> np.ndarray:
    """An uninitialised C-contiguous array whose first element starts a cache line (unless it has none)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + CACHE_LINE, np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start : start + size].view(dtype).reshape(shape)


def empty_like(a: np.ndarray) -> np.ndarray:
    return empty(a.shape, a.dtype)


def zeros(shape: int | tuple[int, ...], dtype: np.dtype | str) -> np.ndarray:
    out = empty(shape, dtype)
    out[...] = 0
    return out


def zeros_like(a: np.ndarray) -> np.ndarray:
    return zeros(a.shape, a.dtype)


def copy(a: np.ndarray, dtype: np.dtype | str | None = None) -> np.ndarray:
    """``a`` (cast to ``dtype``, as ``astype`` rounds) in a new aligned array."""
    out = empty(a.shape, a.dtype if dtype is None else dtype)
    out[...] = a
    return out
