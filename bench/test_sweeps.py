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
from bench.settings import SETTINGS_KEY, BenchSettings
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


def sweep_blocks(settings: BenchSettings, backend: str) -> int:
    """The blocks of a sweep point of ``backend`` (a batch size or a hidden width): ``settings.sweep_blocks``
    for the two backends the report weighs against each other point by point (``reports.analysis.lead``),
    spread over the run (``bench.spread``): a slow stretch of the machine that held all of a point's rounds
    once made numba's step dearer at a smaller batch, and its lead vanish at one point, in one run and not
    the next. One for the rest: each block has its own warm-up round."""
    return settings.sweep_blocks if backend in (BLAS, COMPILED) else 1


def block_rounds(settings: BenchSettings, backend: str) -> int:
    """Timed rounds in each of a sweep point's blocks: ``settings.sweep_rounds`` in all, at least."""
    return -(-settings.sweep_rounds // sweep_blocks(settings, backend))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The sweeps of ``SPREAD`` at each of their points' blocks (``sweep_blocks``): ``test_batch_size`` at
    each (block, optimizer, backend) of ``BATCH_POINTS``, ``test_hidden_width`` at each (block, backend)."""
    settings = metafunc.config.stash[SETTINGS_KEY]
    name = metafunc.definition.originalname
    if name == "test_batch_size":
        points = [
            (block, optimizer, backend)
            for optimizer, backend in BATCH_POINTS
            for block in range(sweep_blocks(settings, backend))
        ]
        ids = [f"{BLOCK}{block}-{optimizer}-{backend}" for block, optimizer, backend in points]
        metafunc.parametrize((BLOCK, "optimizer", "backend"), points, ids=ids)
    elif name == "test_hidden_width":
        points = [
            (block, backend) for backend in BACKENDS for block in range(sweep_blocks(settings, backend))
        ]
        ids = [f"{BLOCK}{block}-{backend}" for block, backend in points]
        metafunc.parametrize((BLOCK, "backend"), points, ids=ids)


@pytest.mark.parametrize("batch", BATCH_SIZES)
def test_batch_size(benchmark, settings, bench_data, batch, optimizer, backend, block):
    """One block of a point's rounds (``settings.sweep_rounds`` in all), after its own warm-up round: a
    block's first round after other tests, warmed by one step only, was up to twice as long as the
    next."""
    require(backend)
    benchmark.group = f"sweep batch={batch}, {optimizer}"
    bench_epoch(
        benchmark,
        bench_data,
        study="batch",
        backend=backend,
        batch=batch,
        samples=batch_round_samples(settings, batch),
        rounds=block_rounds(settings, backend),
        optimizer=optimizer,
    )


@pytest.mark.parametrize("hidden", HIDDEN_WIDTHS)
def test_hidden_width(benchmark, settings, bench_data, hidden, backend, block):
    """One block of a point's rounds, as ``test_batch_size``."""
    benchmark.group = f"sweep hidden={hidden}"
    bench_epoch(
        benchmark,
        bench_data,
        study="width",
        backend=backend,
        hidden=hidden,
        samples=settings.sweep_samples,
        rounds=block_rounds(settings, backend),
    )


# the sweeps whose points' rounds are in blocks spread over the run, each point joined into one benchmark
# in the run's JSON (``bench.spread.join_blocks``)
SPREAD = (test_batch_size.__name__, test_hidden_width.__name__)


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
