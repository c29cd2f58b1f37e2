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

from bench.harness import (
    OPTIMIZER,
    WARMUP_ROUNDS,
    batch_round_samples,
    bench_epoch,
    kept_epoch_side,
    time_side,
)
from bench.settings import SETTINGS_KEY
from bench.spread import BLOCK
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each batch-sweep point in ``settings.sweep_blocks`` blocks, spread over the run (``bench.spread``):
    a slow stretch of the machine that held all of a point's rounds once made a step dearer at a smaller
    batch, and numba's lead vanish at one point, in the report of one run and not the next."""
    if metafunc.definition.originalname == "test_batch_size":
        blocks = metafunc.config.stash[SETTINGS_KEY].sweep_blocks
        metafunc.parametrize(BLOCK, range(blocks), ids=lambda b: f"{BLOCK}{b}")


@pytest.mark.parametrize(("optimizer", "backend"), BATCH_POINTS, ids=lambda value: value)
@pytest.mark.parametrize("batch", BATCH_SIZES)
def test_batch_size(benchmark, settings, bench_data, batch, optimizer, backend, block):
    """One block of a point's rounds (``settings.sweep_rounds`` in all); the first block also warms the
    epoch up, the later ones time the same, kept trainer."""
    require(backend)
    benchmark.group = f"sweep batch={batch}, {optimizer}"
    samples = batch_round_samples(settings, batch)
    side, new = kept_epoch_side(bench_data, backend, samples=samples, batch=batch, optimizer=optimizer)
    rounds = -(-settings.sweep_rounds // settings.sweep_blocks)  # at least sweep_rounds in all
    time_side(benchmark, side, study="batch", rounds=rounds, warmup_rounds=WARMUP_ROUNDS if new else 0)


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
