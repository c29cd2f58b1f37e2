"""The headline ratios, each from rounds that alternate its two sides (b a b a ...: ``bench_paired``).

On a shared machine that drifts, two sides timed minutes apart see different machines, and their ratio
moves from run to run by more than either side's spread. Here each round of side a follows a round of
side b, so both sides get the same moments of the machine. The pairs come in blocks spread over the run
(``bench.spread``), each block in a Python process of its own (``bench.blocks``: a process's own
effects show between blocks); a block's ratio is its sides' fastest rounds, a block that the machine
slowed is measured again in a spare block at the run's end, and the report treats the blocks as its unit
(``reports.analysis``) and, where a quantity has a bound, says whether it is met.

One benchmark per quantity, all in the group "headline" (pytest-benchmark's own times are side a's):

* the compiled backend's epoch over the BLAS backend's at batch 128 for every optimizer, and over PyTorch's
  with momentum, whole epochs;
* the BLAS backend's epoch over the compiled backend's at the small batch sizes for every optimizer, up to
  ``bench.harness.batch_round_samples`` rows per round;
* ``<backend> epoch / floor`` for every registered backend and PyTorch: the floor is the round's FLOPs at
  the machine's measured peak, so side b is one call of the float32 FMA peak probe at the widest vector
  width on the same threads, and ``scale`` is the probe's FLOPs over the round's;
* ``<backend> epoch, 1 thread / all threads`` for every ``full_size`` backend: the speed-up of the cores;
* the compiled backend's two large products over their floor on one thread and on all, as the epoch's.

The bounds are the study's targets; the report decides whether one applies (e.g. a thread speed-up where
the cores are not independent). Which backends are the compiled and the BLAS one, ``reports.roles`` says.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest

from bench.blocks import block_tests, run_block
from bench.bounds import assert_matmul_within_bound
from bench.harness import (
    DEFAULT_BATCH,
    DTYPE,
    OPTIMIZER,
    PEER,
    SEED,
    TORCH_MISSING,
    Side,
    batch_round_samples,
    bench_paired,
    epoch_side,
    round_samples,
)
from bench.machine import check_probe, fma_peak_probe, widest_vector_bits
from bench.settings import SETTINGS_KEY
from bench.test_kernels import KERNELS, Kernel
from kernels import full_size_backends, get_backend, installed_backends, missing_backends
from kernels.threads import available_cores, set_threads
from network.optim import OPTIMIZERS
from reports import claims
from reports.roles import ARRAY_COMPILER, BLAS, COMPILED, PEERS

ARRAY_COMPILER_BATCHES = (1, 8, DEFAULT_BATCH)  # dispatch-bound, small, product-bound
# the step's two large products (nearly all of its FLOPs at batch 128) -> their operands as ``a @ b``
PRODUCTS = {"matmul_forward": lambda a, b: (a, b), "matmul_weight_grad": lambda a, b: (a.T, b)}
# a product's round: its calls in this many epochs' steps at batch 128. On all threads one epoch's calls
# (60 ms) spread 15% from block to block with the machine's moment, twice the epoch pairs' spread
PRODUCT_ROUND_EPOCHS = 3

pytestmark = pytest.mark.benchmark(group="headline")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every headline test once per block (``settings.headline_blocks``) and once per spare block
    (``settings.headline_spare_blocks``); ``bench.spread`` places the blocks apart in the run, so that each
    ratio's pairs sample the machine over the whole run, not over the few seconds of one test: the
    machine's state changes over seconds to minutes, and a ratio drawn from one stretch of it would move
    from run to run by more than its interval. The spares come last, and run only for a ratio with a
    block that the machine slowed (``bench.blocks.run_block``)."""
    settings = metafunc.config.stash[SETTINGS_KEY]
    blocks = settings.headline_blocks + settings.headline_spare_blocks
    metafunc.parametrize("block", range(blocks), ids=lambda b: f"block{b}")


@pytest.fixture(autouse=True)
def _block_index(benchmark, block: int):
    """Every block records its index (the report joins a ratio's blocks in this order) and its process
    (the report says whether each block had one of its own)."""
    benchmark.extra_info.update(block=block, process=os.getpid())


def test_block_in_own_process(benchmark, pytestconfig, block: int):
    """This block of every headline ratio (a spare block: of those still short of full-speed blocks), in
    a Python process of its own (``bench.blocks``). Its own time, the process's, is not kept. A skip
    comes before the benchmark starts: a benchmark skipped inside has no rounds, and pytest-benchmark
    cannot write its JSON."""
    nodeids = block_tests(pytestconfig, block)
    if not nodeids:
        pytest.skip(f"no headline ratio needs block {block}")
    benchmark.pedantic(run_block, args=(pytestconfig, block, nodeids), rounds=1, iterations=1)


def require(backend: str) -> None:
    """Skip, saying why, when ``backend`` cannot run here: PyTorch missing for a peer (a backend whose
    library is missing is not parametrized: ``kernels.installed_backends``)."""
    if backend in PEERS:
        pytest.importorskip("torch", reason=TORCH_MISSING)


def epoch_pair(
    benchmark, settings, data, a: str, b: str, *, batch: int, samples: int, optimizer: str, **target
) -> None:
    """``a``'s epoch over ``b``'s, both training ``samples`` rows per round at ``batch`` with ``optimizer``
    on every core."""
    require(a)
    require(b)
    bench_paired(
        benchmark,
        epoch_side(data, a, samples=samples, batch=batch, optimizer=optimizer),
        epoch_side(data, b, samples=samples, batch=batch, optimizer=optimizer),
        rounds=settings.headline_rounds,
        quantity=f"{a} epoch / {b} epoch, batch {batch}, {optimizer}",
        **target,
    )


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_compiled_over_blas(benchmark, settings, bench_data, optimizer):
    epoch_pair(
        benchmark,
        settings,
        bench_data,
        COMPILED,
        BLAS,
        batch=DEFAULT_BATCH,
        samples=settings.epoch_samples,
        optimizer=optimizer,
        bound=claims.COMPILED_OVER_BLAS.bound,
        sense=claims.COMPILED_OVER_BLAS.sense,
    )


def test_compiled_over_peer(benchmark, settings, bench_data):
    epoch_pair(
        benchmark,
        settings,
        bench_data,
        COMPILED,
        PEER,
        batch=DEFAULT_BATCH,
        samples=settings.epoch_samples,
        optimizer=OPTIMIZER,
    )


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("batch", list(claims.SMALL_BATCH))
def test_blas_over_compiled_small_batch(benchmark, settings, bench_data, batch, optimizer):
    epoch_pair(
        benchmark,
        settings,
        bench_data,
        BLAS,
        COMPILED,
        batch=batch,
        samples=batch_round_samples(settings, batch),
        optimizer=optimizer,
        bound=claims.SMALL_BATCH[batch].bound,
        sense=claims.SMALL_BATCH[batch].sense,
    )


@pytest.mark.parametrize("batch", ARRAY_COMPILER_BATCHES)
def test_compiled_loops_over_compiled_arrays(benchmark, settings, bench_data, batch):
    """Hand-written compiled loops against a compiler of the vectorised form, where dispatch dominates
    (batch 1), where the step is small (8) and where the products dominate (128). No bound: a measurement."""
    if ARRAY_COMPILER in (missing := missing_backends()):
        pytest.skip(missing[ARRAY_COMPILER])
    epoch_pair(
        benchmark,
        settings,
        bench_data,
        COMPILED,
        ARRAY_COMPILER,
        batch=batch,
        samples=batch_round_samples(settings, batch),
        optimizer=OPTIMIZER,
    )


def peak_probe(threads: int) -> Side:
    """One call of the float32 FMA peak probe at the widest vector width on ``threads`` threads. Its info
    carries the FLOPs of a call and the verdict on the probe's assembly (is it the FMAs it claims?)."""
    bits = widest_vector_bits()
    probe, flops = fma_peak_probe(DTYPE, bits, threads)
    verdict = check_probe(DTYPE, bits)
    info = {
        "kind": "fma peak probe",
        "dtype": DTYPE,
        "vector_bits": bits,
        "threads": threads,
        "flops": flops,
        "asm_ok": verdict.ok,
        "asm_check": verdict.reason,
    }
    return Side(f"{DTYPE} FMA peak probe, {bits}-bit, {threads} threads", probe, info)


@pytest.mark.parametrize("backend", [*installed_backends(), PEER])
def test_epoch_over_floor(benchmark, settings, bench_data, backend):
    """ratio_i = a_i * peak_i / round_flops, peak_i = probe_flops / b_i: the epoch in floors."""
    require(backend)
    epoch = epoch_side(bench_data, backend, samples=round_samples(settings, backend))
    claim = claims.FLOOR.get(backend)  # the other backends' floors are measured, not bounded
    pair_with_floor(benchmark, settings, epoch, f"{backend} epoch / floor", claim)


def pair_with_floor(benchmark, settings, side: Side, quantity: str, claim: claims.Claim | None) -> None:
    """``side`` against its floor: side b is the peak probe on ``side``'s threads, ``scale`` the probe's
    FLOPs over the side's (the probe's calibration differs from process to process, the side's work
    does not)."""
    floor = peak_probe(side.info["threads"])
    bench_paired(
        benchmark,
        side,
        floor,
        rounds=settings.headline_rounds,
        quantity=quantity,
        scale=floor.info["flops"] / side.info["flops"],
        bound=None if claim is None else claim.bound,
        sense=None if claim is None else claim.sense,
    )


def product_side(kernel: Kernel, backend: str, threads: int | None, calls: int) -> Side:
    """Rounds of ``calls`` calls of ``backend``'s ``kernel`` (a product of ``PRODUCTS``) on ``threads``
    threads (None: every core), checked against the float64 product before any is timed."""
    call = getattr(get_backend(backend), kernel.op)
    a, b, out = kernel.make_args(np.random.default_rng(SEED))
    n = set_threads(threads)
    call(a, b, out=out)  # on the thread count it is timed with: the serial and parallel routes differ
    assert_matmul_within_bound(out, *PRODUCTS[kernel.name](a, b))

    def run() -> None:
        for _ in range(calls):
            call(a, b, out=out)

    def prepare() -> None:
        set_threads(n)
        call(a, b, out=out)  # wakes the thread pool the round uses

    info = {"kind": "product", "backend": backend, "kernel": kernel.name, "shape": kernel.shape}
    info |= {"threads": n, "dtype": DTYPE, "flops": calls * kernel.flops}
    return Side(f"{backend} {kernel.name}, {n} thread(s)", run, info, prepare=prepare)


@pytest.mark.parametrize("threads", [1, None], ids=["1-thread", "all-threads"])
@pytest.mark.parametrize("kernel", [k for k in KERNELS if k.name in PRODUCTS], ids=lambda k: k.name)
def test_product_over_floor(benchmark, settings, kernel, threads):
    """The compiled backend's large products in floors: their FLOPs at the FMA peak on as many threads.
    A round is the product's calls in ``PRODUCT_ROUND_EPOCHS`` epochs' steps at batch 128."""
    if threads is None and available_cores() < 2:
        pytest.skip("1 thread available: all threads are the 1-thread case")
    calls = PRODUCT_ROUND_EPOCHS * settings.epoch_samples // DEFAULT_BATCH
    product = product_side(kernel, COMPILED, threads, calls)
    on = "1 thread" if threads == 1 else "all threads"
    pair_with_floor(
        benchmark, settings, product, f"{COMPILED} {kernel.name} / floor, {on}", claims.PRODUCT_FLOOR[threads]
    )


@pytest.mark.parametrize("backend", full_size_backends())
def test_thread_speedup(benchmark, settings, bench_data, backend):
    """One thread's epoch over all threads' (batch 128, whole epochs)."""
    if getattr(get_backend(backend), "own_thread_pool", False):
        pytest.skip(f"{backend} runs on its own thread pool, sized as it starts: --threads does not reach it")
    all_threads = epoch_side(bench_data, backend, samples=settings.epoch_samples)
    cores = all_threads.info["threads"]
    if cores < 2:
        pytest.skip(f"{cores} thread available: no speed-up to measure")
    one_thread = epoch_side(bench_data, backend, samples=settings.epoch_samples, threads=1)
    claim = claims.THREADS.get(backend)
    bench_paired(
        benchmark,
        replace(one_thread, label=f"{backend} epoch, 1 thread"),
        replace(all_threads, label=f"{backend} epoch, {cores} threads"),
        rounds=settings.headline_rounds,
        quantity=f"{backend} epoch, 1 thread / all threads",
        bound=None if claim is None else claim.bound,
        sense=None if claim is None else claim.sense,
    )
