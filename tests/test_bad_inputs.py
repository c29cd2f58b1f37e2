"""No input crashes the interpreter: every public entry point of the network and every operation of every
backend turns a label outside the classes, a wrong shape or a wrong dtype into a ValueError that names it.

The planted labels include -100000000, which the numba backend's compiled kernels once used as an index
(the process died of SIGSEGV); the subprocess test shows the process now lives to report it.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from network.model import MLP
from network.optim import make_optimizer

SIZES = [6, 5, 10]
BAD_LABELS = [-1, 10, -100_000_000, 2**40]
ROWS = 4


def batch(bad_label: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A batch for a network of ``SIZES``; its third label is ``bad_label`` if given."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], ROWS)
    if bad_label is not None:
        y[2] = bad_label
    return X, y


def weights(net: MLP) -> list[np.ndarray]:
    return [array.copy() for pair in net.params for array in pair]


@pytest.mark.parametrize("check", [True, False])
@pytest.mark.parametrize("bad", BAD_LABELS)
def test_train_step_refuses_a_label_outside_the_classes_and_updates_nothing(backend, bad, check):
    """``check=False`` (the trainer's) leaves the check to the backend's kernels."""
    net = MLP(SIZES, backend=backend.name)
    before = weights(net)
    with pytest.raises(ValueError, match=rf"labels must be in 0\.\.9, got {bad}\b"):
        net.train_step(*batch(bad), make_optimizer("momentum", net.params), 0.1, check=check)
    for old, new in zip(before, weights(net)):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("check", [True, False])
@pytest.mark.parametrize("bad", BAD_LABELS)
def test_loss_and_grads_refuses_a_label_outside_the_classes(backend, bad, check):
    with pytest.raises(ValueError, match=rf"labels must be in 0\.\.9, got {bad}\b"):
        MLP(SIZES, backend=backend.name).loss_and_grads(*batch(bad), check=check)


BAD_BATCHES = [
    (lambda X, y: (X[:, :-1], y), "X has 5 features per row, the network expects 6"),
    (lambda X, y: (X[0], y), r"X must be 2-D \(batch, features\), got shape \(6,\)"),
    (lambda X, y: (X.astype(str), y), "X must be numeric, got dtype <U"),
    (lambda X, y: (X, y[:-1]), "X has 4 rows but y has 3 labels"),
    (lambda X, y: (X, y.astype(np.float32)), "labels must be integers, got dtype float32"),
    (lambda X, y: (X, y[:, None]), r"y must be 1-D \(batch,\), got shape \(4, 1\)"),
]


@pytest.mark.parametrize(("spoil", "message"), BAD_BATCHES)
def test_train_step_and_loss_and_grads_refuse_a_wrong_shape_or_dtype(backend, spoil, message):
    net = MLP(SIZES, backend=backend.name)
    X, y = spoil(*batch())
    with pytest.raises(ValueError, match=message):
        net.train_step(X, y, make_optimizer("sgd", net.params), 0.1)
    with pytest.raises(ValueError, match=message):
        net.loss_and_grads(X, y)


@pytest.mark.parametrize(("spoil", "message"), BAD_BATCHES[:3])
def test_forward_refuses_a_wrong_shape_or_dtype(backend, spoil, message):
    X, _ = spoil(*batch())
    with pytest.raises(ValueError, match=message):
        MLP(SIZES, backend=backend.name).forward(X)


def f32(*shape: int) -> np.ndarray:
    return np.ones(shape, np.float32)


# (operation, arguments, what the message names)
BAD_OPERATIONS = [
    ("matmul", (f32(3, 4), f32(5, 2)), r"matmul: a of shape \(3, 4\) and b of shape \(5, 2\) do not fit"),
    ("matmul", (f32(3, 4), f32(4, 2), f32(3, 3)), r"matmul: out has shape \(3, 3\), expected \(3, 2\)"),
    ("matmul_tn", (f32(3, 4), f32(4, 2)), r"matmul_tn: a of shape \(3, 4\) and b of shape \(4, 2\)"),
    ("matmul_nt", (f32(3, 4), f32(2, 5)), r"matmul_nt: a of shape \(3, 4\) and b of shape \(2, 5\)"),
    ("matmul", (f32(3, 4), np.ones((4, 2))), "matmul: b has dtype float64, the other arguments float32"),
    ("matmul", (np.ones((3, 4), np.int64), f32(4, 2)), "matmul: a has dtype int64, expected float32 or"),
    ("matmul", (f32(3, 4), f32(4, 2), f32(3, 4)[:, :2]), "matmul: out must be C-contiguous"),
    ("add_bias", (f32(3, 4), f32(3)), r"add_bias: b must be float32 of shape \(4,\), got float32 \(3,\)"),
    ("relu", (f32(12),), r"relu: the first argument must be 2-D, got shape \(12,\)"),
    ("relu", (f32(3, 4), np.ones((3, 4))), "relu: out has dtype float64, the inputs float32"),
    ("relu_backward", (f32(3, 4), f32(4, 3)), r"relu_backward: a has shape \(4, 3\), expected \(3, 4\)"),
    ("softmax", ([[1.0, 2.0]],), "softmax: the first argument must be a NumPy array, got list"),
    ("softmax_xent", (f32(3, 4), np.zeros(2, np.int64)), r"labels must have shape \(3,\), one per row"),
    ("softmax_xent", (f32(3, 4), np.zeros(3)), "softmax_xent: labels must be an integer array, got float64"),
    ("column_sums", (f32(3, 4), f32(3)), r"column_sums: out has shape \(3,\), expected \(4,\)"),
]


@pytest.mark.parametrize(("operation", "arguments", "message"), BAD_OPERATIONS)
def test_each_operation_refuses_a_wrong_shape_or_dtype(backend, operation, arguments, message):
    with pytest.raises(ValueError, match=message):
        getattr(backend, operation)(*arguments)


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("bad", BAD_LABELS)
def test_softmax_xent_refuses_a_label_outside_the_classes_before_writing(backend, bad, in_place):
    logits = np.arange(40, dtype=np.float32).reshape(ROWS, 10)
    before = logits.copy()
    with pytest.raises(
        ValueError, match=rf"^softmax_xent: labels must be in 0\.\.9, got {bad} \(1 outside\)$"
    ):
        backend.softmax_xent(logits, batch(bad)[1], out=logits if in_place else None)
    np.testing.assert_array_equal(logits, before)


@pytest.mark.parametrize("bad", BAD_LABELS)
def test_a_fused_step_refuses_a_label_outside_the_classes(backend, bad):
    if not getattr(backend, "fused_rules", ()):
        pytest.skip(f"the {backend.name} backend has no fused step")
    net = MLP(SIZES, backend=backend.name)
    X, y = batch(bad)
    ws = net._workspace(len(X))
    update = make_optimizer("sgd", net.params).fused_update(0.1)
    before = weights(net)
    with pytest.raises(ValueError, match=rf"^fused_step: labels must be in 0\.\.9, got {bad} \(1 outside\)$"):
        backend.fused_step(
            update, (X, *ws.hidden), (*ws.hidden_grads, ws.probs), net.params, [db for _, db in net.grads], y
        )
    for old, new in zip(before, weights(net)):
        np.testing.assert_array_equal(old, new)


def test_a_fused_step_refuses_scratch_buffers_of_another_batch(backend):
    if not getattr(backend, "fused_rules", ()):
        pytest.skip(f"the {backend.name} backend has no fused step")
    net = MLP(SIZES, backend=backend.name)
    X, y = batch()
    ws = net._workspace(len(X) - 1)
    update = make_optimizer("sgd", net.params).fused_update(0.1)
    with pytest.raises(
        ValueError, match=r"fused_step: activations\[1\] has shape \(3, 5\), expected \(4, 5\)"
    ):
        backend.fused_step(
            update, (X, *ws.hidden), (*ws.hidden_grads, ws.probs), net.params, [db for _, db in net.grads], y
        )


def test_a_gather_of_rows_outside_the_source_is_refused(backend):
    if not hasattr(backend, "take_rows"):
        pytest.skip(f"the {backend.name} backend has no take_rows")
    source = np.zeros((100, 1000), np.float32)  # a batch this large takes the numba backend's parallel route
    rows = np.arange(64)
    rows[5] = -100_000_000
    with pytest.raises(ValueError, match=r"take_rows: rows must be in 0\.\.99"):
        backend.take_rows(source, rows, np.empty((64, 1000), np.float32))


# A step with the label that killed the interpreter, past the network's check, on the backend's own kernels.
CRASHED_ONCE = """
import numpy as np
from network.model import MLP
from network.optim import make_optimizer
net = MLP([6, 5, 10], backend={backend!r})
X, y = np.ones((3, 6), np.float32), np.array([1, -100000000, 2])
try:
    net.train_step(X, y, make_optimizer("momentum", net.params), 0.1, check=False)
except ValueError as error:
    print(error)
"""


@pytest.mark.slow
def test_the_label_that_killed_the_interpreter_is_a_value_error_in_a_process_of_its_own(backend):
    done = subprocess.run(
        [sys.executable, "-c", CRASHED_ONCE.format(backend=backend.name)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-2000:]}"
    assert "labels must be in 0..9, got -100000000 (1 outside)" in done.stdout
