"""The machine's limits, measured in the run they bound: peak multiply-add rate and memory bandwidth.

``test_peak`` times the FMA probe of ``bench.machine`` at the widest vectors for float32 and float64, on one
thread and on every core, at the START and at the END of the session (``order_probes`` puts them there):
a peak that moved between the two says the machine changed under the run (clock, heat, other work). The
next narrower width runs once, at the start: against the widest it says whether the wide FMAs run at full
width or in halves. Each probe's assembly is checked before it is timed, and the verdict recorded.

``test_bandwidth`` times a STREAM-like triad at working sets in L1, L2, L3 and DRAM, on one thread and on
every core. Every row also records ``busy_elsewhere``: cores' worth of CPU that other processes took
while it was timed, without which an all-core rate on a shared machine cannot be read.
"""

from __future__ import annotations

import pytest

from bench import machine
from bench.harness import bench_calls, record_rate, settle, use_threads

WIDEST = machine.widest_vector_bits()
NARROWER = [bits for bits in machine.supported_vector_bits() if bits < WIDEST][:1]
DTYPES = ["float32", "float64"]
THREADS = {"1-thread": 1, "all-threads": None}  # None: every available core (kernels.threads)

PEAK_CASES = [
    pytest.param(when, dtype, bits, threads, id=f"{when}-{dtype}-{bits}bit-{name}")
    for when, widths in (("start", [WIDEST, *NARROWER]), ("end", [WIDEST]))
    for bits in widths
    for dtype in DTYPES
    for name, threads in THREADS.items()
]
_POSITION = {"start": 0, "end": 2}  # every other test sits at 1, in its collected order


def order_probes(items: list[pytest.Item]) -> None:
    """Reorder a session's ``items`` in place: the "start" peak probes first, the "end" ones last.

    For ``pytest_collection_modifyitems`` in ``bench/conftest.py``. The sort is stable: every other test,
    and the probes among themselves, keep their collected order.
    """

    def position(item: pytest.Item) -> int:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "originalname", None) != test_peak.__name__ or callspec is None:
            return 1
        return _POSITION.get(callspec.params.get("when"), 1)

    items.sort(key=position)


def _timed(benchmark, fn, settings) -> None:
    """``bench_calls`` with the load of the rest of the machine recorded beside the times."""
    before = machine.cpu_sample()
    bench_calls(benchmark, fn, rounds=settings.kernel_rounds, round_seconds=settings.kernel_round_seconds)
    benchmark.extra_info["busy_elsewhere"] = machine.busy_elsewhere(before)


@pytest.mark.parametrize("when,dtype,vector_bits,threads", PEAK_CASES)
def test_peak(benchmark, settings, when, dtype, vector_bits, threads):
    benchmark.group = f"machine peak {dtype} {vector_bits}-bit"
    n = use_threads(benchmark, threads)
    settle()  # the worker threads of the benchmark before may still spin on the cores the probe needs
    verdict = machine.check_probe(dtype, vector_bits)  # validate, then time
    chains = machine.default_chains()
    # One call lasts about a round, so that a quick run stays quick and a full run times 50 ms calls.
    probe, flops = machine.fma_peak_probe(
        dtype, vector_bits, n, chains=chains, seconds=settings.kernel_round_seconds
    )
    benchmark.extra_info.update(
        study="peak",
        kernel="fma",
        dtype=dtype,
        vector_bits=vector_bits,
        when=when,
        chains=chains,
        asm_ok=verdict.ok,
        asm=verdict.reason,
        isa=verdict.isa,
    )
    _timed(benchmark, probe, settings)
    record_rate(benchmark, flops=flops)


@pytest.mark.parametrize("threads", list(THREADS.values()), ids=list(THREADS))
@pytest.mark.parametrize("level", machine.LEVELS)
def test_bandwidth(benchmark, settings, level, threads):
    benchmark.group = f"machine bandwidth {level}"
    n = use_threads(benchmark, threads)
    settle()
    caches = machine.cache_sizes()
    probe, bytes_per_call, working_set = machine.triad_probe(
        level, n, seconds=settings.kernel_round_seconds, caches=caches["levels"]
    )
    benchmark.extra_info.update(
        study="bandwidth",
        level=level,
        working_set=working_set,
        bytes_per_element=machine.TRIAD_BYTES_PER_ELEMENT,
        cache_sizes=caches,
    )
    _timed(benchmark, probe, settings)
    record_rate(benchmark, bytes_moved=bytes_per_call)
