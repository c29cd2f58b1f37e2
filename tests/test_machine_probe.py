"""The machine probes of ``bench.machine`` measure what they claim: the FMA loop is vector FMAs on independent
register accumulators computing the stated recurrence, the triad is ``b + s * c``, and the cache sizes come
from sysfs or from stated fallbacks."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import numba
import numpy as np
import pytest

from bench import machine
from bench.test_machine import order_probes
from kernels import cpu
from kernels.threads import set_threads

DTYPES = ["float32", "float64"]
WIDTHS = machine.supported_vector_bits()
x86 = pytest.mark.skipif(not cpu.is_x86(), reason="the assembly check reads x86 assembly")


@x86
@pytest.mark.parametrize("vector_bits", WIDTHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_probe_assembly_is_vector_fmas_on_independent_accumulators(dtype, vector_bits):
    verdict = machine.check_probe(dtype, vector_bits)
    assert verdict.ok, verdict.reason
    assert verdict.accumulators >= machine.default_chains()
    assert verdict.fmas % machine.default_chains() == 0  # every chain advances in every (unrolled) step


FUSED = cpu.target_isa().has_fma  # the probe's step: one FMA, or a multiply and an add (kernels.cpu)


def _emulate(dtype: str, vector_bits: int, chains: int, iterations: int) -> float:
    """The probe's recurrence and reduction, in float64 NumPy: each step rounded to ``dtype`` once, as an
    FMA rounds, or without FMA the product and then the sum."""

    def rounded(x: np.ndarray) -> np.ndarray:
        return x.astype(dtype).astype(np.float64)

    acc = np.array(machine.probe_start(dtype, vector_bits, chains), dtype=np.float64)  # chains x lanes
    for _ in range(iterations):
        product = acc * machine.MULTIPLIER
        acc = rounded((product if FUSED else rounded(product)) + machine.ADDEND)
    total = acc[0].astype(dtype)
    for row in acc[1:]:  # the chains summed as vectors of dtype, in order
        total = total + row.astype(dtype)
    return sum(float(v) for v in total)  # then the lanes in float64, in order


@pytest.mark.parametrize("iterations", [0, 1, 7, 1000])  # 7: the unrolled loop and its remainder; 1000:
# long enough that one rounding and two (a multiply and an add) part, in float32 after about 400 steps
@pytest.mark.parametrize("vector_bits", WIDTHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_probe_computes_the_recurrence(dtype, vector_bits, iterations):
    chains = machine.default_chains()
    got = machine.run_fma_probe(dtype, vector_bits, chains, iterations)
    expected = _emulate(dtype, vector_bits, chains, iterations)
    if dtype == "float32" or not FUSED:
        # x * m + a is exact in float64 for these constants (bench.machine): one rounding, as an FMA's;
        # without FMA, float64 NumPy rounds the product and the sum as the probe does
        assert got == expected
    else:  # the emulation rounds the product too: at most one float64 ulp (of x <= 4) per step and lane
        lanes = machine.vector_lanes(dtype, vector_bits)
        assert got == pytest.approx(expected, rel=0, abs=chains * lanes * (iterations + 1) * 4 * 2.0**-52)


def test_probe_values_stay_normal_and_approach_the_fixed_point():
    chains = machine.default_chains()
    lanes = machine.vector_lanes("float32", 128)
    total = machine.run_fma_probe("float32", 128, chains, 1_000_000)
    # x -> ADDEND / (1 - MULTIPLIER) = 4 from below, and stops where a step moves it by less than half an
    # ulp: within 2**-13 of 4 in float32
    assert 4.0 * chains * lanes * (1 - 2.0**-13) <= total < 4.0 * chains * lanes


# --- the assembly check rejects what is not the probe -------------------------------------------------------

GOOD_LOOP = [f"\tvfmadd213ps\t%zmm17, %zmm16, %zmm{r}" for r in range(16)]


def _listing(body: list[str]) -> str:
    head, tail = ["f:", "\tmovq\t%rdi, %rax", ".LBB0_3:"], ["\taddq\t$-1, %rax", "\tjne\t.LBB0_3", "\tretq"]
    return "\n".join([*head, *body, *tail])


def _check(body: list[str], **claim) -> machine.AsmVerdict:
    claim = {"dtype": "float32", "vector_bits": 512, "chains": 16, **claim}
    return machine.check_fma_asm(_listing(body), **claim)


def test_asm_check_accepts_the_probe_it_describes():
    verdict = _check(GOOD_LOOP)
    assert verdict.ok, verdict.reason
    assert (verdict.fmas, verdict.accumulators, verdict.isa) == (16, 16, "avx512f")


@pytest.mark.parametrize(
    "body, claim, reason",
    [
        ([line.replace("213ps", "231ss") for line in GOOD_LOOP], {}, "not packed"),
        ([f"\tvfmadd213ps\t%zmm17, %zmm16, %zmm{r % 2}" for r in range(16)], {}, "2 accumulator registers"),
        ([line.replace("zmm", "ymm") for line in GOOD_LOOP], {}, "other than zmm"),  # a split 512-bit FMA
        (GOOD_LOOP, {"dtype": "float64"}, "not packed float64"),
        ([*GOOD_LOOP, "\tvmovaps\t%zmm3, -64(%rsp)"], {}, "memory accessed"),  # a spilled accumulator
        (["\tvfmadd213ps\t(%rsi), %zmm16, %zmm0", *GOOD_LOOP[1:]], {}, "other than zmm"),
        (["\tvaddps\t%zmm1, %zmm0, %zmm0"], {}, "no loop of FMA"),
    ],
    ids=["scalar", "two-accumulators", "ymm-for-512", "wrong-dtype", "spill", "memory-operand", "no-fma"],
)
def test_asm_check_rejects_what_is_not_the_probe(body, claim, reason):
    verdict = _check(body, **claim)
    assert not verdict.ok
    assert reason in verdict.reason


SSE_LOOP = [
    f"\t{op}ps\t%xmm{constant}, %xmm{r}" for r in range(14) for op, constant in (("mul", 14), ("add", 15))
]


def test_asm_check_accepts_a_multiply_and_an_add_without_fma():
    verdict = _check(SSE_LOOP, vector_bits=128, chains=14, fused=False)
    assert verdict.ok, verdict.reason
    assert (verdict.fmas, verdict.accumulators, verdict.isa) == (14, 14, "sse")


@pytest.mark.parametrize(
    "body, reason",
    [
        (SSE_LOOP[::2] + SSE_LOOP[1:4:2], "14 multiplies for 2 adds"),  # the adds left out of the loop
        ([line.replace("ps", "ss") for line in SSE_LOOP], "not packed"),
        (GOOD_LOOP, "no loop of multiply and add"),  # an FMA where the target has none: a libm call
        ([*SSE_LOOP, "\tmovaps\t%xmm3, -16(%rsp)"], "memory accessed"),
    ],
    ids=["unpaired", "scalar", "fma", "spill"],
)
def test_asm_check_rejects_what_is_not_the_unfused_probe(body, reason):
    verdict = _check(body, vector_bits=128, chains=14, fused=False)
    assert not verdict.ok
    assert reason in verdict.reason


def test_asm_check_ignores_fmas_outside_loops():
    assert not _check([]).ok  # no loop of FMAs ...
    assert not machine.check_fma_asm("\n".join(GOOD_LOOP), dtype="float32", vector_bits=512, chains=16).ok


# --- the triad ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, chunks", [(64, 1), (64, 2), (101, 3), (5, 2)])  # uneven, and chunks of 0 lines
def test_triad_computes_b_plus_s_times_c(n, chunks):
    rng = np.random.default_rng(0)
    b, c = rng.standard_normal(n), rng.standard_normal(n)
    a = np.full(n, np.nan)  # NaN: an element no chunk writes fails
    machine.triad(a, b, c, 3.0, reps=3, chunks=chunks)
    np.testing.assert_allclose(a, b + 3.0 * c, rtol=1e-15, atol=0)


def test_triad_refuses_arrays_of_different_shapes():
    with pytest.raises(ValueError, match="shapes"):
        machine.triad(np.zeros(10), np.zeros(10), np.zeros(9), 3.0)


# --- cache sizes --------------------------------------------------------------------------------------------


def _fake_sysfs(root: Path, indexes: dict[int, dict[str, str]]) -> Path:
    for number, files in indexes.items():
        folder = root / "cpu0" / "cache" / f"index{number}"
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text + "\n")
    return root


def _index(level: int, kind: str, size: str, shared: str) -> dict[str, str]:
    return {"level": str(level), "type": kind, "size": size, "shared_cpu_list": shared}


def test_cache_sizes_from_a_fake_sysfs(tmp_path):
    root = _fake_sysfs(
        tmp_path,
        {
            0: _index(1, "Data", "48K", "0,4"),
            1: _index(1, "Instruction", "32K", "0,4"),  # not data: ignored
            2: _index(2, "Unified", "2048K", "0,4"),
            3: _index(3, "Unified", "36M", "0-7"),
        },
    )
    sizes = machine.cache_sizes(root, cores=8)
    assert sizes["levels"]["L1"] == {"bytes": 48 * 2**10, "shared_by": 2, "instances": 4, "source": "sysfs"}
    assert sizes["levels"]["L2"]["bytes"] == 2 * 2**20
    assert sizes["levels"]["L3"] == {"bytes": 36 * 2**20, "shared_by": 8, "instances": 1, "source": "sysfs"}
    ws = sizes["working_sets"]
    assert ws["L1"] == {"1": 24 * 2**10, "8": 4 * 24 * 2**10}  # private: once per cache the threads reach
    assert ws["L3"] == {"1": 18 * 2**20, "8": 18 * 2**20}  # shared: once
    assert ws["DRAM"] == {"1": 288 * 2**20, "8": 288 * 2**20}  # 8 x L3, above the 256 MiB floor


def test_cache_sizes_fall_back_where_sysfs_is_missing_or_garbled(tmp_path):
    root = _fake_sysfs(
        tmp_path,
        {
            0: _index(1, "Data", "32K", "0"),
            1: {"level": "2", "type": "Unified", "size": "lots"},  # garbled size, no shared_cpu_list
        },
    )
    levels = cpu.read_caches(root, cores=4)
    assert levels["L1"]["source"] == "sysfs"
    assert levels["L2"]["source"] == levels["L3"]["source"] == "fallback"
    assert levels["L3"]["instances"] == 1  # a fallback L3 is shared by every core
    empty = machine.cache_sizes(tmp_path / "nothing", cores=2)
    assert all(level["source"] == "fallback" for level in empty["levels"].values())
    assert empty["working_sets"]["DRAM"]["1"] == machine.DRAM_MIN_BYTES


# --- rates, load, ordering ----------------------------------------------------------------------------------


def _rate(probe, work: int) -> float:
    begin = time.perf_counter()
    probe()
    return work / (time.perf_counter() - begin)


@pytest.mark.parametrize("threads", [1, numba.config.NUMBA_NUM_THREADS], ids=["1-thread", "all-threads"])
def test_probes_report_positive_rates(threads):
    probe, flops = machine.fma_peak_probe("float32", machine.widest_vector_bits(), threads, seconds=0.002)
    assert flops > 0 and _rate(probe, flops) > 0
    triad, bytes_moved, working_set = machine.triad_probe("L1", threads, seconds=0.002)
    assert bytes_moved >= working_set > 0 and _rate(triad, bytes_moved) > 0
    _, _, shared_level_set = machine.triad_probe("L3", 1, seconds=0.002)
    assert machine.triad_probe("L3", threads, seconds=0.002)[2] == shared_level_set  # rows that compare


def test_probe_refuses_a_width_the_cpu_lacks():
    with pytest.raises(ValueError, match="1024-bit"):
        machine.fma_peak_probe("float32", 1024)


def test_cpu_sample_reads_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 25 5 5 15 0 0\ncpu0 1 2 3\n")
    sample = machine.cpu_sample(stat)
    assert sample is not None and sample.busy * os.sysconf("SC_CLK_TCK") == 175  # all but idle+iowait
    assert machine.cpu_sample(tmp_path / "missing") is None
    assert machine.busy_elsewhere(None) is None


def test_order_probes_puts_start_first_and_end_last():
    def item(name, when=None):
        callspec = SimpleNamespace(params={"when": when})
        return SimpleNamespace(originalname=name, callspec=callspec, id=(name, when))

    items = [item("test_kernel"), item("test_peak", "end"), item("test_bandwidth")]
    items.append(item("test_peak", "start"))
    order_probes(items)
    assert [i.id for i in items] == [
        ("test_peak", "start"), ("test_kernel", None), ("test_bandwidth", None), ("test_peak", "end")
    ]  # fmt: skip


def test_the_sync_probe_times_parallel_regions():
    set_threads(None)
    microseconds = machine.sync_probe(regions=20)
    # a time, and nothing more: how long it takes depends on the machine's load (no timing assertions)
    assert np.isfinite(microseconds) and microseconds > 0
