"""The ``numba`` backend: the loops of ``kernels.loops``, compiled by Numba.

The matrix products are compiled loops too (``kernels.jit_matmul``), never BLAS: calling ``np.dot``
inside ``@njit`` would only measure the ``numpy`` backend again. Element-wise kernels run on one thread:
at the network's sizes (a 128 x 128 activation is 64 KiB) starting threads costs more than it saves.

Kernels keep the input's dtype: constants are made with ``x.dtype.type(...)`` because a Python float
literal in a kernel is a float64 and would silently widen float32 arithmetic. No kernel here uses
``fastmath``: the network detects divergence through NaN and inf, which fastmath may assume away.

The public functions are thin wrappers: they check the arguments' shapes and dtypes (``kernels.arguments``:
a wrong shape would read or write past an array's end here, killing the interpreter), make inputs
C-contiguous (free when they already are, and it keeps Numba to one compiled layout per dtype) and allocate
``out`` when the caller gave none. A kernel that indexes with a label or a row checks its range itself, one
compare per index, and raises ``ValueError``, which the wrapper words as every backend does.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels import jit_matmul  # importing it also points Numba's cache (kernels/jit_cache.py)
from kernels.arguments import (
    check_bias,
    check_column_sums,
    check_fused_step,
    check_labels,
    check_rows,
    labels_outside,
    product_shape,
)
from kernels.blocking import active_blocking, active_routes
from kernels.interface import FusedUpdate
from kernels.jit_rules import Rule, apply_rule, pack_coefficients, unpack_coefficients
from kernels.jit_tile import element_pointer
from kernels.pixels import PIXEL_DTYPE, PIXEL_MAX

name = "numba"
full_size = True


def describe(dtype: np.dtype) -> str:
    """The blocking the products use in ``dtype`` (``kernels.blocking``), and whether its thresholds were
    measured on this machine (``python -m kernels.tune``)."""
    blocking = active_blocking(dtype)
    how_to_tune = "; python -m kernels.tune measures them" if blocking.source == "analytic" else ""
    return f"blocking {blocking.describe()}{how_to_tune}"


def _contiguous(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x)


def _out(out: np.ndarray | None, shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
    return np.empty(shape, dtype=like.dtype) if out is None else out


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, product_shape("matmul", a, b, out), a)
    jit_matmul.matmul_nn(_contiguous(a), _contiguous(b), out, active_routes(out.dtype))
    return out


def matmul_tn(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, product_shape("matmul_tn", a, b, out), a)
    jit_matmul.matmul_tn(_contiguous(a), _contiguous(b), out, active_routes(out.dtype))
    return out


def matmul_nt(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _out(out, product_shape("matmul_nt", a, b, out), a)
    jit_matmul.matmul_nt(_contiguous(a), _contiguous(b), out, active_routes(out.dtype))
    return out


@njit(cache=True)
def _add_bias(z, b, out):
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            out[i, j] = z[i, j] + b[j]


def add_bias(z: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_bias(z, b, out)
    out = _out(out, z.shape, z)
    _add_bias(_contiguous(z), _contiguous(b), out)
    return out


@njit(cache=True)
def _relu(z, out):
    zero = z.dtype.type(0)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            x = z[i, j]
            out[i, j] = zero if x < zero else x  # not "x if x > 0": NaN must pass through


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("relu", z, out)
    out = _out(out, z.shape, z)
    _relu(_contiguous(z), out)
    return out


@njit(cache=True)
def _relu_backward(grad, a, out):
    zero = grad.dtype.type(0)
    for i in range(grad.shape[0]):
        for j in range(grad.shape[1]):
            out[i, j] = grad[i, j] if a[i, j] > zero else zero


def relu_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("relu_backward", grad, out, a=a)
    if out is grad:  # in place: LLVM leaves a loop that writes over an input scalar; the mask it vectorises
        mask_inactive(grad, _contiguous(a))
        return grad
    out = _out(out, grad.shape, grad)
    _relu_backward(_contiguous(grad), _contiguous(a), out)
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
    check_rows("softmax", logits, out)
    out = _out(out, logits.shape, logits)
    _softmax(_contiguous(logits), out)
    return out


@njit(cache=True, inline="always")
def _check_indices(indices, size):
    """Raise ValueError unless every index is in 0..size-1: one unsigned compare per index, a negative one
    being as large as an unsigned number gets."""
    bound = np.uint64(size)
    for i in range(indices.shape[0]):
        if np.uint64(indices[i]) >= bound:
            raise ValueError("index out of range")


@njit(cache=True)
def _softmax_xent(z, labels, out):
    """Row by row: the loss term, then ``(softmax - onehot) / m`` into out (which may be z); the mean loss.
    Labels out of range raise ValueError before anything is written."""
    _check_indices(labels, z.shape[1])
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
    check_rows("softmax_xent", logits, out)
    check_labels("softmax_xent", labels, len(logits))
    out = _out(out, logits.shape, logits)
    try:
        loss = _softmax_xent(_contiguous(logits), _labels(labels), out)
    except ValueError:  # the kernel's range check
        raise labels_outside("softmax_xent", labels, logits.shape[1]) from None
    return out, float(loss)


def _labels(labels: np.ndarray) -> np.ndarray:
    """Labels as the kernels take them: int64, so that any integer dtype runs the one compiled kernel."""
    return np.ascontiguousarray(labels, np.int64)


@njit(cache=True)
def _column_sums(g, out):
    out[:] = 0
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            out[j] += g[i, j]


def column_sums(g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_column_sums(g, out)
    out = _out(out, (g.shape[1],), g)
    _column_sums(_contiguous(g), out)
    return out


# --- optional: the batch's rows gathered on every core -----------------------------------------------------
# A batch of random rows of a data set larger than the caches waits on memory row by row; two cores keep
# twice the rows in flight. Below the blocking's ``gather_parallel_min_bytes`` waking the other cores costs
# more than it saves, and NumPy's take copies faster than a compiled loop on one core. A data set of uint8
# pixels is scaled on the way, by kernels.pixels' arithmetic: the pixel converted to the batch's dtype
# (exact), then one correctly rounded division by 255 in that dtype, as NumPy's division does; below the
# threshold that is a compiled loop on one core: one pass that converts as it copies, where NumPy would take
# into a temporary and divide in a second call.


@njit(cache=True, parallel=True)
def gather_rows_parallel(source, rows, out):
    """``out[i] = source[rows[i]]`` on every core: ``take_rows``' route for a large batch. A row out of range
    raises ValueError before anything is read."""
    _check_indices(rows, source.shape[0])
    for i in prange(len(rows)):
        r = rows[i]
        for j in range(source.shape[1]):
            out[i, j] = source[r, j]


@njit(cache=True, inline="always")
def _scale_pixel_row(source, r, out, i):
    """``out[i] = source[r] / 255`` in ``out``'s dtype (kernels.pixels' arithmetic)."""
    top = out.dtype.type(PIXEL_MAX)
    for j in range(source.shape[1]):
        out[i, j] = out.dtype.type(source[r, j]) / top


@njit(cache=True)
def gather_pixels(source, rows, out):
    """``out[i] = source[rows[i]] / 255`` in ``out``'s dtype on one core: ``take_rows``' route for a small
    batch of uint8 pixels. A row out of range raises ValueError before anything is read."""
    _check_indices(rows, source.shape[0])
    for i in range(len(rows)):
        _scale_pixel_row(source, rows[i], out, i)


@njit(cache=True, parallel=True)
def gather_pixels_parallel(source, rows, out):
    """``gather_pixels`` on every core: ``take_rows``' route for a large batch of uint8 pixels."""
    _check_indices(rows, source.shape[0])
    for i in prange(len(rows)):
        _scale_pixel_row(source, rows[i], out, i)


def take_rows(source: np.ndarray, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    parallel = out.nbytes >= active_blocking(out.dtype).gather_parallel_min_bytes
    if source.dtype == PIXEL_DTYPE:
        gather = gather_pixels_parallel if parallel else gather_pixels
    elif parallel:
        gather = gather_rows_parallel
    else:
        return source.take(rows, 0, out, "clip")  # positional: the keyword call costs more at a few rows
    try:
        gather(source, rows, out)
    except ValueError:  # the kernel's range check
        raise ValueError(f"take_rows: rows must be in 0..{len(source) - 1}") from None
    return out


# --- optional: the whole training step in one compiled call -----------------------------------------------
# At small batches the per-operation path spends its time in Python dispatch and in passes over
# weight-sized arrays (the gradient, then each term of the optimizer's update). One compiled step does
# neither: it runs forward, loss and backward without returning to Python and updates each layer as soon
# as its gradient exists, by the optimizer's rule (``jit_rules``). The weight gradient is not stored: each
# of its tiles updates its tile of the weights straight from the product's registers
# (``jit_matmul.matmul_tn_update``).

fused_rules = ("sgd", "momentum", "adam")
# each rule's ``Rule`` as an int: Numba takes ~12 us to type an IntEnum member, at every call. Public:
# what ``jit_matmul.matmul_tn_update`` takes for a rule, for callers that time it alone (bench/)
RULE_IDS = {rule: int(Rule[rule.upper()]) for rule in fused_rules}


@njit(cache=True)
def _bias_relu(z, b):
    zero = z.dtype.type(0)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            x = z[i, j] + b[j]
            z[i, j] = zero if x < zero else x


@njit(cache=True)
def mask_inactive(grad: np.ndarray, a: np.ndarray) -> None:
    """``grad`` zeroed in place where ``a`` (the ReLU's input or output) is not positive: the ReLU's backward
    pass as the fused step runs it."""
    zero = grad.dtype.type(0)
    for i in range(grad.shape[0]):
        for j in range(grad.shape[1]):
            if not a[i, j] > zero:
                grad[i, j] = zero


MISFIT = "fused_step: an argument's shape does not fit the others"


@njit(cache=True)
def _misfit(activations, deltas, params, bias_grads, labels):
    """Whether an array of the fused step does not fit the others: the input and the first layer, each
    layer and the one before, each buffer and its layer, one label per row. Compiled, a few compares per
    layer (in Python, ``arguments.check_fused_step`` costs microseconds of a step; it words a misfit)."""
    rows = activations[0].shape[0]
    if labels.shape[0] != rows or activations[0].shape[1] != params[0][0].shape[0]:
        return True
    for layer in range(len(params)):
        W, b = params[layer]
        n = W.shape[1]
        if deltas[layer].shape != (rows, n) or bias_grads[layer].shape[0] != n or b.shape[0] != n:
            return True
        if layer + 1 < len(params):
            if activations[layer + 1].shape != (rows, n) or params[layer + 1][0].shape[0] != n:
                return True
    return False


@njit(cache=True)
def _fused_step(rule, activations, deltas, params, states, bias_grads, labels, packed_coefficients, routes):
    """``packed_coefficients``: the rule's coefficients as ``jit_rules.pack_coefficients`` makes them;
    ``routes``: the products' thresholds (``kernels.blocking.routes``). Arrays that do not fit raise
    ``MISFIT``; labels out of range, ``_softmax_xent``'s error; both before anything is written."""
    if _misfit(activations, deltas, params, bias_grads, labels):
        raise ValueError(MISFIT)
    bias_coefficients = unpack_coefficients(packed_coefficients, decay=False)  # biases are not decayed
    layers = len(params)
    for layer in range(layers):  # forward: activations[l + 1] = relu(activations[l] @ W + b)
        W, b = params[layer]
        last = layer == layers - 1
        z = deltas[layer] if last else activations[layer + 1]
        jit_matmul.matmul_nn(activations[layer], W, z, routes)
        if not last:
            _bias_relu(z, b)
    logits = deltas[layers - 1]
    _add_bias(logits, params[layers - 1][1], logits)
    loss = _softmax_xent(logits, labels, logits)
    if not np.isfinite(loss):
        return loss  # diverged: leave every weight as it was
    for layer in range(layers - 1, -1, -1):
        W, b = params[layer]
        W_state1, W_state2, b_state1, b_state2 = states[layer]
        delta = deltas[layer]
        if layer > 0:  # the input gradient needs this layer's weights before they are updated
            jit_matmul.matmul_nt(delta, W, deltas[layer - 1], routes)
            mask_inactive(deltas[layer - 1], activations[layer])
        jit_matmul.matmul_tn_update(
            activations[layer], delta, W, rule, W_state1, W_state2, packed_coefficients, routes
        )
        db = bias_grads[layer]
        _column_sums(delta, db)
        apply_rule(
            rule,
            element_pointer(b, 0),
            element_pointer(db, 0),
            element_pointer(b_state1, 0),
            element_pointer(b_state2, 0),
            b.size,
            bias_coefficients,
        )
    return loss


def _two_states(param: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A rule's state arrays made two, so that every rule compiles to one signature: the missing ones are
    the parameter itself, which a rule never reads as state."""
    return (*state, *(param,) * (2 - len(state)))


# (the optimizer's state list, its (W_state1, W_state2, b_state1, b_state2) per layer): an optimizer hands
# the same list every step, so the tuples are made once per training run, not once per step
_last_states: tuple[list, tuple] = ([], ())


def _per_layer(state: list[tuple[np.ndarray, ...]], params: list[tuple[np.ndarray, np.ndarray]]) -> tuple:
    global _last_states
    if _last_states[0] is not state:
        flat = iter(state)  # in the order of the network's flattened params
        per_layer = tuple((*_two_states(W, next(flat)), *_two_states(b, next(flat))) for W, b in params)
        _last_states = (state, per_layer)
    return _last_states[1]


def fused_step(
    update: FusedUpdate,
    activations: tuple[np.ndarray, ...],
    deltas: tuple[np.ndarray, ...],
    params: list[tuple[np.ndarray, np.ndarray]],
    bias_grads: list[np.ndarray],
    labels: np.ndarray,
) -> float:
    dtype = params[0][0].dtype
    X = activations[0]
    # what would compile another specialisation or index past a tuple, checked here; the shapes, compiled
    # (``_misfit``); ``check_fused_step`` words what is wrong
    typed = (
        len(activations) == len(deltas) == len(params) == len(bias_grads)
        and isinstance(X, np.ndarray)
        and X.ndim == 2
        and X.dtype == dtype
        and isinstance(labels, np.ndarray)
        and labels.ndim == 1
        and labels.dtype.kind in "iu"
    )
    if not typed:
        check_fused_step(activations, deltas, params, bias_grads, labels)
    try:
        loss = _fused_step(
            RULE_IDS[update.rule],
            # the input in any layout; the rest are the network's own C-contiguous buffers
            (_contiguous(activations[0]), *activations[1:]),
            tuple(deltas),
            tuple(params),  # (W, b) pairs, as the network holds them: one tuple to pass, not one per kind
            _per_layer(update.state, params),
            tuple(bias_grads),
            _labels(labels),
            pack_coefficients(update.coefficients, dtype),
            active_routes(dtype),
        )
    except ValueError as error:  # raised before any weight is updated
        if str(error) == MISFIT:
            check_fused_step(activations, deltas, params, bias_grads, labels)
            raise
        raise labels_outside("fused_step", labels, params[-1][0].shape[1]) from None
    return float(loss)
