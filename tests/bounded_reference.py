"""The whole network in float64, with a bound on how far any correct implementation in a narrower float
type may be from it, element by element.

Why a bound per element and not one tolerance: a float32 gradient is exact to about ``k * eps`` relative
to the *magnitudes* that were summed, not to the result, which can cancel to almost nothing (a confident
network has ``p`` close to 1 for the true class, and ``p - 1`` keeps only a few significant digits). A
single tolerance is then either too tight for those cancelling entries or too loose for the rest. So the
reference below follows every operation twice: once for its value, and once, with absolute values, for
the standard first-order bound on its rounding error (Higham, *Accuracy and Stability of Numerical
Algorithms*, ch. 3: a sum of ``k`` products is within ``gamma_k * (|a| @ |b|)`` of exact, with
``gamma_k = k u / (1 - k u)`` and ``u`` the unit roundoff), carried forward through the layers and back.
Nothing here depends on the order in which an implementation sums (blocked, pairwise, with FMA): the
bound holds for every order, so it fits every backend and still leaves a real bug (a wrong mask, a
transposed operand, an overflowing softmax) off by orders of magnitude.

The products' bounds are first order; ``SAFETY`` covers the neglected terms, which are smaller by a
further factor of ``k u`` (below 1e-4 for every float32 shape here). The softmax's holds for errors of
any size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.bounds import gamma

# Rounding error of exp and log in units of u: correctly rounded would be 1; NumPy's SIMD float32 exp and
# log and libm are within a few ulp (1 ulp is at most 2u relative).
TRANSCENDENTAL_U = 8
# Headroom for the second-order terms a first-order bound leaves out.
SAFETY = 2.0


@dataclass
class Bounded:
    """A float64 value and the bound on ``|computed - value|`` for any correct implementation."""

    value: np.ndarray
    bound: np.ndarray


@dataclass
class Reference:
    loss: Bounded
    probs: Bounded
    grads: list[tuple[Bounded, Bounded]]  # (dW, db) per layer, like MLP.params


def _product_bound(a, E_a, b, E_b, u, tiny):
    """The bound on ``a @ b`` computed from ``a`` and ``b`` known to within ``E_a`` and ``E_b`` (None: ``b``
    is exact): the propagated errors plus the rounding of a sum of ``k`` products as computed."""
    k = a.shape[1]
    A, B = np.abs(a), np.abs(b)
    if E_b is None:
        return E_a @ B + gamma(k, u) * ((A + E_a) @ B) + k * tiny
    propagated = E_a @ B + A @ E_b + E_a @ E_b
    return propagated + gamma(k, u) * ((A + E_a) @ (B + E_b)) + k * tiny


def reference(params, X: np.ndarray, y: np.ndarray, dtype: np.dtype) -> Reference:
    """Loss, probabilities and gradients of the network with ``params`` on ``(X, y)`` in float64, each with
    the error bound for an implementation that rounds to ``dtype``.

    ``params`` and ``X`` must hold values representable in ``dtype`` (the network's own weights, and the
    input after rounding to its dtype): the bound covers the computation, not the rounding of its inputs.
    """
    u = np.finfo(dtype).eps / 2
    tiny = float(np.finfo(dtype).tiny)  # absolute slack for values that underflow (exp of -100)
    params = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in params]
    a, E_a = np.asarray(X, np.float64), np.zeros(X.shape)
    inputs, pre_activations = [], []  # per layer: (input, its bound); hidden: (z, its bound)
    for layer, (W, b) in enumerate(params):
        inputs.append((a, E_a))
        z = a @ W + b
        ones = np.ones((len(a), 1))  # the bias is one more term of the sum: [a, 1] @ [W; b]
        E_z = _product_bound(
            np.hstack([a, ones]), np.hstack([E_a, 0 * ones]), np.vstack([W, b]), None, u, tiny
        )
        if layer < len(params) - 1:
            pre_activations.append((z, E_z))
            a, E_a = np.maximum(z, 0), E_z  # ReLU is 1-Lipschitz and exact: the bound passes through
    logits, E_logits = z, E_z

    m, n = logits.shape
    s = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(s)
    total = e.sum(axis=1, keepdims=True)
    p = e / total
    onehot = np.eye(n)[y]
    # softmax is shift-invariant, so what perturbs p is the logits' error plus the rounding of z - max, ds;
    # log p_j = s_j - logsumexp(s) moves by at most |ds_j| + max_k |ds_k| (logsumexp is 1-Lipschitz in the
    # max norm), whatever the size of ds; then exp, the sum over n terms and the division round
    ds = E_logits + u * np.abs(s)
    widest = ds.max(axis=1, keepdims=True)
    rounding = 2 * TRANSCENDENTAL_U * u + gamma(n, u) + u
    E_p = p * np.expm1(ds + widest + rounding) + tiny
    delta = (p - onehot) / m
    E_delta = (E_p + 2 * u * np.abs(p - onehot)) / m + tiny  # p - 1 and the division by m round once each

    row_loss = np.log(total[:, 0]) - s[np.arange(m), y]
    E_row = (
        widest[:, 0]  # logsumexp(s) moves by at most max |ds| ...
        + ds[np.arange(m), y]  # ... and the label's shifted logit by its own
        + TRANSCENDENTAL_U * u
        + gamma(n, u)  # log(total) from total's relative error
        + TRANSCENDENTAL_U * u * np.abs(np.log(total[:, 0]))
        + u * np.abs(row_loss)
    )
    loss = row_loss.mean()
    E_loss = E_row.mean() + gamma(m, u) * np.abs(row_loss).mean()

    grads = []
    for layer in reversed(range(len(params))):
        W, _ = params[layer]
        a, E_a = inputs[layer]
        dW = a.T @ delta
        E_dW = _product_bound(a.T, E_a.T, delta, E_delta, u, tiny)
        db = delta.sum(axis=0)
        E_db = E_delta.sum(axis=0) + gamma(m, u) * np.abs(delta).sum(axis=0) + m * tiny
        grads.append((Bounded(dW, SAFETY * E_dW), Bounded(db, SAFETY * E_db)))
        if layer > 0:
            upstream = delta @ W.T
            E_up = _product_bound(delta, E_delta, W.T, None, u, tiny)
            z, E_z = pre_activations[layer - 1]
            active = z > 0
            # where |z| is within its error the computed mask may differ: allow the whole entry there
            unsure = np.abs(z) <= E_z
            delta = upstream * active
            E_delta = np.where(unsure, np.abs(upstream) + E_up, E_up * active)
    grads.reverse()
    return Reference(
        loss=Bounded(np.float64(loss), SAFETY * E_loss),
        probs=Bounded(p, SAFETY * E_p),
        grads=grads,
    )


def worst_ratio(computed: np.ndarray, expected: Bounded) -> float:
    """``max |computed - value| / bound``: at most 1 when the computation is within its bound; inf for NaN."""
    diff = np.abs(np.asarray(computed, np.float64) - expected.value)
    ratio = diff / np.maximum(expected.bound, np.finfo(np.float64).tiny)
    return float(np.max(np.where(np.isnan(ratio), np.inf, ratio), initial=0.0))


def momentum_updates(params, velocities, grads, lr, momentum, weight_decay, dtype):
    """The exact momentum step of ``network.optim.Momentum`` (``v = mu v + g + wd W; W -= lr v``, no decay
    on biases) from ``params`` and ``velocities`` (flat lists, W then b per layer) by the bounded ``grads``
    (``Reference.grads``), each new parameter and velocity with its bound for an implementation in ``dtype``.

    The step's constants are rounded to ``dtype`` first, as every implementation does; the bounds add to the
    gradient's own the rounding of the decay's product and the three additions and of ``lr * v`` and the
    subtraction (first order, 2u per operation to allow either order and FMA contraction)."""
    u = np.finfo(dtype).eps / 2
    lr, momentum, decay = (float(dtype.type(x)) for x in (lr, momentum, weight_decay))
    updates = []
    for param, velocity, grad in zip(params, velocities, (g for pair in grads for g in pair)):
        W, v = np.asarray(param, np.float64), np.asarray(velocity, np.float64)
        wd = decay if W.ndim == 2 else 0.0
        new_v = momentum * v + grad.value + wd * W
        E_v = grad.bound + 2 * u * (
            momentum * np.abs(v) + np.abs(grad.value) + 2 * wd * np.abs(W) + np.abs(new_v)
        )
        new_W = W - lr * new_v
        E_W = lr * E_v + 2 * u * (lr * np.abs(new_v) + np.abs(new_W))
        updates.append((Bounded(new_W, SAFETY * E_W), Bounded(new_v, SAFETY * E_v)))
    return updates
