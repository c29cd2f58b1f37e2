"""One multi-layer perceptron for every backend.

The network knows only the operations of :class:`kernels.interface.Backend`; which module computes them
is chosen by name. Every array a step needs is allocated once per batch size and reused, so that a
training step costs the kernels and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kernels import get_backend
from kernels.pixels import PIXEL_DTYPE, scale_pixels
from network import aligned
from network.optim import Optimizer

DTYPES = ("float32", "float64")


def parse_dtype(dtype: object) -> np.dtype:
    """``np.dtype`` for ``"float32"``/``"float64"`` (or the types themselves); ``ValueError`` otherwise."""
    try:
        parsed = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        parsed = None
    if parsed is None or parsed.name not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    return parsed


class _Workspace:
    """The buffers of one batch size: pre-activations (ReLU'd in place), logits, probabilities/deltas."""

    def __init__(self, batch: int, layer_sizes: Sequence[int], dtype: np.dtype):
        self.hidden = [aligned.empty((batch, n), dtype) for n in layer_sizes[1:-1]]
        self.hidden_grads = [aligned.empty((batch, n), dtype) for n in layer_sizes[1:-1]]
        self.logits = aligned.empty((batch, layer_sizes[-1]), dtype)
        self.probs = aligned.empty((batch, layer_sizes[-1]), dtype)  # or, in training, d(loss)/d(logits)


class MLP:
    """A ReLU multi-layer perceptron with a softmax output, trained by cross-entropy.

    ``layer_sizes`` lists the widths from input to output, e.g. ``[784, 128, 10]``. Weights are
    He-initialised from ``numpy.random.default_rng(seed)`` in float64 and then cast, so the same seed
    gives the same initial weights on every backend. ``params`` is a list of ``(W, b)`` per layer,
    ``W`` shaped ``(fan_in, fan_out)``; optimizers update these arrays in place. Inputs of uint8 are
    pixels, as the data sets hold them, and are scaled to [0, 1] (``kernels.pixels``); inputs of any
    other numeric dtype are converted as they are. ``fused=False``
    makes :meth:`train_step` compose the operations even where the backend offers a fused step (the
    benchmarks measure what fusing buys this way).
    """

    _MAX_WORKSPACES = 4  # batch sizes kept (training batch, last partial batch, evaluation chunk, ...)

    def __init__(
        self,
        layer_sizes: Sequence[int],
        backend: str = "numpy",
        dtype: str | np.dtype = "float32",
        seed: int = 0,
        fused: bool = True,
    ):
        sizes = list(layer_sizes)
        if len(sizes) < 2 or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in sizes):
            raise ValueError(
                "layer_sizes must be two or more positive integers (input, hidden..., output), "
                f"got {layer_sizes!r}"
            )
        sizes = [int(n) for n in sizes]
        self.layer_sizes = tuple(sizes)
        self.dtype = parse_dtype(dtype)
        self.backend = get_backend(backend)
        self.fused = fused
        rng = np.random.default_rng(seed)
        self.params: list[tuple[np.ndarray, np.ndarray]] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
            self.params.append((aligned.copy(W, self.dtype), aligned.zeros(fan_out, self.dtype)))
        self.grads = [(aligned.empty_like(W), aligned.empty_like(b)) for W, b in self.params]
        self._workspaces: dict[int, _Workspace] = {}

    def __repr__(self) -> str:
        return f"MLP({list(self.layer_sizes)}, backend={self.backend.name!r}, dtype={self.dtype.name!r})"

    @property
    def n_classes(self) -> int:
        return self.layer_sizes[-1]

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, ``(batch, classes)``, for the rows of ``X``."""
        X = self.check_inputs(X)
        return self._forward(X).probs.copy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most probable class of each row of ``X``."""
        X = self.check_inputs(X)
        return self._forward(X).probs.argmax(axis=1)

    def loss_and_grads(
        self, X: np.ndarray, y: np.ndarray, *, check: bool = True
    ) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
        """Mean cross-entropy of the batch and its gradient with respect to every ``(W, b)``.

        ``grads`` has the order and shapes of ``params``; its arrays belong to the network and are
        overwritten by the next call. ``check=False`` skips input validation, for a trainer that has
        checked the whole data set once.
        """
        if check:
            X = self.check_inputs(X)
            y = self.check_labels(y, len(X))
        bk = self.backend
        ws = self._logits(X)
        delta, loss = bk.softmax_xent(ws.logits, y, out=ws.probs)
        activations = [X, *ws.hidden]
        for layer in reversed(range(len(self.params))):
            W, _ = self.params[layer]
            dW, db = self.grads[layer]
            bk.matmul_tn(activations[layer], delta, out=dW)
            bk.column_sums(delta, out=db)
            if layer > 0:
                upstream = bk.matmul_nt(delta, W, out=ws.hidden_grads[layer - 1])
                delta = bk.relu_backward(upstream, activations[layer], out=upstream)
        return loss, self.grads

    def train_step(
        self, X: np.ndarray, y: np.ndarray, optimizer: Optimizer, lr: float, *, check: bool = True
    ) -> float:
        """One optimisation step on a batch; returns its mean loss, computed before the update.

        Uses the backend's ``fused_step`` when it can apply the optimizer's rule (its ``fused_rules``)
        and the network was made with ``fused=True``; otherwise :meth:`loss_and_grads` followed by
        ``optimizer.step``. A bad batch is a ``ValueError`` and updates nothing; ``check=False`` skips
        the input validation, for a trainer that has checked the whole data set once. The check here is
        of shapes and dtypes: the labels' range is checked by every backend's loss where it reads them,
        and a non-finite input gives a non-finite loss. If the loss is not finite, no weight is updated.
        """
        if check:
            X = self.check_inputs(X, values=False)
            y = self.check_labels(y, len(X), values=False)
        if self.fused and optimizer.name in getattr(self.backend, "fused_rules", ()):
            ws = self._workspace(len(X))
            loss = self.backend.fused_step(
                optimizer.fused_update(lr),
                (X, *ws.hidden),
                (*ws.hidden_grads, ws.probs),
                self.params,
                [db for _, db in self.grads],
                y,
            )
            if math.isfinite(loss):
                optimizer.fused_step_done()
            return loss
        loss, grads = self.loss_and_grads(X, y, check=False)
        if math.isfinite(loss):
            optimizer.step(grads, lr)
        return loss

    def _forward(self, X: np.ndarray) -> _Workspace:
        ws = self._logits(X)
        self.backend.softmax(ws.logits, out=ws.probs)
        return ws

    def _logits(self, X: np.ndarray) -> _Workspace:
        bk = self.backend
        ws = self._workspace(len(X))
        a = X
        for (W, b), h in zip(self.params[:-1], ws.hidden):
            bk.matmul(a, W, out=h)
            bk.add_bias(h, b, out=h)
            a = bk.relu(h, out=h)
        W, b = self.params[-1]
        bk.matmul(a, W, out=ws.logits)
        bk.add_bias(ws.logits, b, out=ws.logits)
        return ws

    def _workspace(self, batch: int) -> _Workspace:
        ws = self._workspaces.get(batch)
        if ws is None:
            if len(self._workspaces) >= self._MAX_WORKSPACES:
                self._workspaces.clear()
            ws = self._workspaces[batch] = _Workspace(batch, self.layer_sizes, self.dtype)
        return ws

    def check_inputs(self, X: np.ndarray, values: bool = True) -> np.ndarray:
        """``X`` as an array of the network's dtype (uint8 pixels scaled to [0, 1]), or a ``ValueError``
        that names what is wrong; ``values=False`` leaves out the pass over the values (are they
        finite)."""
        X = self.check_input_shape(X)
        if X.dtype == PIXEL_DTYPE:
            return scale_pixels(X, self.dtype)  # finite by construction: no pass over the values
        if X.dtype != self.dtype:
            X = X.astype(self.dtype)
        if values and not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values")
        return X

    def check_input_shape(self, X: np.ndarray) -> np.ndarray:
        """``X`` as an array, unconverted, if it is a numeric ``(batch, features)`` of this network's
        features; else a ``ValueError`` that names what is wrong. For a whole data set that stays in
        its own dtype (uint8 pixels, scaled a batch at a time)."""
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (batch, features), got shape {X.shape}")
        if X.shape[0] == 0:
            raise ValueError("empty batch: X has no rows")
        if X.shape[1] != self.layer_sizes[0]:
            raise ValueError(
                f"X has {X.shape[1]} features per row, the network expects {self.layer_sizes[0]}"
            )
        if X.dtype.kind not in "biuf":  # kinds, not np.issubdtype: a microsecond of every checked step
            raise ValueError(f"X must be numeric, got dtype {X.dtype}")
        return X

    def check_labels(self, y: np.ndarray, batch: int, values: bool = True) -> np.ndarray:
        """``y`` as integer labels for ``batch`` rows, or a ``ValueError`` that names what is wrong;
        ``values=False`` leaves out the pass over the values (are they classes)."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (batch,), got shape {y.shape}")
        if len(y) != batch:
            raise ValueError(f"X has {batch} rows but y has {len(y)} labels")
        if y.dtype.kind not in "iu":
            raise ValueError(f"labels must be integers, got dtype {y.dtype}")
        if values and (y.min() < 0 or y.max() >= self.n_classes):
            bad = y[(y < 0) | (y >= self.n_classes)][0]
            raise ValueError(f"labels must be in 0..{self.n_classes - 1}, got {bad}")
        return y.astype(np.int64, copy=False)
