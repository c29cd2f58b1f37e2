"""The ``jax`` backend: the vectorised form of ``kernels.vectorized``, compiled by XLA through ``jax.jit``.

Where Numba compiles loops written by hand, here the maths is written once as whole-array ``jax.numpy``
expressions and XLA decides how to loop, fuse and vectorise. Each operation is one jitted function (JAX
compiles it once per shape and dtype, on first use) behind a wrapper that checks the arguments
(``kernels.arguments``: jax would raise ``TypeError``, or clamp an index, where the contract says
``ValueError``), runs it and copies the result into ``out``: the contract speaks NumPy arrays, and an XLA
result lives in XLA's own buffer. The fused training step is one jitted function too: forward, loss,
backward and every parameter's update, so that a step costs one call rather than one per operation.

It is an optional backend: ``pip install -e ".[jax]"``. Importing this module switches on JAX's 64-bit
mode for the whole process (``jax_enable_x64``): without it JAX computes a float64 array in float32. The
float32 arithmetic is unchanged by it, since every array here is float32 or float64 already and a Python
number inside a jitted function is weakly typed (it takes the array's dtype).

XLA's arithmetic is not NumPy's to the bit, and the contract does not ask it to be (the tests hold every
operation to the rounding-error bound of the float64 reference): XLA on the CPU contracts a product and a
sum into one multiply-add, rounded once, and divides by a constant (the batch size in the loss and its
gradient) by multiplying by its rounded reciprocal. Only the fused step must compute what the composed
step computes, bit for bit, and where the composed step's NumPy optimizer rounds a product apart from a
sum, ``_rounded`` makes XLA do so too.
"""

from __future__ import annotations

import functools
import math

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ImportError as err:  # the registry turns this into its one line; the tests skip, quoting it
    raise ImportError(f'{err}: the jax backend is an optional extra, pip install -e ".[jax]"') from err

from kernels.arguments import (
    check_bias,
    check_column_sums,
    check_fused_step,
    check_label_range,
    check_labels,
    check_rows,
    product_shape,
)
from kernels.interface import FusedUpdate

jax.config.update("jax_enable_x64", True)

name = "jax"
full_size = True
own_thread_pool = True


def describe(dtype: np.dtype) -> str:
    """The versions of JAX and its compiler, and the thread pool that XLA keeps (not the one that
    ``--threads`` sets: XLA sizes its own from the cores when it starts)."""
    return f"jax {jax.__version__}, XLA on {jax.devices()[0].platform}, its own thread pool"


def _result(result: jax.Array, out: np.ndarray | None) -> np.ndarray:
    """The contract's result: written into ``out`` when given, else a new array. ``np.array`` copies:
    ``np.asarray`` of a jax array is a read-only view of XLA's buffer, and a caller may write to a result."""
    if out is None:
        return np.array(result)
    np.copyto(out, result)
    return out


# --- the operations: each jitted on its own, and inlined into the fused step, which composes them -----------


@jax.jit
def _matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    return a @ b


@jax.jit
def _matmul_tn(a: jax.Array, b: jax.Array) -> jax.Array:
    return a.T @ b  # a transposed view: XLA folds it into the product's dimension numbers


@jax.jit
def _matmul_nt(a: jax.Array, b: jax.Array) -> jax.Array:
    return a @ b.T


@jax.jit
def _add_bias(z: jax.Array, b: jax.Array) -> jax.Array:
    return z + b


@jax.jit
def _relu(z: jax.Array) -> jax.Array:
    return jnp.maximum(z, 0)  # XLA's maximum propagates NaN, as NumPy's does


@jax.jit
def _relu_backward(grad: jax.Array, a: jax.Array) -> jax.Array:
    return grad * (a > 0)  # a product, as the contract states it: a NaN upstream stays NaN


@jax.jit
def _softmax(logits: jax.Array) -> jax.Array:
    e = jnp.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@jax.jit
def _softmax_xent(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(grad, loss)`` in ``kernels.vectorized``'s order of operations; ``labels`` already checked to lie
    in range (a jax gather would clamp one that does not)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    label_logits = jnp.take_along_axis(shifted, labels[:, None], axis=1)[:, 0]
    e = jnp.exp(shifted)
    sums = e.sum(axis=1)
    loss = jnp.mean(jnp.log(sums) - label_logits)
    # subtracting a one-hot row takes 1 at the label and leaves the rest as they are, as NumPy's
    # ``out[rows, labels] -= 1`` does, without a scatter
    onehot = labels[:, None] == jnp.arange(logits.shape[1])
    return (e / sums[:, None] - onehot) / logits.shape[0], loss


@jax.jit
def _column_sums(g: jax.Array) -> jax.Array:
    return g.sum(axis=0)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    product_shape("matmul", a, b, out)
    return _result(_matmul(a, b), out)


def matmul_tn(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    product_shape("matmul_tn", a, b, out)
    return _result(_matmul_tn(a, b), out)


def matmul_nt(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    product_shape("matmul_nt", a, b, out)
    return _result(_matmul_nt(a, b), out)


def add_bias(z: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_bias(z, b, out)
    return _result(_add_bias(z, b), out)


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("relu", z, out)
    return _result(_relu(z), out)


def relu_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("relu_backward", grad, out, a=a)
    return _result(_relu_backward(grad, a), out)


def softmax(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("softmax", logits, out)
    return _result(_softmax(logits), out)


def softmax_xent(
    logits: np.ndarray, labels: np.ndarray, out: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    check_rows("softmax_xent", logits, out)
    check_labels("softmax_xent", labels, len(logits))
    check_label_range("softmax_xent", labels, logits.shape[1])
    grad, loss = _softmax_xent(logits, labels)
    return _result(grad, out), float(loss)


def column_sums(g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_column_sums(g, out)
    return _result(_column_sums(g), out)


# --- the fused training step ---------------------------------------------------------------------------

fused_rules = ("sgd", "momentum", "adam")


def _rounded(x: jax.Array, zero: jax.Array) -> jax.Array:
    """``x``, a product, rounded to the dtype on its own before a sum takes it, as NumPy's optimizer rounds
    each term. XLA on the CPU contracts a product and the sum that takes it into one multiply-add, rounded
    once (an optimization barrier or a ``reduce_precision`` does not stop it; only an ISA without FMA does,
    process-wide). ``zero`` is +0 passed at run time, so that neither XLA nor LLVM can fold the addition
    away: the product is contracted into it, and a multiply-add of zero rounds as the product alone does
    (up to the sign of a zero product), which leaves the real sum a rounding of its own."""
    return x + zero


def _flushed(x: jax.Array) -> jax.Array:
    """``x``, or zero where ``|x|`` is below the dtype's smallest normal: the rules' stored state, as the
    contract allows, so that a state that would decay in the subnormals is zero from then on."""
    return jnp.where(jnp.abs(x) < jnp.finfo(x.dtype).tiny, jnp.zeros_like(x), x)


def _rule(
    rule: str,
    w: jax.Array,
    g: jax.Array,
    state: tuple[jax.Array, ...],
    c: dict[str, jax.Array],
    decay: bool,
    zero: jax.Array,
) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """The new parameter and state: ``network.optim``'s operations in its order, each rounded to the dtype
    (``_rounded`` wherever a product meets a sum). ``decay``: whether ``network.optim`` decays this
    parameter (a weight, with a non-zero weight decay); it skips the term otherwise, so must this."""
    d = g + _rounded(w * c["weight_decay"], zero) if decay else g
    if rule == "sgd":
        return w - _rounded(d * c["lr"], zero), ()
    if rule == "momentum":
        (v,) = state
        v = _rounded(v * c["momentum"], zero) + d
        return w - _rounded(v * c["lr"], zero), (_flushed(v),)
    m, v = state  # adam
    m = _rounded(m * c["beta1"], zero) + _rounded(d * c["one_minus_beta1"], zero)
    v = _rounded(v * c["beta2"], zero) + _rounded(d * d * c["one_minus_beta2"], zero)
    step = m / (jnp.sqrt(v) + c["eps"])
    return w - _rounded(step * c["lr"], zero), (_flushed(m), _flushed(v))


def _step(rule, decay, X, params, states, labels, coefficients, zero):
    """Loss, new parameters and new state, ``params`` and ``states`` flattened as the optimizer's state
    is (``W_1, b_1, W_2, ...``): the operations above, composed as ``network.MLP`` composes them, then
    the rule (``_rule``; ``zero``: see ``_rounded``)."""
    weights, biases = params[0::2], params[1::2]
    layers = len(weights)
    activations = [X]  # the input, then each hidden layer's output
    for W, b in zip(weights[:-1], biases[:-1]):
        activations.append(_relu(_add_bias(_matmul(activations[-1], W), b)))
    logits = _add_bias(_matmul(activations[-1], weights[-1]), biases[-1])
    delta, loss = _softmax_xent(logits, labels)
    # the loss's gradient ends in a product (by 1 / batch, see the module's docstring), which XLA would
    # contract into the bias gradient's sum; the ReLU's mask multiplies by 0 or 1, exactly, so needs none
    delta = _rounded(delta, zero)
    grads = [None] * (2 * layers)
    for layer in reversed(range(layers)):
        # a product that a sum of the rule takes: XLA would fuse that sum into the product's loop
        grads[2 * layer] = _rounded(_matmul_tn(activations[layer], delta), zero)
        grads[2 * layer + 1] = _column_sums(delta)
        if layer > 0:
            delta = _relu_backward(_matmul_nt(delta, weights[layer]), activations[layer])
    new_params, new_states = [], []
    for i, (w, g, state) in enumerate(zip(params, grads, states)):
        is_weight = i % 2 == 0  # biases are not decayed
        new_w, new_state = _rule(rule, w, g, state, coefficients, decay and is_weight, zero)
        new_params.append(new_w)
        new_states.append(new_state)
    return loss, new_params, new_states


# The parameters and states donated: jit copies each NumPy argument into a buffer of its own (it does not
# alias one), and those copies, which nothing else holds, take the results instead of new buffers.
_fused_step = jax.jit(_step, static_argnames=("rule", "decay"), donate_argnames=("params", "states"))


@functools.partial(jax.jit, static_argnames=("rule", "decay"), donate_argnames=("params", "states"))
def _epoch_in_one_call(rule, decay, images, labels, batches, params, states, coefficients, zero):
    """``_step`` over every row of ``batches`` (steps x batch indices into ``images`` and ``labels``), as one
    compiled loop (``lax.scan``): the losses, and the parameters and states after the last step."""

    def one_step(carry, rows):
        loss, params, states = _step(rule, decay, images[rows], *carry, labels[rows], coefficients, zero)
        return (params, states), loss

    (params, states), losses = jax.lax.scan(one_step, (params, states), batches)
    return losses, params, states


def epoch_in_one_call(
    update: FusedUpdate,
    params: list[jax.Array],
    images: jax.Array,
    labels: jax.Array,
    batches: np.ndarray,
) -> tuple[np.ndarray, list[jax.Array], list[tuple[jax.Array, ...]]]:
    """The fused steps of a whole epoch in one call: not part of the contract, but what a JAX user writes
    to leave no Python between the steps (the study's technique "whole epoch in one call"). ``params``
    flattened (``W_1, b_1, ...``), ``images`` already scaled to the parameters' dtype, ``batches`` the
    row indices of each step (steps x batch: whole batches only). Returns the steps' losses and the new
    parameters and optimizer states, which stay in XLA's buffers (donated: ``params`` and ``update.state``
    are spent) for the next call. One learning rate, ``update``'s, for every step."""
    dtype = np.dtype(params[0].dtype)
    decay = update.coefficients.get("weight_decay", 0.0) != 0
    losses, params, states = _epoch_in_one_call(
        update.rule,
        decay,
        images,
        labels,
        batches,
        params,
        update.state,
        _coefficients(update, dtype),
        np.zeros((), dtype),
    )
    return np.asarray(losses), params, states


def _coefficients(update: FusedUpdate, dtype: np.dtype) -> dict[str, np.ndarray]:
    """The rule's coefficients as ``network.optim`` rounds them: each to the dtype, and ``1 - beta``
    computed in float64 before it is rounded. Arrays, not Python floats, so that a new learning rate is
    a new argument, not a new compile."""
    named = dict(update.coefficients)
    for beta in ("beta1", "beta2"):
        if beta in named:
            named[f"one_minus_{beta}"] = 1 - named[beta]
    return {key: np.asarray(value, dtype) for key, value in named.items()}


def fused_step(
    update: FusedUpdate,
    activations: tuple[np.ndarray, ...],
    deltas: tuple[np.ndarray, ...],
    params: list[tuple[np.ndarray, np.ndarray]],
    bias_grads: list[np.ndarray],
    labels: np.ndarray,
) -> float:
    """The contract's fused step. The scratch buffers (``activations[1:]``, ``deltas``, ``bias_grads``) are
    checked but not written: XLA keeps its intermediates in its own buffers, and copying them out would
    cost a pass over each for nothing (the contract lets a fused step skip storing them)."""
    check_fused_step(activations, deltas, params, bias_grads, labels)
    check_label_range("fused_step", labels, params[-1][0].shape[1])
    flat_params = [p for pair in params for p in pair]
    dtype = flat_params[0].dtype
    decay = update.coefficients.get("weight_decay", 0.0) != 0  # as network.optim: no term when it is zero
    loss, new_params, new_states = _fused_step(
        update.rule,
        decay,
        activations[0],
        flat_params,  # copied in by jit: the network's arrays change only below, once the loss is finite
        update.state,
        labels,
        _coefficients(update, dtype),
        np.zeros((), dtype),
    )
    loss = float(loss)
    if not math.isfinite(loss):
        return loss  # diverged: leave every weight and state as it was
    for param, new in zip(flat_params, new_params):
        np.copyto(param, new)
    for state, new_state in zip(update.state, new_states):
        for array, new in zip(state, new_state):
            np.copyto(array, new)
    return loss
