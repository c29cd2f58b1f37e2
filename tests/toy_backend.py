"""The ``toy`` backend: a fourth backend, kept outside ``kernels/``, for ``tests/test_adding_a_backend.py``.

It fulfils the whole contract of :mod:`kernels.interface` but is written differently from the ``numpy``
backend (products and sums through ``np.einsum``, masks through ``np.where``, the result computed whole and
then stored), so that the tests it passes check the contract, not a copy of ``kernels.vectorized``.
"""

from __future__ import annotations

import numpy as np

name = "toy"
full_size = True  # einsum is fast enough for the sweeps: the bench must list it there too


def _store(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``result`` as the contract wants it: in ``out`` if given, else C-contiguous."""
    if out is None:
        return np.ascontiguousarray(result)
    out[...] = result
    return out


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.einsum("ik,kj->ij", a, b, out=out, order="C")


def matmul_tn(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.einsum("ki,kj->ij", a, b, out=out, order="C")


def matmul_nt(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.einsum("ik,jk->ij", a, b, out=out, order="C")


def add_bias(z: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return _store(z + b[np.newaxis, :], out)


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return _store(np.where(z < 0, z.dtype.type(0), z), out)  # NaN < 0 is false: NaN stays


def relu_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return _store(np.where(a > 0, grad, grad.dtype.type(0)), out)


def _exp_shifted(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``z - max(z)`` per row and its exponential: the overflow-free start of both softmax functions."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted, np.exp(shifted)


def softmax(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    _, e = _exp_shifted(logits)
    return _store(e / np.einsum("ij->i", e)[:, np.newaxis], out)


def softmax_xent(
    logits: np.ndarray, labels: np.ndarray, out: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    m, n = logits.shape
    shifted, e = _exp_shifted(logits)
    sums = np.einsum("ij->i", e)
    loss = float(np.mean(np.log(sums) - shifted[np.arange(m), labels]))
    onehot = np.eye(n, dtype=logits.dtype)[labels]
    return _store((e / sums[:, np.newaxis] - onehot) / logits.dtype.type(m), out), loss


def column_sums(g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.einsum("ij->j", g, out=out)
