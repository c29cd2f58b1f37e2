"""The training loop: shuffled mini-batches, a learning-rate schedule, per-epoch metrics, and a state
that a checkpoint can capture at any step and resume exactly."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from kernels.pixels import PIXEL_DTYPE, scale_pixels
from network.dataset import Subset
from network.model import MLP
from network.optim import Optimizer, cosine_lr, make_optimizer

EVAL_CHUNK = 2048  # rows per forward pass when measuring accuracy: bounds the workspace's memory
# An epoch's mean training loss must fall below this fraction of the loss of guessing the class frequencies
# (what a network that ignores its input converges to). A run that learns is far below it after one epoch
# and one that does not stays close to it: 0.9 tells them apart with room on both sides.
NOT_LEARNING_FRACTION = 0.9


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int, loss: float, lr: float):
        super().__init__(
            f"training diverged in epoch {epoch} (step {step}): the loss became {loss}; "
            f"try a lower --lr (this run used {lr:g})"
        )
        self.epoch = epoch


class NotLearning(RuntimeError):
    """An epoch ended with a mean training loss no better than guessing the class frequencies."""

    def __init__(self, epoch: int, loss: float, guess_loss: float, lr: float):
        super().__init__(
            f"training is not learning: the mean loss of epoch {epoch} is {loss:.3f}, not below "
            f"{NOT_LEARNING_FRACTION:.0%} of {guess_loss:.3f} (the loss of guessing the class "
            f"frequencies); try another --lr (this run used {lr:g}; too high is the usual cause, "
            "most of all in small batches)"
        )
        self.epoch = epoch


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float  # mean of the mini-batch losses seen during the epoch
    train_accuracy: float  # on the whole training set, after the epoch
    seconds: float  # training only: the permutation and the steps; evaluation is timed apart
    samples_per_second: float
    eval_seconds: float
    lr: float  # the learning rate of the epoch's last step
    # None when the trainer has no such set (the defaults also let checkpoints written before them load)
    val_loss: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def loss_and_accuracy(
    net: MLP, X: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None
) -> tuple[float, float]:
    """Mean cross-entropy and fraction of correct predictions of ``net`` on the rows ``rows`` of ``X``
    (None: every row; a :class:`Subset` unpacks into these three) labelled ``y``, in chunks of
    ``EVAL_CHUNK`` rows, so that only a chunk is ever gathered or scaled to the network's dtype. A
    probability that underflows to 0 counts as the dtype's smallest normal number, so that one hopeless
    row adds a large but finite loss."""
    loss_sum, correct = 0.0, 0
    for start in range(0, len(y), EVAL_CHUNK):
        chunk = slice(start, start + EVAL_CHUNK)
        probs, labels = net.forward(X[chunk] if rows is None else X.take(rows[chunk], 0)), y[chunk]
        p_true = np.maximum(probs[np.arange(len(labels)), labels], np.finfo(probs.dtype).tiny)
        loss_sum -= float(np.log(p_true).sum())
        correct += int((probs.argmax(axis=1) == labels).sum())
    return loss_sum / len(y), correct / len(y)


def guess_loss(y: np.ndarray, n_classes: int) -> float:
    """Cross-entropy of always predicting the class frequencies of ``y``: the entropy of its labels."""
    p = np.bincount(y, minlength=n_classes) / len(y)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def warm_up(trainer: Trainer) -> float:
    """Gather batches as ``trainer`` does (its arrays, its batch size and an epoch's last, smaller batch,
    which may take another route of the backend's gather), run a training step and a prediction on a
    throwaway copy of its network; return the seconds taken.

    For the numba backend this is where its kernels compile (or load from Numba's cache), for jax where XLA
    compiles the step for each batch shape, so that no timed epoch pays for it; the trainer's network,
    optimizer and place in its epochs are left untouched.
    """
    start = time.perf_counter()
    net, optimizer = trainer.net, trainer.optimizer
    scratch = MLP(net.layer_sizes, backend=net.backend.name, dtype=net.dtype)
    scratch_optimizer = make_optimizer(optimizer.name, scratch.params, optimizer.weight_decay)
    # a step at each batch size an epoch takes: a backend that compiles per shape (jax) compiles here
    for size in (trainer.n_train % trainer.batch_size, min(trainer.batch_size, trainer.n_train)):
        if size:
            X, y = trainer.gather(np.arange(size))  # int64, as the permutation is
            scratch.train_step(X, y, scratch_optimizer, 0.0)
    scratch.predict(X[:2])
    return time.perf_counter() - start


def checked_set(net: MLP, name: str, X: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None) -> Subset:
    """The rows ``rows`` of ``X`` (None: all of them) labelled ``y``, checked as ``net`` checks a batch
    (feature count, finite values, integer labels in 0..classes-1; and rows inside ``X``), as a
    :class:`Subset`. ``X`` of uint8 pixels stays as it is (scaled a batch at a time), ``X`` of another
    dtype is converted to the network's (copied only if it is not in it already). A ``ValueError`` says
    which set is wrong, e.g. "training set: labels must be in 0..9, got -1"."""
    try:
        X = net.check_input_shape(X)
        if X.dtype != PIXEL_DTYPE:
            X = net.check_inputs(X)
        if rows is not None:
            rows = _checked_rows(rows, len(X))
        return Subset(X, net.check_labels(y, len(X) if rows is None else len(rows)), rows)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


def _checked_rows(rows: np.ndarray, n: int) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.ndim != 1 or rows.dtype.kind not in "iu":
        raise ValueError(f"rows must be a 1-D array of integers, got shape {rows.shape} of {rows.dtype}")
    # Once per set, so that no batch gather (NumPy's take in "clip" mode) meets a row outside the images.
    if len(rows) and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"rows must be in 0..{n - 1}, got {rows[(rows < 0) | (rows >= n)][0]}")
    return rows


class Trainer:
    """Mini-batch training of ``net`` by ``optimizer`` with a cosine learning-rate schedule.

    Each epoch draws a permutation from ``rng``; each step gathers its rows into one reused, contiguous
    batch buffer just before it runs, so the step reads a batch that is still in cache (copying the whole
    shuffled set once per epoch would write the data set out and read it back through memory). A set of
    uint8 pixels is scaled to the network's dtype by that gather, so it is held at a byte a pixel. A set
    may be a :class:`Subset` of a larger one (the validation split's parts): its rows are read by index,
    in place. Everything needed to continue from any step is in :meth:`state` and restored by
    :meth:`load_state`, so that a resumed run computes exactly what an uninterrupted one would.
    """

    def __init__(
        self,
        net: MLP,
        optimizer: Optimizer,
        train: tuple[np.ndarray, np.ndarray] | Subset,
        test: tuple[np.ndarray, np.ndarray] | Subset | None = None,
        *,
        validation: tuple[np.ndarray, np.ndarray] | Subset | None = None,
        epochs: int,
        batch_size: int,
        lr: float,
        seed: int,
        warmup_epochs: float = 0.0,
        stop_if_not_learning: bool = True,
    ):
        self.net, self.optimizer = net, optimizer
        # False where a curve that does not learn is itself the result (the benchmarks' short curves)
        self.stop_if_not_learning = stop_if_not_learning
        # Checked here, once, so that every step can skip train_step's own check of its batch.
        self.train = checked_set(net, "training set", *train)
        # Measured after every epoch. A test set given here is too: the command line gives it only when
        # asked (--test-every-epoch) and otherwise measures it once, after the last epoch.
        self.validation = None if validation is None else checked_set(net, "validation set", *validation)
        self.test = None if test is None else checked_set(net, "test set", *test)
        self.guess_loss = guess_loss(self.train.labels, net.n_classes)
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        self.steps_per_epoch = math.ceil(self.n_train / batch_size)
        self.total_steps = epochs * self.steps_per_epoch
        self.warmup_steps = round(warmup_epochs * self.steps_per_epoch)
        self.rng = np.random.default_rng((seed, 1))  # its own stream: the weights use default_rng(seed)
        self.epoch = 0  # epochs completed
        self.step_in_epoch = 0  # steps of the current epoch completed
        self.order = None  # the current epoch's permutation, while it is under way
        self.loss_sum = 0.0  # sum of batch loss * batch rows over the current epoch's steps
        self.history: list[EpochMetrics] = []
        self.stop_requested = False  # set from a signal handler; checked between steps
        n_features = self.train.images.shape[1]
        self._X_batch = np.empty((batch_size, n_features), net.dtype)
        self._y_batch = np.empty(batch_size, self.train.labels.dtype)
        self._take_rows = getattr(net.backend, "take_rows", None)  # optional (kernels.interface.RowGather)
        # Without a backend's gather, pixels are taken into this buffer by NumPy, then scaled into _X_batch.
        self._pixel_batch = (
            np.empty((batch_size, n_features), PIXEL_DTYPE)
            if self._take_rows is None and self.train.images.dtype == PIXEL_DTYPE
            else None
        )

    @property
    def n_train(self) -> int:
        """The number of training rows: of the training set, or of its index."""
        return len(self.train.labels)

    @property
    def order(self) -> np.ndarray | None:
        """The current epoch's permutation of the training rows, while it is under way, else None."""
        return self._order

    @order.setter
    def order(self, order: np.ndarray | None) -> None:
        self._order = order
        # The rows of the images in the permutation's order: composed with the training set's index once
        # an epoch (or once a checkpoint is loaded), so that a step gathers through one index, not two.
        indexed = order is not None and self.train.rows is not None
        self._order_rows = self.train.rows[order] if indexed else order

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs

    def lr_at(self, step: int) -> float:
        return cosine_lr(self.lr, step, self.total_steps, self.warmup_steps)

    def run_epoch(self, on_batch: Callable[[int], None] | None = None) -> tuple[float, int] | None:
        """Train (the rest of) the current epoch in the order of a fresh permutation.

        Returns ``(seconds, samples)`` of the work done, or None if stopped early on request. Raises
        :class:`Diverged` at the first non-finite loss, before that step updates any weight.
        """
        start = time.perf_counter()
        if self.order is None:
            self.order = self.rng.permutation(self.n_train)
            self.step_in_epoch, self.loss_sum = 0, 0.0
        first_step = self.step_in_epoch
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # the loss check reports those
            self._steps(first_step, on_batch)
        if self.stop_requested:
            return None
        self.epoch += 1
        self.order = None
        return time.perf_counter() - start, self.n_train - first_step * self.batch_size

    def train_epoch(self, on_batch: Callable[[int], None] | None = None) -> EpochMetrics | None:
        """:meth:`run_epoch`, then measure the accuracies and record the epoch's metrics.

        Raises :class:`NotLearning`, without recording the epoch, if its mean training loss is not below
        ``NOT_LEARNING_FRACTION`` of :func:`guess_loss` (unless made with ``stop_if_not_learning=False``).
        """
        done = self.run_epoch(on_batch)
        if done is None:
            return None
        seconds, samples = done
        train_loss = self.loss_sum / self.n_train
        if self.stop_if_not_learning and not train_loss < NOT_LEARNING_FRACTION * self.guess_loss:
            raise NotLearning(self.epoch, train_loss, self.guess_loss, self.lr)
        start = time.perf_counter()
        val_loss, val_accuracy = self._measured(self.validation)
        metrics = EpochMetrics(
            epoch=self.epoch,
            train_loss=train_loss,
            train_accuracy=loss_and_accuracy(self.net, *self.train)[1],
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            test_accuracy=self._measured(self.test)[1],
            seconds=seconds,
            samples_per_second=samples / seconds,
            eval_seconds=time.perf_counter() - start,
            lr=self.lr_at(self.epoch * self.steps_per_epoch - 1),
        )
        self.history.append(metrics)
        return metrics

    def _measured(self, subset: Subset | None) -> tuple[float | None, float | None]:
        return (None, None) if subset is None else loss_and_accuracy(self.net, *subset)

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``step`` of the current epoch's permutation, gathered into the reused batch buffers
        (views of them: valid until the next call)."""
        steps = slice(step * self.batch_size, (step + 1) * self.batch_size)
        return self._gather(self.order[steps], self._order_rows[steps])

    def gather(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The training rows at ``positions`` (0..n_train-1) gathered into the reused batch buffers (views of
        them: valid until the next call), in the network's dtype, by the backend's ``take_rows`` where it
        has one."""
        rows = positions if self.train.rows is None else self.train.rows[positions]
        return self._gather(positions, rows)

    def _gather(self, positions: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The labels at ``positions`` of the training set and the images at ``rows`` of its images (the
        same rows, through its index if it has one)."""
        X, y = self._X_batch[: len(rows)], self._y_batch[: len(rows)]
        # "clip": the indices are valid, and "raise" would gather through a temporary copy. The method with
        # positional arguments: at small batches np.take's keyword call costs more than the gather itself
        if self._take_rows is not None:
            self._take_rows(self.train.images, rows, X)
        elif self._pixel_batch is None:
            self.train.images.take(rows, 0, X, "clip")
        else:
            pixels = self._pixel_batch[: len(rows)]
            self.train.images.take(rows, 0, pixels, "clip")
            scale_pixels(pixels, X.dtype, out=X)
        self.train.labels.take(positions, None, y, "clip")
        return X, y

    def _steps(self, first_step: int, on_batch: Callable[[int], None] | None) -> None:
        for step in range(first_step, self.steps_per_epoch):
            X, y = self.batch(step)
            lr = self.lr_at(self.epoch * self.steps_per_epoch + step)
            loss = self.net.train_step(X, y, self.optimizer, lr, check=False)
            if not math.isfinite(loss):
                raise Diverged(self.epoch + 1, step + 1, loss, self.lr)
            self.loss_sum += loss * len(y)
            self.step_in_epoch = step + 1
            if on_batch is not None:
                on_batch(len(y))
            if self.stop_requested:
                return

    def state(self) -> dict:
        """Everything besides the weights and the optimizer's arrays that resuming needs."""
        return {
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch if self.order is not None else 0,
            "order": self.order,
            "loss_sum": self.loss_sum,
            "rng": self.rng.bit_generator.state,
            "history": [m.as_dict() for m in self.history],
        }

    def load_state(self, state: dict) -> None:
        order = state["order"]
        if order is not None and len(order) != self.n_train:
            raise ValueError(
                f"the checkpoint was saved mid-epoch on {len(order)} training samples, "
                f"this run has {self.n_train}"
            )
        self.epoch = state["epoch"]
        self.step_in_epoch = state["step_in_epoch"]
        self.order = order
        self.loss_sum = state["loss_sum"]
        self.rng.bit_generator.state = state["rng"]
        self.history = [EpochMetrics(**m) for m in state["history"]]
