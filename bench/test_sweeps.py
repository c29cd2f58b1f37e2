"""How the epoch's cost grows: against batch size, hidden width and thread count, for every backend whose
module sets ``full_size`` (numpy, numba, jax; loops' cost per sample is flat and known from the epoch
benchmark, and its sweeps would take hours), and against batch size for PyTorch eager and compiled too.

Every point trains the first ``settings.sweep_samples`` rows per round, fewer below batch 8
(``batch_round_samples``; a batch-1 epoch of 60,000 steps would take minutes per round); the report gives
time per sample and the epoch scaled from it. Each point
is its own group, so pytest-benchmark's table compares the two backends doing the same work.
"""

from __future__ import annotations

import pytest

from bench.harness import OPTIMIZER, batch_round_samples, bench_epoch
from bench.test_headline import require
from kernels import full_size_backends
from network.optim import OPTIMIZERS
from reports.roles import BLAS, COMPILED, PEERS

BACKENDS = full_size_backends()
BATCH_SIZES = [1, 2, 4, 8, 12, 16, 24, 32, 64, 128, 256, 512]  # no crossover hides between them
HIDDEN_WIDTHS = [64, 128, 256, 512]


# (optimizer, backend) at each batch size: every backend and both of PyTorch's forms (eager and
# torch.compile) with the study's optimizer; the BLAS and the compiled backend with every other optimizer
# too, so that the report can say at which batch sizes one leads the other for each
BATCH_POINTS = [(OPTIMIZER, backend) for backend in [*BACKENDS, *PEERS]] + [
    (optimizer, backend)
    for optimizer in OPTIMIZERS
    if optimizer != OPTIMIZER
    for backend in (BLAS, COMPILED)
    if backend in BACKENDS
]


@pytest.mark.parametrize(("optimizer", "backend"), BATCH_POINTS, ids=lambda value: value)
@pytest.mark.parametrize("batch", BATCH_SIZES)
def test_batch_size(benchmark, settings, bench_data, batch, optimizer, backend):
    require(backend)
    benchmark.group = f"sweep batch={batch}, {optimizer}"
    bench_epoch(
        benchmark,
        bench_data,
        study="batch",
        backend=backend,
        batch=batch,
        samples=batch_round_samples(settings, batch),
        rounds=settings.sweep_rounds,
        optimizer=optimizer,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("hidden", HIDDEN_WIDTHS)
def test_hidden_width(benchmark, settings, bench_data, hidden, backend):
    benchmark.group = f"sweep hidden={hidden}"
    bench_epoch(
        benchmark,
        bench_data,
        study="width",
        backend=backend,
        hidden=hidden,
        samples=settings.sweep_samples,
        rounds=settings.sweep_rounds,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("threads", [1, None], ids=["1-thread", "all-threads"])
def test_threads(benchmark, settings, bench_data, threads, backend):
    benchmark.group = f"sweep threads {backend}"
    bench_epoch(
        benchmark,
        bench_data,
        study="threads",
        backend=backend,
        threads=threads,
        samples=settings.sweep_samples,
        rounds=settings.sweep_rounds,
    )
