"""The ``numpy`` backend: vectorised NumPy, matrix products through BLAS.

Every operation writes through ``out=`` so that a caller holding buffers allocates nothing per step
(apart from a few row-sized temporaries). The transposed products pass transposed *views* to
``np.matmul``: BLAS reads them in place, nothing is copied.
"""

from __future__ import annotations

import numpy as np

name = "numpy"


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.matmul(a, b, out=out)


def matmul_tn(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.matmul(a.T, b, out=out)


def matmul_nt(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.matmul(a, b.T, out=out)


def add_bias(z: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.add(z, b, out=out, order="C")


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(z, 0, out=out, order="C")  # maximum (unlike fmax) propagates NaN


def relu_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.multiply(grad, a > 0, out=out, order="C")


def softmax(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.subtract(logits, logits.max(axis=1, keepdims=True), out=out, order="C")
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    # log(sum exp(z - max)) - (z[label] - max): subtracting the max first keeps large logits exact
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum_exp = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_sum_exp - shifted[np.arange(len(labels)), labels]))


def softmax_xent_backward(probs: np.ndarray, labels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        out = probs.copy(order="C")
    elif out is not probs:
        np.copyto(out, probs)
    out[np.arange(len(labels)), labels] -= 1
    out /= len(labels)
    return out


def column_sums(g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.sum(g, axis=0, out=out)
