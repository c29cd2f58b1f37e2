"""The ``numba`` backend: the loops of ``kernels.loops``, compiled by Numba.

The matrix products are compiled loops too (``kernels.jit_matmul``), never BLAS: calling ``np.dot``
inside ``@njit`` would only measure the ``numpy`` backend again. Element-wise kernels run on one thread:
at the network's sizes (a 128 x 128 activation is 64 KiB) starting threads costs more than it saves.

Kernels keep the input's dtype: constants are made with ``x.dtype.type(...)`` because a Python float
literal in a kernel is a float64 and would silently widen float32 arithmetic. No kernel here uses
``fastmath``: the network detects divergence through NaN and inf, which fastmath may assume away.

The public functions are thin wrappers: they make inputs C-contiguous (free when they already are, and
it keeps Numba to one compiled layout per dtype) and allocate ``out`` when the caller gave none.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels import jit_matmul

name = "numba"


def _c(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x)


def _out(out: np.ndarray | None, shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
    return np.empty(shape, dtype=like.dtype) if out is None else out


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, (a.shape[0], b.shape[1]), a)
    jit_matmul.matmul_nn(_c(a), _c(b), out)
    return out


def matmul_tn(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, (a.shape[1], b.shape[1]), a)
    jit_matmul.matmul_tn(_c(a), _c(b), out)
    return out


def matmul_nt(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, (a.shape[0], b.shape[0]), a)
    jit_matmul.matmul_nt(_c(a), _c(b), out)
    return out


@njit(cache=True)
def _add_bias(z, b, out):
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            out[i, j] = z[i, j] + b[j]


def add_bias(z: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, z.shape, z)
    _add_bias(_c(z), _c(b), out)
    return out


@njit(cache=True)
def _relu(z, out):
    zero = z.dtype.type(0)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            x = z[i, j]
            out[i, j] = zero if x < zero else x  # not "x if x > 0": NaN must pass through


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, z.shape, z)
    _relu(_c(z), out)
    return out


@njit(cache=True)
def _relu_backward(grad, a, out):
    zero = grad.dtype.type(0)
    for i in range(grad.shape[0]):
        for j in range(grad.shape[1]):
            out[i, j] = grad[i, j] if a[i, j] > zero else zero


def relu_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, grad.shape, grad)
    _relu_backward(_c(grad), _c(a), out)
    return out


@njit(cache=True, inline="always")
def _row_max(z, i):
    largest = z[i, 0]
    for j in range(z.shape[1]):
        x = z[i, j]
        if x > largest or x != x:  # x != x: NaN wins, as in NumPy
            largest = x
    return largest


@njit(cache=True)
def _softmax(z, out):
    for i in range(z.shape[0]):
        largest = _row_max(z, i)
        total = z.dtype.type(0)
        for j in range(z.shape[1]):
            e = np.exp(z[i, j] - largest)
            out[i, j] = e
            total += e
        for j in range(z.shape[1]):
            out[i, j] /= total


def softmax(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, logits.shape, logits)
    _softmax(_c(logits), out)
    return out


@njit(cache=True)
def _cross_entropy_sum(z, labels):
    loss = z.dtype.type(0)
    for i in range(z.shape[0]):
        largest = _row_max(z, i)
        sum_exp = z.dtype.type(0)
        for j in range(z.shape[1]):
            sum_exp += np.exp(z[i, j] - largest)
        loss += np.log(sum_exp) - (z[i, labels[i]] - largest)  # max first: large logits stay exact
    return loss


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(_cross_entropy_sum(_c(logits), _c(labels))) / len(labels)


@njit(cache=True)
def _softmax_xent_backward(probs, labels, out):
    one = probs.dtype.type(1)
    batch = probs.dtype.type(probs.shape[0])
    for i in range(probs.shape[0]):
        for j in range(probs.shape[1]):
            target = one if j == labels[i] else one - one
            out[i, j] = (probs[i, j] - target) / batch


def softmax_xent_backward(probs: np.ndarray, labels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, probs.shape, probs)
    _softmax_xent_backward(_c(probs), _c(labels), out)
    return out


@njit(cache=True)
def _column_sums(g, out):
    out[:] = 0
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            out[j] += g[i, j]


def column_sums(g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, (g.shape[1],), g)
    _column_sums(_c(g), out)
    return out
