"""The optimizers' update rules, written once, compiled for the layer after the weight gradient's tiles.

A rule takes a parameter ``w``, its gradient ``g``, its two state values ``state1``, ``state2`` (momentum
keeps its velocity in ``state1``, Adam its first and second moments in both, sgd neither) and the
``Coefficients`` and returns the new ``(w, state1, state2)``: the operations of
``kernels.interface.UPDATE_RULES`` in the order in which ``network.optim`` applies them with NumPy, each
rounded to the dtype, except that the state it keeps is stored ``flushed``: below the dtype's smallest normal,
zero. The same Python function is compiled twice: by Numba for scalars (``apply_rule``: edge tiles, biases,
a batch of one) and, traced with vector values, into the LLVM IR of a full tile row (``jit_tile``), because a
Numba loop over the NR columns of a row is unrolled before LLVM can vectorise it.

No fastmath anywhere here, not even contraction: a fused multiply-add would round differently from the
NumPy optimizer, and the fused step must compute what the composed step computes
(``tests/test_network.py`` compares them bit for bit). The products that call these contract; Numba would
pass that on to a callee that does not say otherwise.

Why the flush: where a gradient stays zero, a decaying state reaches the subnormals and stays there for
good (``0.9 * 4`` units of the last place rounds back to 4), and every later step computes on it at the
CPU's slow subnormal pace; flushed, it is zero from then on. The new parameter is computed from the
unflushed state, as NumPy computes it, so the steps differ only where NumPy's optimizer keeps a subnormal
state, by less than the smallest normal, and the later parameters only through those differences.

A new optimizer is one rule function, one ``Rule`` member, its line in ``RULES``, and a branch of
``apply_rule``.
"""

from __future__ import annotations

from collections import namedtuple
from enum import IntEnum

import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic, overload

from kernels import jit_cache  # noqa: F401  (must come before any @njit below)


class Rule(IntEnum):
    """The update a finished tile of a weight gradient ``g`` makes to its tile of the weights
    (``kernels.jit_tile.rule_tile``); ``NONE``: a plain product, whose tile is stored."""

    NONE = 0
    SGD = 1
    MOMENTUM = 2
    ADAM = 3


# A rule's coefficients, in the parameters' dtype. NumPy's optimizers compute ``1 - beta`` in float64 and
# round it once, so those are passed, not computed in the dtype.
Coefficients = namedtuple(
    "Coefficients",
    ["lr", "weight_decay", "momentum", "beta1", "one_minus_beta1", "beta2", "one_minus_beta2", "eps"],
)


def pack_coefficients(named: dict[str, float], dtype: np.dtype) -> np.ndarray:
    """The fields of ``Coefficients`` from ``FusedUpdate.coefficients``, packed into an array of the dtype
    (an array crosses from Python into compiled code in a fraction of a microsecond, a named tuple takes
    over one). ``unpack_coefficients`` makes the ``Coefficients`` inside."""
    beta1, beta2 = named.get("beta1", 0.0), named.get("beta2", 0.0)
    # in the order of Coefficients' fields; a plain tuple, because building the named one costs about a
    # microsecond of every step
    fields = (named["lr"], named.get("weight_decay", 0.0), named.get("momentum", 0.0), beta1, 1 - beta1)
    return np.array((*fields, beta2, 1 - beta2, named.get("eps", 0.0)), dtype=dtype)


@njit(cache=True)
def unpack_coefficients(packed, decay=True):
    """``Coefficients`` from the array of ``pack_coefficients``; ``decay=False`` for biases (no weight
    decay)."""
    weight_decay = packed[1] if decay else packed.dtype.type(0)
    return Coefficients(
        packed[0], weight_decay, packed[2], packed[3], packed[4], packed[5], packed[6], packed[7]
    )


@njit(cache=True)
def no_coefficients(like):
    """Coefficients for a plain product, which applies no rule (unused)."""
    zero = like.dtype.type(0)
    return Coefficients(zero, zero, zero, zero, zero, zero, zero, zero)


def sqrt(x):
    """The correctly rounded square root: a traced ``jit_tile._Vector`` emits its own; compiled code gets
    ``llvm.sqrt``, which the loop vectoriser handles (``np.sqrt`` becomes a call of libm's ``sqrtf``,
    which it does not: Adam's scalar rule ran ten times slower)."""
    return x.sqrt()


@intrinsic
def _llvm_sqrt(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.call(builder.module.declare_intrinsic("llvm.sqrt", [args[0].type]), args)

    return x(x), codegen


@overload(sqrt, inline="always")
def _sqrt_compiled(x):
    if isinstance(x, types.Float):
        return lambda x: _llvm_sqrt(x)
    return None


def flushed(x):
    """``x``, or zero where ``|x|`` is below the smallest normal of its dtype (a NaN stays NaN): a traced
    ``jit_tile._Vector`` emits its own compare and select."""
    return x.flushed()


@overload(flushed)
def _flushed_compiled(x):
    if isinstance(x, types.Float):
        dtype = np.dtype(x.name)
        zero, tiny = dtype.type(0), dtype.type(np.finfo(dtype).tiny)  # constants of the compiled rule
        return lambda x: zero if abs(x) < tiny else x
    return None


@njit(inline="always", fastmath=False, error_model="numpy")
def sgd(w, g, state1, state2, coefficients):
    return w - coefficients.lr * (g + w * coefficients.weight_decay), state1, state2


@njit(inline="always", fastmath=False, error_model="numpy")
def momentum(w, g, state1, state2, coefficients):
    v = coefficients.momentum * state1 + (g + w * coefficients.weight_decay)  # state1: the velocity
    return w - coefficients.lr * v, flushed(v), state2


@njit(inline="always", fastmath=False, error_model="numpy")
def adam(w, g, state1, state2, coefficients):
    d = g + w * coefficients.weight_decay
    m = coefficients.beta1 * state1 + d * coefficients.one_minus_beta1  # state1: the first moment
    v = coefficients.beta2 * state2 + (d * d) * coefficients.one_minus_beta2  # state2: the second
    return w - coefficients.lr * (m / (sqrt(v) + coefficients.eps)), flushed(m), flushed(v)


RULES = {  # Rule -> (its function, how many of state1, state2 it keeps: only those are written back)
    Rule.SGD: (sgd, 0),
    Rule.MOMENTUM: (momentum, 1),
    Rule.ADAM: (adam, 2),
}


# fastmath said, not left to default: a callee inherits its caller's. NumPy's error model: a float division
# that raises ZeroDivisionError branches per element, and such a loop is not vectorised.
@njit(cache=True, fastmath=False, error_model="numpy")
def apply_rule(rule, w_p, g_p, state1_p, state2_p, n, coefficients):
    """The ``n`` parameters at the pointer ``w_p`` updated by the gradient at ``g_p`` as ``rule`` says, with
    their state at ``state1_p``, ``state2_p`` (pointers, not arrays: an edge tile's row lives in a stack
    buffer). A rule never writes a state it does not keep (for sgd they may be ``w_p`` itself)."""
    w, g = carray(w_p, n), carray(g_p, n)
    state1, state2 = carray(state1_p, n), carray(state2_p, n)
    if rule == Rule.SGD:
        for c in range(n):
            w[c] = sgd(w[c], g[c], w[c], w[c], coefficients)[0]
    elif rule == Rule.MOMENTUM:
        for c in range(n):
            w[c], state1[c], _ = momentum(w[c], g[c], state1[c], state1[c], coefficients)
    elif rule == Rule.ADAM:
        for c in range(n):
            w[c], state1[c], state2[c] = adam(w[c], g[c], state1[c], state2[c], coefficients)
