"""The ``numpy`` backend: vectorised NumPy, matrix products through BLAS.

Every operation writes through ``out=`` so that a caller holding buffers allocates nothing per step
(apart from a few row-sized temporaries). The transposed products pass transposed *views* to
``np.matmul``: BLAS reads them in place, nothing is copied.
"""

from __future__ import annotations

import numpy as np

from kernels.arguments import (
    check_bias,
    check_column_sums,
    check_label_range,
    check_labels,
    check_rows,
    product_shape,
)

name = "numpy"
full_size = True


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    product_shape("matmul", a, b, out)
    return np.matmul(a, b, out=out)


def matmul_tn(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    product_shape("matmul_tn", a, b, out)
    return np.matmul(a.T, b, out=out)


def matmul_nt(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    product_shape("matmul_nt", a, b, out)
    return np.matmul(a, b.T, out=out)


def add_bias(z: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_bias(z, b, out)
    return np.add(z, b, out=out, order="C")


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("relu", z, out)
    return np.maximum(z, 0, out=out, order="C")  # maximum (unlike fmax) propagates NaN


def relu_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("relu_backward", grad, out, a=a)
    return np.multiply(grad, a > 0, out=out, order="C")


def softmax(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("softmax", logits, out)
    out = np.subtract(logits, logits.max(axis=1, keepdims=True), out=out, order="C")
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def softmax_xent(
    logits: np.ndarray, labels: np.ndarray, out: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    check_rows("softmax_xent", logits, out)
    check_labels("softmax_xent", labels, len(logits))
    check_label_range("softmax_xent", labels, logits.shape[1])
    # one exp pass serves both the loss and the gradient: computing them apart cost 11 µs more per
    # batch-128 step, almost all of it NumPy's per-call overhead on these (128 x 10) arrays
    rows = np.arange(len(labels))
    out = np.subtract(logits, logits.max(axis=1, keepdims=True), out=out, order="C")
    label_logits = out[rows, labels]  # z[label] - max, taken before out is overwritten
    np.exp(out, out=out)
    sums = out.sum(axis=1)
    loss = float((np.log(sums) - label_logits).mean())
    out /= sums[:, None]
    out[rows, labels] -= 1
    out /= len(labels)
    return out, loss


def column_sums(g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_column_sums(g, out)
    return np.sum(g, axis=0, out=out)
