"""The parts of a training step that the per-operation kernels do not show, timed so that the report can
say where a step's time goes and what bounds it.

* At batch 128, a numpy step is its BLAS products and element-wise kernels (``test_kernels.py``) plus the
  trainer's batch gather and NumPy's momentum update, timed here.
* At small batches, a numba step (its ``fused_step``) is dominated by the two kernels that stream
  the first layer's weights: the forward product and the weight gradient fused with the momentum update,
  timed here at those batch sizes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.harness import (
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
from kernels import available_backends, get_backend
from network import MLP
from network.optim import make_optimizer

SMALL_BATCHES = (8, 16)  # the batch sizes of the small-batch target (1 is met by a wide margin)


@pytest.mark.benchmark(group="optimizer step")
def test_optimizer_step(benchmark, settings):
    """The momentum update of a [784, 128, 10] network: NumPy for every backend but numba's fused step,
    so the part of a numpy step that no backend kernel accounts for."""
    net = MLP(layer_sizes(DEFAULT_HIDDEN), seed=SEED)
    optimizer = make_optimizer(OPTIMIZER, net.params)
    grads = [(np.full_like(W, 1e-3), np.full_like(b, 1e-3)) for W, b in net.params]
    use_threads(benchmark, None)
    parameters = sum(W.size + b.size for W, b in net.params)
    benchmark.extra_info.update(
        study="optimizer",
        kernel=f"{OPTIMIZER} update",
        shape=f"{parameters:,} parameters",
        backend="numpy",
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
def test_batch_gather(benchmark, settings, bench_data):
    """``Trainer.batch``: one batch of rows of a shuffled training set gathered into the batch buffer, the
    same for every backend. Successive calls take successive batches of one permutation, as an epoch does."""
    trainer = make_trainer(
        bench_data, "numpy", batch=DEFAULT_BATCH, hidden=DEFAULT_HIDDEN, samples=settings.epoch_samples
    )
    trainer.order = trainer.rng.permutation(len(trainer.X_train))
    whole_batches = itertools.cycle(range(len(trainer.X_train) // DEFAULT_BATCH))
    use_threads(benchmark, None)
    benchmark.extra_info.update(
        study="gather",
        kernel="batch gather",
        shape=f"{DEFAULT_BATCH} of {len(trainer.X_train):,} rows",
        backend="numpy",
        batch=DEFAULT_BATCH,
        dtype=DTYPE,
    )
    bench_calls(
        benchmark,
        lambda: trainer.batch(next(whole_batches)),
        rounds=settings.kernel_rounds,
        round_seconds=settings.kernel_round_seconds,
    )
    record_rate(benchmark, bytes_moved=2 * DEFAULT_BATCH * INPUTS * bench_data.X_train.itemsize)


@pytest.mark.skipif("numba" not in available_backends(), reason="numba is not installed")
@pytest.mark.parametrize("part", ["forward product", "weight gradient + update"])
@pytest.mark.parametrize("batch", SMALL_BATCHES)
def test_small_batch_kernel(benchmark, settings, batch, part):
    """numba's two first-layer kernels of a fused step at a small batch: ``X @ W1``, and ``X.T @ dZ1``
    applied as the momentum update of ``W1`` (``jit_matmul.matmul_tn_update``, what the step calls)."""
    from kernels import jit_matmul
    from kernels.jit_rules import Epilogue, coefficients

    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((batch, INPUTS), dtype=np.float32)
    W = rng.standard_normal((INPUTS, DEFAULT_HIDDEN), dtype=np.float32)
    if part == "forward product":
        shape = f"X @ W1: ({batch}x{INPUTS}) @ ({INPUTS}x{DEFAULT_HIDDEN})"
        out = np.empty((batch, DEFAULT_HIDDEN), np.float32)
        matmul = get_backend("numba").matmul

        def call():
            matmul(X, W, out=out)

    else:
        shape = f"X.T @ dZ1 into W1, V1: ({INPUTS}x{batch}) @ ({batch}x{DEFAULT_HIDDEN})"
        dZ = rng.standard_normal((batch, DEFAULT_HIDDEN), dtype=np.float32) * np.float32(1e-3)
        V = np.zeros_like(W)
        coef = coefficients({"lr": 1e-3, "momentum": 0.9}, np.float32)

        def call():
            jit_matmul.matmul_tn_update(X, dZ, W, int(Epilogue.MOMENTUM), V, V, coef)

    use_threads(benchmark, None)
    benchmark.group = f"small batch {batch}"
    benchmark.extra_info.update(
        study="small_batch", kernel=part, shape=shape, backend="numba", batch=batch, dtype=DTYPE
    )
    bench_calls(benchmark, call, rounds=settings.kernel_rounds, round_seconds=settings.kernel_round_seconds)
    # compulsory traffic: the inputs, W1 (and V1) read, the output (W1 and V1) written
    weights = INPUTS * DEFAULT_HIDDEN * (1 if part == "forward product" else 4)
    elements = batch * INPUTS + batch * DEFAULT_HIDDEN + weights
    record_rate(benchmark, flops=2 * batch * INPUTS * DEFAULT_HIDDEN, bytes_moved=elements * X.itemsize)
