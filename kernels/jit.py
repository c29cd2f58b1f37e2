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

from kernels import jit_matmul  # importing it also points Numba's cache (kernels/jit_cache.py)

name = "numba"
full_size = True


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
def _softmax_xent(z, labels, out):
    """Row by row: the loss term, then ``(softmax - onehot) / m`` into out (which may be z); the mean loss."""
    one = z.dtype.type(1)
    batch = z.dtype.type(z.shape[0])
    loss = z.dtype.type(0)
    for i in range(z.shape[0]):
        largest = _row_max(z, i)
        label = labels[i]
        label_logit = z[i, label] - largest  # read before out, which may be z, is written
        total = z.dtype.type(0)
        for j in range(z.shape[1]):
            e = np.exp(z[i, j] - largest)
            total += e
            out[i, j] = e
        loss += np.log(total) - label_logit  # max first: large logits stay exact
        for j in range(z.shape[1]):
            p = out[i, j] / total
            out[i, j] = (p - one if j == label else p) / batch
    return loss / batch


def softmax_xent(
    logits: np.ndarray, labels: np.ndarray, out: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    out = _out(out, logits.shape, logits)
    loss = _softmax_xent(_c(logits), _c(labels), out)
    return out, float(loss)


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


# --- optional: the whole training step in one compiled call -----------------------------------------------
# At small batches the per-operation path spends its time in Python dispatch and in passes over
# weight-sized arrays (the gradient, then each term of the update). One compiled step does neither: it
# runs forward, loss and backward without returning to Python and updates each layer as soon as its
# gradient exists. The weight gradient is not stored: each of its tiles updates its tile of the weights
# and velocity straight from the product's registers (``jit_matmul.matmul_tn_momentum``; only batches
# above ``jit_matmul.KC_MAX`` go through a temporary gradient), and at a batch of one the gradient is an
# outer product made where it is used, which is faster there than the one-step product.


@njit(cache=True)
def _bias_relu(z, b):
    zero = z.dtype.type(0)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            x = z[i, j] + b[j]
            z[i, j] = zero if x < zero else x


@njit(cache=True)
def _mask_inactive(grad, a):
    zero = grad.dtype.type(0)
    for i in range(grad.shape[0]):
        for j in range(grad.shape[1]):
            if not a[i, j] > zero:
                grad[i, j] = zero


@njit(cache=True)
def _column_sums_momentum_update(delta, b, velocity, grad, lr, momentum, weight_decay):
    _column_sums(delta, grad)
    jit_matmul.momentum_update(b, grad, velocity, lr, momentum, weight_decay * 0)  # biases: no decay


@njit(cache=True)
def _outer_momentum_update(a, delta, w, velocity, lr, momentum, weight_decay):
    """The update of ``jit_matmul.momentum_update`` for a batch of one, where ``g = a.T @ delta`` is the outer
    product of two rows: each ``g[i, j]`` is made where it is used, and the gradient is never stored."""
    for i in range(w.shape[0]):
        a_i = a[0, i]
        for j in range(w.shape[1]):
            v = momentum * velocity[i, j] + (a_i * delta[0, j] + w[i, j] * weight_decay)
            velocity[i, j] = v
            w[i, j] -= lr * v


@njit(cache=True)
def _momentum_step(activations, deltas, params, bias_grads, velocities, labels, lr, momentum, weight_decay):
    layers = len(params)
    for layer in range(layers):  # forward: activations[l + 1] = relu(activations[l] @ W + b)
        W, b = params[layer]
        last = layer == layers - 1
        z = deltas[layer] if last else activations[layer + 1]
        jit_matmul.matmul_nn(activations[layer], W, z)
        if not last:
            _bias_relu(z, b)
    logits = deltas[layers - 1]
    _add_bias(logits, params[layers - 1][1], logits)
    loss = _softmax_xent(logits, labels, logits)
    if not np.isfinite(loss):
        return loss  # diverged: leave every weight as it was
    for layer in range(layers - 1, -1, -1):
        W, b = params[layer]
        vW, vb = velocities[layer]
        delta = deltas[layer]
        if layer > 0:  # the input gradient needs this layer's weights before they are updated
            jit_matmul.matmul_nt(delta, W, deltas[layer - 1])
            _mask_inactive(deltas[layer - 1], activations[layer])
        if delta.shape[0] == 1:
            _outer_momentum_update(activations[layer], delta, W, vW, lr, momentum, weight_decay)
        else:
            jit_matmul.matmul_tn_momentum(activations[layer], delta, W, vW, lr, momentum, weight_decay)
        _column_sums_momentum_update(delta, b, vb, bias_grads[layer], lr, momentum, weight_decay)
    return loss


def momentum_step(
    activations: tuple[np.ndarray, ...],
    deltas: tuple[np.ndarray, ...],
    params: list[tuple[np.ndarray, np.ndarray]],
    grads: list[tuple[np.ndarray, np.ndarray]],
    velocities: list[tuple[np.ndarray, np.ndarray]],
    labels: np.ndarray,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> float:
    dtype = params[0][0].dtype.type
    loss = _momentum_step(
        (_c(activations[0]), *activations[1:]),  # the rest are the network's own C-contiguous buffers
        tuple(deltas),
        tuple(params),  # (W, b) pairs, as the network holds them: one tuple to pass, not one per kind
        tuple(db for _, db in grads),  # the weight gradients are never stored: their tiles update W
        tuple(velocities),
        _c(labels),
        dtype(lr),
        dtype(momentum),
        dtype(weight_decay),
    )
    return float(loss)
