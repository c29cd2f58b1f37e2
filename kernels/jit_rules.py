"""The optimizers' update rules as compiled functions, for the epilogue of the weight gradient's tiles.

A rule updates a run of ``n`` parameters ``w`` (and the rule's state arrays ``s1``, ``s2``) from their
gradient ``g``: the operations of ``kernels.interface.UPDATE_RULES`` in exactly the order in which
``network.optim`` applies them with NumPy, each rounded to the dtype. No fastmath here, not even
contraction: a fused multiply-add would round differently from the NumPy optimizer, and the fused step
must compute what the composed step computes (``tests/test_network.py`` compares them bit for bit). The
products that call it contract; Numba would pass that on to a callee that does not say otherwise.

The arguments are pointers to the first elements (``kernels.jit_tile.at``): a register tile's row lives in
a stack buffer, not an array, and passing arrays to a function per tile row costs reference counting.
A new optimizer is one more ``Epilogue`` member, one more branch of ``apply_rule`` and its coefficients.
"""

from __future__ import annotations

from collections import namedtuple
from enum import IntEnum

import numpy as np
from numba import carray, njit

from kernels import jit_cache  # noqa: F401  (must come before any @njit below)


class Epilogue(IntEnum):
    """What a finished register tile does with its product ``g`` (``kernels.jit_tile.micro_kernel``)."""

    STORE = 0  # out = g
    ACCUMULATE = 1  # out += g: the later k blocks of a product
    SGD = 2  # out is a weight matrix, g its gradient: the update rules, which need g whole (one k block)
    MOMENTUM = 3
    ADAM = 4


FIRST_RULE = Epilogue.SGD  # epilogues from here on are update rules

# A rule's numbers, in the parameters' dtype. NumPy's optimizers compute ``1 - beta`` in float64 and
# round it once, so those are passed, not computed in the dtype.
Coefficients = namedtuple(
    "Coefficients",
    ["lr", "weight_decay", "momentum", "beta1", "one_minus_beta1", "beta2", "one_minus_beta2", "eps"],
)


def coefficients(named: dict[str, float], dtype: np.dtype, decay: bool = True) -> Coefficients:
    """``Coefficients`` of the dtype from ``FusedUpdate.coefficients``; ``decay=False`` for biases."""
    cast = np.dtype(dtype).type
    beta1, beta2 = named.get("beta1", 0.0), named.get("beta2", 0.0)
    return Coefficients(
        lr=cast(named["lr"]),
        weight_decay=cast(named.get("weight_decay", 0.0) if decay else 0.0),
        momentum=cast(named.get("momentum", 0.0)),
        beta1=cast(beta1),
        one_minus_beta1=cast(1 - beta1),
        beta2=cast(beta2),
        one_minus_beta2=cast(1 - beta2),
        eps=cast(named.get("eps", 0.0)),
    )


@njit(cache=True)
def no_coefficients(like):
    """Coefficients for the epilogues that are not rules (unused)."""
    z = like.dtype.type(0)
    return Coefficients(z, z, z, z, z, z, z, z)


@njit(cache=True, fastmath=False)  # said, not left to default: a callee inherits its caller's fastmath
def apply_rule(epilogue, w, g, s1, s2, n, coef):
    """``w[:n]`` updated by the gradient ``g[:n]`` as ``epilogue``'s rule says; ``s1``, ``s2`` are its state
    (momentum: the velocity in ``s1``; adam: the moments ``m`` in ``s1``, ``v`` in ``s2``; a rule never
    touches a state array it does not have)."""
    W, G = carray(w, n), carray(g, n)
    lr, decay = coef.lr, coef.weight_decay
    if epilogue == Epilogue.SGD:
        for c in range(n):
            W[c] -= lr * (G[c] + W[c] * decay)
    elif epilogue == Epilogue.MOMENTUM:
        V = carray(s1, n)
        for c in range(n):
            v = coef.momentum * V[c] + (G[c] + W[c] * decay)
            V[c] = v
            W[c] -= lr * v
    elif epilogue == Epilogue.ADAM:
        M, V = carray(s1, n), carray(s2, n)
        for c in range(n):
            d = G[c] + W[c] * decay
            m = coef.beta1 * M[c] + d * coef.one_minus_beta1
            v = coef.beta2 * V[c] + (d * d) * coef.one_minus_beta2
            M[c] = m
            V[c] = v
            W[c] -= lr * (m / (np.sqrt(v) + coef.eps))
