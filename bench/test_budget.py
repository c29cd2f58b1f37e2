"""The parts of a training step that the per-operation kernels do not show, timed so that the report can
say where a step's time goes and what bounds it.

* At batch 128, a step of the BLAS backend (``reports.roles``) is its BLAS products and element-wise
  kernels (``test_kernels.py``) plus the trainer's batch gather and NumPy's momentum update, timed here.
* A step of the compiled backend (its ``fused_step``) is dominated by the two kernels of the first
  layer: the forward product and the weight gradient fused with each optimizer's update, timed here at
  the batch sizes of the headline targets; at batch 128 also on one thread, to show which parts the
  second core speeds up.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.harness import (
    CLASSES,
    DEFAULT_BATCH,
    DEFAULT_HIDDEN,
    DTYPE,
    INPUTS,
    OPTIMIZER,
    SEED,
    bench_calls,
    layer_sizes,
    make_trainer,
    record_rate,
    use_threads,
)
from kernels import full_size_backends, get_backend, installed_backends
from network import MLP, aligned
from network.optim import OPTIMIZERS, make_optimizer
from reports import claims
from reports.analysis import CALL, STEP_PARTS
from reports.roles import BLAS, COMPILED

STEP_BATCHES = (*claims.SMALL_BATCH, DEFAULT_BATCH)  # the batch sizes of the headline targets
# (batch, threads): every headline batch on every core (None), as the step runs; the epoch study's batch on
# one thread too, for the thread speed-up target
STEP_KERNEL_RUNS = [(batch, None) for batch in STEP_BATCHES] + [(DEFAULT_BATCH, 1)]


@pytest.mark.benchmark(group="optimizer step")
def test_optimizer_step(benchmark, settings):
    """The momentum update of a [784, 128, 10] network: NumPy for every backend but a fused step, so the
    part of the BLAS backend's step that no backend kernel accounts for."""
    net = MLP(layer_sizes(DEFAULT_HIDDEN), seed=SEED)
    optimizer = make_optimizer(OPTIMIZER, net.params)
    grads = [(np.full_like(W, 1e-3), np.full_like(b, 1e-3)) for W, b in net.params]
    use_threads(benchmark, None)
    parameters = sum(W.size + b.size for W, b in net.params)
    benchmark.extra_info.update(
        study="optimizer",
        kernel=f"{OPTIMIZER} update",
        shape=f"{parameters:,} parameters",
        backend=BLAS,
        dtype=DTYPE,
        optimizer=OPTIMIZER,
    )
    bench_calls(
        benchmark,
        lambda: optimizer.step(grads, 1e-3),
        rounds=settings.kernel_rounds,
        round_seconds=settings.kernel_round_seconds,
    )
    # compulsory traffic: read the parameters, gradients and velocities, write parameters and velocities
    record_rate(benchmark, bytes_moved=5 * parameters * np.dtype(DTYPE).itemsize)


@pytest.mark.benchmark(group="batch gather")
@pytest.mark.parametrize(("batch", "threads"), STEP_KERNEL_RUNS)
@pytest.mark.parametrize("backend", full_size_backends())
def test_batch_gather(benchmark, settings, bench_data, backend, batch, threads):
    """``Trainer.batch``: one batch of rows of a shuffled training set gathered into the batch buffer, by
    the backend's ``take_rows`` where it has one, else NumPy's take. Successive calls take successive
    batches of one permutation, as an epoch does."""
    trainer = make_trainer(
        bench_data, backend, batch=batch, hidden=DEFAULT_HIDDEN, samples=settings.epoch_samples
    )
    trainer.order = trainer.rng.permutation(trainer.n_train)
    whole_batches = itertools.cycle(range(trainer.n_train // batch))
    use_threads(benchmark, threads)
    benchmark.extra_info.update(
        study="gather",
        kernel="batch gather",
        shape=f"{batch} of {trainer.n_train:,} rows",
        backend=backend,
        batch=batch,
        dtype=DTYPE,
    )
    bench_calls(
        benchmark,
        lambda: trainer.batch(next(whole_batches)),
        rounds=settings.kernel_rounds,
        round_seconds=settings.kernel_round_seconds,
    )
    # compulsory traffic: read the rows (uint8 pixels, for a data set), write them in the network's dtype
    row_bytes = INPUTS * (bench_data.X_train.itemsize + np.dtype(DTYPE).itemsize)
    record_rate(benchmark, bytes_moved=batch * row_bytes)


# what test_step_kernel times, as the report reads it back: the forward product once (it applies no rule),
# each other part once per optimizer, as "part, optimizer"
TIMED_PARTS = [STEP_PARTS[0], *(f"{part}, {opt}" for part in (*STEP_PARTS[1:], CALL) for opt in OPTIMIZERS)]


def fused_rule(optimizer: str, W: np.ndarray) -> tuple[int, np.ndarray]:
    """The rule and the packed coefficients that ``optimizer`` hands the fused step for a layer ``W``."""
    from kernels.jit import RULE_IDS
    from kernels.jit_rules import pack_coefficients

    update = make_optimizer(optimizer, [(W, np.zeros(W.shape[1], W.dtype))]).fused_update(1e-3)
    return RULE_IDS[update.rule], pack_coefficients(update.coefficients, W.dtype)


@pytest.mark.skipif(COMPILED not in installed_backends(), reason=f"{COMPILED} is not installed")
@pytest.mark.parametrize("part", TIMED_PARTS)
@pytest.mark.parametrize(("batch", "threads"), STEP_KERNEL_RUNS)
def test_step_kernel(benchmark, settings, batch, threads, part):
    """A part of the compiled backend's fused step, timed alone: the first layer's ``X @ W1``; its
    ``X.T @ dZ1`` applied as each optimizer's update of ``W1`` (``jit_matmul.matmul_tn_update``, what the
    step calls, with the coefficients the optimizer hands the step); the output layer with each
    optimizer; or the fixed cost of a fused step's call from Python, which the output layer's timing
    carries once more."""
    rng = np.random.default_rng(SEED)
    kernel, _, optimizer = part.partition(", ")
    make = dict(zip((*STEP_PARTS, CALL), (_forward, _update, _output_layer, _step_call)))
    shape, call, flops, elements = make[kernel](rng, batch, optimizer)
    use_threads(benchmark, threads)
    benchmark.group = f"{COMPILED} step kernels, batch {batch}"
    benchmark.extra_info.update(
        study="step_kernel",
        kernel=kernel,
        shape=shape,
        backend=COMPILED,
        batch=batch,
        dtype=DTYPE,
        optimizer=optimizer or None,
    )
    bench_calls(benchmark, call, rounds=settings.kernel_rounds, round_seconds=settings.kernel_round_seconds)
    record_rate(benchmark, flops=flops, bytes_moved=elements * np.dtype(DTYPE).itemsize)


# Each part: (shape, call, FLOPs, elements of compulsory traffic) for a batch and an optimizer ("" if none).


def _first_layer(rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray, int]:
    X = rng.standard_normal((batch, INPUTS), dtype=np.float32)
    W = aligned.copy(rng.standard_normal((INPUTS, DEFAULT_HIDDEN), dtype=np.float32))  # as the network's
    return X, W, 2 * batch * INPUTS * DEFAULT_HIDDEN


def _forward(rng: np.random.Generator, batch: int, optimizer: str) -> tuple:
    X, W, flops = _first_layer(rng, batch)
    out = aligned.empty((batch, DEFAULT_HIDDEN), np.float32)
    matmul = get_backend(COMPILED).matmul
    shape = f"X @ W1: ({batch}x{INPUTS}) @ ({INPUTS}x{DEFAULT_HIDDEN})"
    return shape, lambda: matmul(X, W, out=out), flops, X.size + W.size + out.size


def _update(rng: np.random.Generator, batch: int, optimizer: str) -> tuple:
    from kernels import jit_matmul
    from kernels.blocking import active_routes
    from kernels.jit_rules import RULES

    X, W, flops = _first_layer(rng, batch)
    dZ = rng.standard_normal((batch, DEFAULT_HIDDEN), dtype=np.float32) * np.float32(1e-3)
    rule, packed_coefficients = fused_rule(optimizer, W)
    state1, state2 = aligned.zeros_like(W), aligned.zeros_like(W)  # a rule ignores the state it does not keep
    shape = f"X.T @ dZ1 into W1 and its state: ({INPUTS}x{batch}) @ ({batch}x{DEFAULT_HIDDEN})"
    elements = X.size + dZ.size + W.size * 2 * (1 + RULES[rule][1])  # W1 and kept state, read and written
    routes = active_routes(W.dtype)
    return (
        shape,
        lambda: jit_matmul.matmul_tn_update(X, dZ, W, rule, state1, state2, packed_coefficients, routes),
        flops,
        elements,
    )


def _output_layer(rng: np.random.Generator, batch: int, optimizer: str) -> tuple:
    """The output layer's part of a step: a fused step of the layer alone (``h @ W2 + b2``, the loss, the
    update of W2 and b2), then the gradient it hands the hidden layer (``dZ2 @ W2.T``, masked in place
    where h is zero, by the step's own mask); called from Python, as the whole step is."""
    from kernels import jit
    from kernels.jit_rules import RULES

    h = aligned.copy(np.maximum(rng.standard_normal((batch, DEFAULT_HIDDEN), dtype=np.float32), 0))
    labels = rng.integers(0, CLASSES, batch)
    layer = MLP([DEFAULT_HIDDEN, CLASSES], backend=COMPILED, dtype=DTYPE, seed=SEED)
    step_optimizer = make_optimizer(optimizer, layer.params)
    W2 = layer.params[0][0]
    dZ = aligned.copy(rng.standard_normal((batch, CLASSES), dtype=np.float32) * np.float32(1e-3))
    dh = aligned.empty_like(h)
    matmul_nt = get_backend(COMPILED).matmul_nt

    def call():
        layer.train_step(h, labels, step_optimizer, 1e-3, check=False)  # as the trainer steps
        matmul_nt(dZ, W2, out=dh)
        jit.mask_inactive(dh, h)

    shape = f"h @ W2, dZ2 @ W2.T, h.T @ dZ2: ({batch}x{DEFAULT_HIDDEN}), ({DEFAULT_HIDDEN}x{CLASSES})"
    keeps = RULES[fused_rule(optimizer, W2)[0]][1]
    elements = 3 * h.size + 2 * dZ.size + W2.size * 2 * (1 + keeps)
    return shape, call, 3 * 2 * batch * DEFAULT_HIDDEN * CLASSES, elements


def _step_call(rng: np.random.Generator, batch: int, optimizer: str) -> tuple:
    """A fused step of a one-row batch through a [1, 10] layer: next to no arithmetic, so the cost of the
    call itself (the network's and the backend's Python, Numba's dispatch), whatever the batch."""
    layer = MLP([1, CLASSES], backend=COMPILED, dtype=DTYPE, seed=SEED)
    step_optimizer = make_optimizer(optimizer, layer.params)
    x, label = np.ones((1, 1), np.float32), np.zeros(1, np.int64)
    return (
        "a [1, 10] step on one row",
        lambda: layer.train_step(x, label, step_optimizer, 1e-3, check=False),
        0,
        0,
    )


@pytest.mark.parametrize("backend", [BLAS, COMPILED])
@pytest.mark.parametrize("moment", ["zero", "subnormal"])
def test_adam_subnormal_moment(benchmark, settings, backend, moment):
    """Adam's batch-1 update of W1 where the gradient is zero, from a first moment that is zero or a small
    subnormal. There ``m = beta1 m`` rounds a subnormal of a few units back to itself (0.9 x 4 units
    rounds to 4): in NumPy's Adam a moment that decays into the subnormals stays there for good, and every
    later step computes on it. The compiled backend's fused rules store such a state as zero
    (``kernels.jit_rules``). The BLAS backend: the optimizer's step on the given (zero) gradient; the
    compiled one: the fused weight gradient + update."""
    if backend not in installed_backends():
        pytest.skip(f"{backend} is not installed")
    X = np.ones((1, INPUTS), np.float32)
    dZ = np.zeros((1, DEFAULT_HIDDEN), np.float32)  # g = X.T @ dZ = 0: m stays what it is
    W = aligned.copy(np.ones((INPUTS, DEFAULT_HIDDEN), np.float32))
    unit = np.finfo(np.float32).smallest_subnormal
    stuck = 4 * unit if moment == "subnormal" else 0
    optimizer = make_optimizer("adam", [(W, np.zeros(DEFAULT_HIDDEN, np.float32))])
    m, v = optimizer.m[0], optimizer.v[0]
    m[...] = stuck
    v[...] = 1  # stays normal: 0.999 ** calls > 1e-38 for the ~10^4 calls timed
    if backend == COMPILED:
        from kernels import jit_matmul
        from kernels.blocking import active_routes

        rule, packed_coefficients = fused_rule("adam", W)
        routes = active_routes(W.dtype)
        update = lambda: jit_matmul.matmul_tn_update(X, dZ, W, rule, m, v, packed_coefficients, routes)  # noqa: E731
    else:
        grads = [(X.T @ dZ, np.zeros(DEFAULT_HIDDEN, np.float32))]
        update = lambda: optimizer.step(grads, 1e-3)  # noqa: E731

    use_threads(benchmark, None)
    benchmark.extra_info.update(
        study="subnormal",
        kernel="adam update of W1, batch 1",
        variant=f"{moment} first moment",
        backend=backend,
        batch=1,
        dtype=DTYPE,
        optimizer="adam",
    )
    bench_calls(benchmark, update, rounds=settings.kernel_rounds, round_seconds=settings.kernel_round_seconds)
    kept = stuck if backend == BLAS else 0  # the fused rule flushed the subnormal at its first call
    assert np.all(m == kept), "the first moment is not where Adam's rule leaves it"
