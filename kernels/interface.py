"""The contract every kernel backend fulfils: read this before writing a new one.

A backend is a module that defines the attributes and functions of :class:`Backend` below, with the same
names and signatures, and is registered: one line in ``_BACKEND_MODULES`` in ``kernels/__init__.py`` for
a backend in this repository, ``kernels.register_backend`` for one kept elsewhere. The network
(``network.MLP``) calls nothing else for its numeric work, so a new backend is held to account by the
existing tests (``tests/test_kernels.py`` op by op, ``tests/test_network.py`` for whole gradients) without
editing them, and the benchmarks time it beside the others (``tests/test_adding_a_backend.py`` proves it).

Conventions that hold for every operation:

* Arrays are NumPy arrays of one floating dtype, ``float32`` or ``float64``; all float arguments of a call
  share it and the result has it too. A backend must not compute in a wider type and hand back a narrower
  one silently *unless it says so* (the pure-Python backend computes in Python floats, i.e. double, and
  rounds when it stores; that is its nature, and the float32 tolerances in the tests allow for it).
* Labels are integer arrays of shape ``(batch,)`` with values in ``0 .. classes-1``.
* Arguments are checked: a wrong shape or dtype, or a label outside ``0 .. classes-1``, is a ``ValueError``
  that names the operation and the argument, raised before anything is written; never a read or write past
  an array's end, which in a compiled kernel kills the interpreter. ``kernels.arguments`` holds the checks
  of shapes and dtypes, for every backend to call on entry (NumPy's own errors do not name the
  operation, and some misfits, a float64 ``out`` for float32 inputs, pass silently); the range of the
  labels is checked where they are read (in a compiled kernel, one compare per row) and worded by
  ``kernels.arguments.labels_outside``.
* Inputs may be any memory layout (C, Fortran, strided views); outputs are C-contiguous.
* ``out``: when given, the result is written into it and ``out`` is returned; it must have the result's
  shape and dtype and be C-contiguous. When omitted, a new array is returned. Element-wise and row-wise
  operations (``add_bias``, ``relu``, ``relu_backward``, ``softmax``, ``softmax_xent``) allow
  ``out`` to be the same array as their first argument (in place); the matrix products do not allow
  ``out`` to overlap an input.
* Nothing else is written: inputs are never modified except through ``out``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Backend(Protocol):
    """The operations of one backend. Shapes: ``m`` = batch, ``k`` = fan-in, ``n`` = fan-out."""

    name: str  # the name it is registered under

    full_size: bool
    """Whether the study can afford this backend at full size. ``False`` (the ``loops`` backend: every
    multiply-add goes through the interpreter, about a thousand times slower than the others) makes the
    benchmarks give it fewer samples and rounds (its epoch is scaled from the samples it trained) and
    leaves it out of the sweeps and the accuracy runs, which would otherwise take hours; ``True`` puts it
    beside numpy and numba everywhere. A flag the backend
    states, rather than a list in the study, so that adding a backend changes nothing else."""

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``a @ b``: a ``(m, k)``, b ``(k, n)`` -> ``(m, n)``. Forward product ``X @ W``."""

    def matmul_tn(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``a.T @ b`` without forming ``a.T``: a ``(k, m)``, b ``(k, n)`` -> ``(m, n)``.

        Weight gradient ``X.T @ dZ``."""

    def matmul_nt(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``a @ b.T`` without forming ``b.T``: a ``(m, k)``, b ``(n, k)`` -> ``(m, n)``.

        Input gradient ``dZ @ W.T``."""

    def add_bias(self, z: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``z + b`` with ``b`` ``(n,)`` added to every row of ``z`` ``(m, n)``."""

    def relu(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``max(z, 0)`` element-wise. NaN stays NaN, so that divergence shows in the loss."""

    def relu_backward(self, grad: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``grad * (a > 0)``: the upstream gradient masked where the ReLU was active.

        ``a`` may be the ReLU's input or its output (they are positive at the same places)."""

    def softmax(self, logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Row-wise softmax, computed as ``exp(z - max(z))`` so that large logits cannot overflow."""

    def softmax_xent(
        self, logits: np.ndarray, labels: np.ndarray, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """The training loss and its gradient in one pass over the logits: returns ``(grad, loss)``.

        ``loss`` is the mean over rows of ``-log softmax(logits)[label]``, computed as
        ``log(sum(exp(z - max))) - (z[label] - max)`` so that large logits stay exact; a Python float, not
        finite when the logits are not. ``grad`` is its gradient with respect to the logits,
        ``(softmax(logits) - onehot(labels)) / m``. The softmax is computed once for both."""

    def column_sums(self, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Sum over rows: g ``(m, n)`` -> ``(n,)``. Bias gradient ``dZ.sum(axis=0)``."""


UPDATE_RULES: dict[str, str] = {
    # rule -> what it does to a parameter ``w`` with gradient ``g``, in this order of operations, each
    # rounded to the parameters' dtype; ``d = g + weight_decay * w`` for a weight, ``d = g`` for a bias
    "sgd": "w -= lr * d",
    "momentum": "v = momentum * v + d; w -= lr * v",
    "adam": "m = beta1 * m + (1 - beta1) * d; v = beta2 * v + (1 - beta2) * d * d; "
    "w -= lr * m / (sqrt(v) + eps)  (lr already carries the bias correction)",
}


@dataclass(frozen=True)
class FusedUpdate:
    """One optimizer step, described for a backend that applies it inside its own kernels.

    An optimizer that a backend can fuse describes its next step as one of ``UPDATE_RULES`` (see
    ``network.optim``). ``state`` has one tuple per parameter, in the order of the network's ``params``
    flattened (``W_1, b_1, W_2, ...``): the rule's state arrays, updated in place (sgd: none; momentum:
    ``(v,)``; adam: ``(m, v)``). ``coefficients`` names the rule's numbers (``lr``, ``weight_decay``,
    and ``momentum`` or ``beta1``, ``beta2``, ``eps``)."""

    rule: str
    state: list[tuple[np.ndarray, ...]]
    coefficients: dict[str, float]


class FusedTrainingStep(Protocol):
    """Optional: a backend may also offer a whole training step as one operation, which
    ``network.MLP.train_step`` uses instead of composing the operations above when the optimizer's rule
    is among the backend's ``fused_rules``. It must compute what the composition followed by the
    optimizer computes (``tests/test_network.py`` holds it to that); it may skip storing intermediates,
    and it may store a state value below the dtype's smallest normal as zero (a subnormal state slows
    the arithmetic of every later step on some CPUs).
    """

    fused_rules: tuple[str, ...]  # the ``UPDATE_RULES`` that ``fused_step`` applies

    def fused_step(
        self,
        update: FusedUpdate,
        activations: tuple[np.ndarray, ...],
        deltas: tuple[np.ndarray, ...],
        params: list[tuple[np.ndarray, np.ndarray]],
        bias_grads: list[np.ndarray],
        labels: np.ndarray,
    ) -> float:
        """One training step on a batch; returns its mean loss, computed before the update.

        ``activations`` is ``(X, h_1, ..., h_L-1)``: the input, then a ``(m, width)`` scratch buffer per
        hidden layer. ``deltas`` has a ``(m, width)`` scratch buffer per layer after the input (the
        hidden widths, then the classes); ``bias_grads`` one ``(width,)`` scratch buffer per layer.
        ``params`` (``(W, b)`` per layer) and the state of ``update`` are updated in place by its rule;
        weights are decayed, biases not. If the loss is not finite, nothing is updated.
        """


class RowGather(Protocol):
    """Optional: a backend may gather a training batch's rows itself (``network.Trainer.batch`` uses
    ``take_rows`` when the network's backend has it, NumPy's ``take`` and ``kernels.pixels`` otherwise).
    At batch 128 a gather of random rows from a data set that does not fit the caches waits on memory,
    which a backend with threads can wait on from every core."""

    def take_rows(self, source: np.ndarray, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out[i] = source[rows[i]]`` for every i: ``source`` ``(n, d)`` in any layout, ``rows`` integer
        indices into it, ``out`` C-contiguous ``(len(rows), d)`` of source's dtype; returns ``out``. A
        ``source`` of uint8 pixels (the data sets, held so) is scaled into an ``out`` of float32 or
        float64 exactly as ``kernels.pixels.scale_pixels`` scales it, bit for bit. A compiled gather
        checks that each row is in ``0 .. n-1``."""


class OwnThreadPool(Protocol):
    """Optional: a backend whose library sizes its own thread pool when it starts (jax: XLA's), which
    ``kernels.threads.set_threads`` cannot reach. It runs on that pool whatever ``--threads`` says, and the
    benchmarks leave it out of the thread speed-up."""

    own_thread_pool: bool


class Described(Protocol):
    """Optional: a backend whose code differs from CPU to CPU says how it runs on this one, in one line that
    the CLI's first line and the benchmarks' records carry (the numba backend: its blocking)."""

    def describe(self, dtype: np.dtype) -> str:
        """How the backend computes in ``dtype`` on this machine, e.g. its ISA level and block sizes."""
