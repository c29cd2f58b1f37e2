"""The machine's limits, measured in the run that they bound: peak multiply-add rate and memory bandwidth.

A performance study needs a ceiling to compare its kernels with. NumPy's sgemm rate is not one: it is a
library's achievement, and on some machines compiled loops beat it. The ceilings here are measured with
probes that do nothing but the limiting operation:

* **Peak multiply-add rate** (:func:`fma_peak_probe`): independent chains of vector FMAs on registers,
  emitted as LLVM IR by a Numba intrinsic so that neither Numba nor LLVM can choose other instructions.
  Without FMA (x86 SSE4.2) each step is a multiply and an add, as in the kernels (``Isa.multiply_add``).
  :func:`check_fma_asm` reads the probe's assembly and says whether it is what it claims (packed FMAs, or
  multiply and add pairs, on the intended registers, enough independent accumulators, no memory traffic
  in the loop).
* **Memory bandwidth** (:func:`triad_probe`): a STREAM-like triad ``a[i] = b[i] + s * c[i]`` at working sets
  chosen from the cache sizes that :func:`cache_sizes` reads from sysfs.

Each probe is sized to take about ``seconds`` per call (a few tens of milliseconds by default), so that a
caller can time one call beside an epoch and compute a rate from the count of work the probe returns.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from kernels.cpu import SYSFS_CPU, Isa, is_x86, read_caches, target_isa
from kernels.threads import available_cores

PROBE_SECONDS = 0.05  # one probe call: long against the timer and call overhead, short beside an epoch

# --- what the CPU offers ------------------------------------------------------------------------------------


def supported_vector_bits() -> list[int]:
    """Vector widths the CPU Numba compiles for (``kernels.cpu``) multiplies and adds in, widest first.

    x86: 512 with AVX-512F, 256 and 128 with FMA3, 128 with SSE4.2's multiply and add. Elsewhere (AArch64
    NEON, and SVE, whose length LLVM does not report) 128 bits is the width every FMA unit has.
    """
    isa = target_isa()
    if isa is Isa.SSE:
        return [128]
    return [256, 128] if isa is Isa.AVX2 else [512, 256, 128]


def widest_vector_bits() -> int:
    """The widest vector the CPU multiplies and adds in one instruction: the peak is measured at it."""
    return supported_vector_bits()[0]


def vector_registers() -> int:
    """Vector registers the compiler may use: 32 with AVX-512 (and on AArch64), 16 with AVX2 alone."""
    return target_isa().vector_registers if is_x86() else 32


def default_chains() -> int:
    """Independent accumulators per probe loop.

    A core keeps ``latency x pipes`` multiply-adds in flight: 4 cycles x 2 pipes on Zen 4 and Skylake-X,
    5 x 2 on Haswell; without FMA a chain waits for the multiply and then the add (about 7 cycles on Zen
    4, with 2 multiply and 2 add pipes: 14). So every register but the two broadcast operands (14 of 16,
    none spilled to memory), and 16 when 32 registers hold them.
    """
    return min(16, vector_registers() - 2)


def vector_lanes(dtype: str | np.dtype, vector_bits: int) -> int:
    """Elements of ``dtype`` in a vector of ``vector_bits``."""
    return vector_bits // (8 * np.dtype(dtype).itemsize)


# --- the FMA probe ------------------------------------------------------------------------------------------

# The recurrence every lane follows: x <- fma(x, MULTIPLIER, ADDEND), from x0 in [1, 1.25) towards the
# fixed point ADDEND / (1 - MULTIPLIER) = 4. The values stay normal (no denormal slow path) and finite
# for any iteration count, and each constant has a short significand, so that in float32 the exact
# x * m + a (at most 37 significant bits) is representable in float64: a float64 emulation rounded
# once to float32 reproduces the probe bit for bit (tests/test_machine_probe.py relies on this).
MULTIPLIER = 1.0 - 2.0**-10
ADDEND = 2.0**-8
_START_STEP = 2.0**-10


@intrinsic
def _fma_chains(typingctx, start, iterations, multiplier, addend):
    """``iterations`` steps of ``acc <- fma(acc, multiplier, addend)`` on ``chains`` vectors of ``lanes``
    (without FMA, ``acc * multiplier`` rounded, then ``+ addend``: ``Isa.multiply_add``).

    ``start`` is a tuple of ``chains`` tuples of ``lanes`` floats: its type carries the probe's shape, so
    one Numba function compiles a loop for each shape it is called with. Returns the sum of every
    accumulator in float64, so that LLVM cannot drop any chain. Each accumulator lives in an entry-block
    alloca, which mem2reg turns into a register: the loop body has no loads or stores.
    """
    if not (
        isinstance(start, types.UniTuple)
        and isinstance(start.dtype, types.UniTuple)
        and isinstance(start.dtype.dtype, types.Float)
        and isinstance(iterations, types.Integer)
        and multiplier == addend == start.dtype.dtype
    ):
        return None
    chains, lanes, scalar = start.count, start.dtype.count, start.dtype.dtype

    def codegen(context, builder, signature, args):
        start_value, count, mult, add = args
        element = context.get_value_type(scalar)
        vector = ir.VectorType(element, lanes)
        lane = [ir.Constant(ir.IntType(32), i) for i in range(lanes)]

        def splat(value):
            v = ir.Constant(vector, ir.Undefined)
            for i in range(lanes):
                v = builder.insert_element(v, value, lane[i])
            return v

        m, a = splat(mult), splat(add)
        accumulators = []
        for c in range(chains):
            v = ir.Constant(vector, ir.Undefined)
            for i in range(lanes):
                v = builder.insert_element(v, builder.extract_value(start_value, [c, i]), lane[i])
            slot = cgutils.alloca_once(builder, vector)
            builder.store(v, slot)
            accumulators.append(slot)
        fma_name = f"{target_isa().multiply_add}.v{lanes}f{scalar.bitwidth}"
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector, [vector] * 3), fma_name)
        with cgutils.for_range(builder, count):
            for slot in accumulators:  # one FMA per chain and step: the chains never read each other
                builder.store(builder.call(fma, [builder.load(slot), m, a]), slot)
        total = builder.load(accumulators[0])
        for slot in accumulators[1:]:  # in chain order, then lanes in order: the emulation's order
            total = builder.fadd(total, builder.load(slot))
        result = ir.Constant(ir.DoubleType(), 0.0)
        for i in range(lanes):
            value = builder.extract_element(total, lane[i])
            if scalar.bitwidth < 64:
                value = builder.fpext(value, ir.DoubleType())
            result = builder.fadd(result, value)
        return result

    return types.float64(start, iterations, multiplier, addend), codegen


def _fma_loop(start, iterations, multiplier, addend):
    return _fma_chains(start, iterations, multiplier, addend)


# nogil: the all-core probe runs this on Python threads, one per core, truly at once. (A prange cannot
# take the tuple ``start`` into its parallel region, and threads keep the probe free of a threading layer.)
_fma_probe = njit(cache=True, nogil=True)(_fma_loop)
# The same function without a cache: Numba cannot show the assembly of code it loaded from its cache, and
# compiling the same Python function with the same flags for the same CPU gives the same machine code.
_fma_probe_inspectable = njit(nogil=True)(_fma_loop)


def probe_start(dtype: str | np.dtype, vector_bits: int, chains: int) -> tuple[tuple[float, ...], ...]:
    """The accumulators' first values: all distinct, 1 + k/1024 for k = 0, 1, ... (exact in float32)."""
    lanes = vector_lanes(dtype, vector_bits)
    kind = np.dtype(dtype).type
    return tuple(
        tuple(kind(1.0 + (c * lanes + i) * _START_STEP) for i in range(lanes)) for c in range(chains)
    )


def _probe_args(dtype: str | np.dtype, vector_bits: int, chains: int) -> tuple:
    kind = np.dtype(dtype).type
    return probe_start(dtype, vector_bits, chains), kind(MULTIPLIER), kind(ADDEND)


def run_fma_probe(dtype: str | np.dtype, vector_bits: int, chains: int, iterations: int) -> float:
    """One probe call on this thread: ``iterations`` steps of every chain; the sum of the accumulators."""
    start, m, a = _probe_args(dtype, vector_bits, chains)
    return _fma_probe(start, iterations, m, a)


def probe_flops(dtype: str | np.dtype, vector_bits: int, chains: int, iterations: int, threads: int) -> int:
    """Floating-point operations of a probe call: a multiply and an add per step, lane and chain."""
    return 2 * vector_lanes(dtype, vector_bits) * chains * iterations * threads


def _calibrate(run: Callable[[int], object], seconds: float, count: int) -> int:
    """The count for which ``run(count)`` lasts about ``seconds``.

    ``run`` is called once first (compilation, cache loading, first touch). The count is then doubled
    until a call lasts half of ``seconds``, and scaled to ``seconds``. Half, not less: a thread that must
    wait for a core busy with another process starts a time slice late (milliseconds), and a call that
    short would be all wait and no work. Each count is timed as the fastest of three calls, so that one
    preempted call does not stop the doubling early.
    """
    run(count)
    while True:
        elapsed = min(_duration(run, count) for _ in range(3))
        if elapsed >= seconds / 2:
            return max(1, round(count * seconds / elapsed))
        count *= 2


def _duration(run: Callable[[int], object], count: int) -> float:
    begin = time.perf_counter()
    run(count)
    return time.perf_counter() - begin


def _on_threads(fn: Callable[[], float], threads: int) -> Callable[[], float]:
    """``fn`` run by ``threads`` threads at once (``fn`` releases the GIL); the sum of their results.

    The threads start with each call: a tenth of a millisecond against a call of tens, and no pool
    outlives the probe to spin or sleep beside the benchmarks that follow.
    """
    if threads == 1:
        return fn

    def run() -> float:
        with ThreadPoolExecutor(threads) as pool:
            return sum(pool.map(lambda _: fn(), range(threads)))

    return run


def fma_peak_probe(
    dtype: str | np.dtype,
    vector_bits: int,
    threads: int = 1,
    *,
    chains: int | None = None,
    seconds: float = PROBE_SECONDS,
) -> tuple[Callable[[], float], int]:
    """A zero-argument callable that runs one probe call, and the floating-point operations it performs.

    Each of ``threads`` threads runs ``chains`` (default :func:`default_chains`) independent vector FMA
    chains of ``vector_bits`` on ``dtype``, for as many steps as make one call last about ``seconds``.
    Time the callable and divide: the rate is the machine's multiply-add peak at that width and thread
    count (if :func:`check_fma_asm` accepts the probe's assembly).
    """
    if vector_bits not in supported_vector_bits():
        raise ValueError(f"{vector_bits}-bit FMAs: this CPU has {supported_vector_bits()}")
    if threads < 1:
        raise ValueError(f"thread count must be at least 1, got {threads}")
    chains = default_chains() if chains is None else chains
    start, m, a = _probe_args(dtype, vector_bits, chains)

    def sized(iterations: int) -> Callable[[], float]:
        return _on_threads(lambda: _fma_probe(start, iterations, m, a), threads)

    iterations = _calibrate(lambda n: sized(n)(), seconds, 1 << 12)
    return sized(iterations), probe_flops(dtype, vector_bits, chains, iterations, threads)


# --- is the probe what it claims? ---------------------------------------------------------------------------

_REGISTER_CLASS = {512: "zmm", 256: "ymm", 128: "xmm"}
_PACKED = {np.dtype("float32"): "ps", np.dtype("float64"): "pd"}
# AT&T syntax, LLVM's default for x86: "vfmadd213ps %zmm17, %zmm16, %zmm0", the destination last.
_OPERANDS = r"\s+(.*?)\s*(?:#.*)?$"
_FMA = re.compile(r"^\s*(vf(?:n?m(?:add|sub)|maddsub|msubadd)\d{3}(?:ps|pd|ss|sd|ph|sh))" + _OPERANDS)
# Without FMA: "mulps %xmm12, %xmm0" then "addps %xmm13, %xmm0" (SSE; "vmulps" and "vaddps" with AVX).
_MULTIPLY = re.compile(r"^\s*(v?mul(?:ps|pd|ss|sd))" + _OPERANDS)
_ADD = re.compile(r"^\s*(v?add(?:ps|pd|ss|sd))" + _OPERANDS)
_LABEL = re.compile(r"^(\.?L\w+):")
_JUMP = re.compile(r"^\s*j[a-z]+\s+(\.?L\w+)")


@dataclass(frozen=True)
class AsmVerdict:
    """What the probe's hottest loop contains, and whether that is the probe it claims to be."""

    ok: bool
    reason: str  # why not, or what was found
    fmas: int  # multiply-adds in the loop (unrolling makes it a multiple of the chains): FMA instructions,
    # or without FMA the adds, each after its multiply
    accumulators: int  # distinct destination registers of those FMAs (or adds): the independent chains
    # "avx512f" (zmm), "avx512vl" (ymm/xmm beyond the 16 VEX registers), "fma" (VEX), "sse" (no FMA), "?"
    isa: str


def _loops(lines: list[str]) -> list[list[str]]:
    """The bodies of the loops in an assembly listing: from a label to a later jump back to it."""
    labels: dict[str, int] = {}
    bodies = []
    for i, line in enumerate(lines):
        if label := _LABEL.match(line):
            labels[label.group(1)] = i
        elif (jump := _JUMP.match(line)) and jump.group(1) in labels:
            bodies.append(lines[labels[jump.group(1)] + 1 : i])
    return bodies


def _multiply_adds(body: list[str], fused: bool) -> tuple[list[re.Match], list[re.Match], str]:
    """The loop's multiply-add instructions (FMAs; or multiplies and adds), those of them that end a step
    in a chain's accumulator (the FMAs; or the adds, not the multiplies before them), and what is wrong
    with them."""
    if fused:
        fmas = [m for m in map(_FMA.match, body) if m]
        return fmas, fmas, ""
    multiplies = [m for m in map(_MULTIPLY.match, body) if m]
    adds = [m for m in map(_ADD.match, body) if m]
    wrong = "" if len(multiplies) == len(adds) else f"{len(multiplies)} multiplies for {len(adds)} adds"
    return multiplies + adds, adds, wrong


def check_fma_asm(
    asm: str, *, dtype: str | np.dtype, vector_bits: int, chains: int, fused: bool = True
) -> AsmVerdict:
    """Whether ``asm`` (x86, AT&T syntax) holds a loop that is the FMA probe it claims to be.

    The loop with the most FMAs (``fused``; else multiplies and adds, one of each a step) must consist of
    packed instructions of ``dtype`` whose every operand is a ``vector_bits`` register, on at least
    ``chains`` distinct accumulators (fewer would serialise the chains on the latency), and must not touch
    memory (a spilled accumulator would measure the cache, not the arithmetic units). A split 512-bit FMA
    shows as ymm registers and fails the check.
    """
    loops = [(body, *_multiply_adds(body, fused)) for body in _loops(asm.splitlines())]
    body, found, steps, unpaired = max(loops, key=lambda loop: len(loop[1]), default=([], [], [], ""))
    if not found:
        kind = "FMA" if fused else "multiply and add"
        return AsmVerdict(False, f"no loop of {kind} instructions", 0, 0, "?")
    register = _REGISTER_CLASS[vector_bits]
    suffix = _PACKED[np.dtype(dtype)]
    registers = [op.strip() for m in found for op in m.group(2).split(",")]
    accumulators = len({m.group(2).split(",")[-1].strip() for m in steps})  # the chains: where steps end
    high = any(int(r[4:]) >= 16 for r in registers if re.fullmatch(r"%[xyz]mm\d+", r))
    unfused = "avx" if found[0].group(1).startswith("v") else "sse"  # VEX-encoded or not
    isa = "avx512f" if register == "zmm" else "avx512vl" if high else "fma" if fused else unfused

    def verdict(ok: bool, reason: str) -> AsmVerdict:
        return AsmVerdict(ok, reason, len(steps), accumulators, isa)

    if unpaired:
        return verdict(False, unpaired)
    wrong = sorted({m.group(1) for m in found if not m.group(1).endswith(suffix)})
    if wrong:
        return verdict(False, f"not packed {np.dtype(dtype).name} instructions: {', '.join(wrong)}")
    if not all(re.fullmatch(rf"%{register}\d+", r) for r in registers):
        others = sorted({r for r in registers if not re.fullmatch(rf"%{register}\d+", r)})
        return verdict(False, f"operands other than {register} registers: {', '.join(others)}")
    if accumulators < chains:
        return verdict(False, f"{accumulators} accumulator registers for {chains} chains")
    touching = [line.strip() for line in body if "(" in line.split("#")[0]]
    if touching:
        return verdict(False, f"memory accessed in the loop: {touching[0]}")
    names = " + ".join(dict.fromkeys(m.group(1) for m in found))
    return verdict(True, f"{len(steps)} {names} on {accumulators} {register} accumulators")


@cache
def probe_asm(dtype: str, vector_bits: int, chains: int) -> str:
    """The assembly of the probe for this shape, as Numba compiles it for this CPU."""
    start, m, a = _probe_args(dtype, vector_bits, chains)
    signature = (numba.typeof(start), types.int64, numba.typeof(m), numba.typeof(a))
    _fma_probe_inspectable.compile(signature)
    return _fma_probe_inspectable.inspect_asm(signature)


def check_probe(dtype: str | np.dtype, vector_bits: int, chains: int | None = None) -> AsmVerdict:
    """:func:`check_fma_asm` on the probe's own assembly (x86 only: elsewhere the verdict is "unchecked")."""
    chains = default_chains() if chains is None else chains
    if not is_x86():
        return AsmVerdict(False, f"unchecked: no FMA pattern for {platform.machine()}", 0, 0, "?")
    asm = probe_asm(np.dtype(dtype).name, vector_bits, chains)
    fused = target_isa().has_fma
    return check_fma_asm(asm, dtype=dtype, vector_bits=vector_bits, chains=chains, fused=fused)


# --- other work on the machine ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    """The machine's busy CPU time and this process's, at one moment."""

    wall: float  # seconds, time.perf_counter
    busy: float  # CPU-seconds all CPUs spent on anything but idling, hypervisor steal included
    own: float  # CPU-seconds this process's threads used


def cpu_sample(proc_stat: Path = Path("/proc/stat")) -> CpuSample | None:
    """Now's :class:`CpuSample` (None where ``/proc/stat`` is missing: not Linux)."""
    try:
        fields = proc_stat.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...: every field but idle and iowait is busy
    ticks = [int(f) for f in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return CpuSample(time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), time.process_time())


def busy_elsewhere(since: CpuSample | None) -> float | None:
    """Cores' worth of CPU time that other processes (and the hypervisor, as steal) took since ``since``.

    The all-core probes assume that the cores are theirs. On a shared machine they are not, and a
    second core busy elsewhere halves an all-core rate on two cores without anything being wrong with
    the cores: this number tells the two apart. Resolution: ``/proc/stat`` counts 10 ms ticks.
    """
    now = cpu_sample()
    if since is None or now is None or now.wall <= since.wall:
        return None
    others = (now.busy - since.busy) - (now.own - since.own)
    return max(0.0, others / (now.wall - since.wall))


# --- caches and memory bandwidth ----------------------------------------------------------------------------

LEVELS = ("L1", "L2", "L3", "DRAM")
DRAM_MIN_BYTES = 256 * 2**20  # far beyond any L3 that a machine of this kind has
TRIAD_BYTES_PER_ELEMENT = 24  # STREAM's count: read b[i] and c[i], write a[i]; not the write-allocate read
TRIAD_SCALAR = 3.0  # STREAM's


def working_set(level: str, threads: int, caches: dict[str, dict]) -> int:
    """Bytes of the triad's three arrays at ``level`` for ``threads`` threads.

    Half of what the threads' caches of that level hold (the other half leaves room for the next level's
    victims, the code and the stack): a private cache counts once per thread, a shared one once. DRAM:
    eight times the whole L3, and at least 256 MiB, so that no cache holds a useful part of it.
    """
    if level == "DRAM":
        l3 = caches["L3"]
        return max(8 * l3["bytes"] * l3["instances"], DRAM_MIN_BYTES)
    cache_level = caches[level]
    return cache_level["bytes"] * min(threads, cache_level["instances"]) // 2


def cache_sizes(root: Path = SYSFS_CPU, cores: int | None = None) -> dict:
    """The caches (:func:`read_caches`) and the triad's working set per level for 1 and for all cores."""
    cores = available_cores() if cores is None else cores
    caches = read_caches(root, cores)
    counts = sorted({1, cores})
    return {
        "cores": cores,
        "levels": caches,
        "working_sets": {level: {str(n): working_set(level, n, caches) for n in counts} for level in LEVELS},
    }


@njit(cache=True)
def _chunk(n, chunks, t):
    # Chunk t of n elements: whole 64-byte lines (8 float64s), so that no two threads write one line
    # (arrays from ``_aligned``); the last chunk also takes what is left over.
    size = n // chunks // 8 * 8
    return t * size, n if t == chunks - 1 else (t + 1) * size


@njit(cache=True, parallel=True)
def _triad(a, b, c, scalar, reps, chunks):
    # prange over contiguous chunks, one per thread, each swept ``reps`` times: a thread's chunk stays in
    # its own core's caches, and the threads never wait for each other between sweeps. The chunks are
    # slices indexed from 0: an index from ``lo`` could be negative as far as Numba knows, and its
    # wraparound test turns the vector loads and stores into gathers and scatters (17 GB/s, not 290, in L1).
    for t in prange(chunks):
        lo, hi = _chunk(a.shape[0], chunks, t)
        a_t, b_t, c_t = a[lo:hi], b[lo:hi], c[lo:hi]
        for _ in range(reps):
            for i in range(hi - lo):
                a_t[i] = b_t[i] + scalar * c_t[i]


@njit(cache=True, parallel=True)
def _fill(a, b, c, chunks):
    # The same chunks as the triad: each page is first touched by the thread that will stream it, so
    # that on a NUMA machine it lands in that thread's memory.
    for t in prange(chunks):
        lo, hi = _chunk(a.shape[0], chunks, t)
        a[lo:hi] = 0.0
        b[lo:hi] = 2.0
        c[lo:hi] = 0.5


def _aligned(count: int) -> np.ndarray:
    """float64 storage starting on a 64-byte boundary, so that whole cache lines form the chunks."""
    raw = np.empty(count + 8, np.float64)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip : skip + count]


def _with_numba_threads(fn: Callable[[], None], threads: int) -> Callable[[], None]:
    """``fn`` with Numba's thread count set to ``threads`` for the call and restored after it."""

    def run() -> None:
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            fn()
        finally:
            numba.set_num_threads(previous)

    return run


def triad(a: np.ndarray, b: np.ndarray, c: np.ndarray, scalar: float, reps: int = 1, chunks: int = 1) -> None:
    """``a[:] = b + scalar * c``, ``reps`` times, in ``chunks`` contiguous parts run in parallel."""
    if not a.shape == b.shape == c.shape:
        raise ValueError(f"triad of arrays of shapes {a.shape}, {b.shape}, {c.shape}")
    _triad(a, b, c, scalar, reps, chunks)


def triad_probe(
    level: str,
    threads: int = 1,
    *,
    seconds: float = PROBE_SECONDS,
    caches: dict[str, dict] | None = None,
) -> tuple[Callable[[], None], int, int]:
    """A zero-argument callable that runs the triad at ``level``'s working set on ``threads`` threads, the
    bytes a call moves (STREAM's count: 24 per element and sweep), and the working set in bytes.

    Each thread sweeps its own contiguous chunk, as many times as make a call last about ``seconds``. The
    working set does not depend on how many threads share it, so that one level's rows compare.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"threads must be within 1..{numba.config.NUMBA_NUM_THREADS}, got {threads}")
    caches = read_caches() if caches is None else caches
    count = max(8 * threads, working_set(level, threads, caches) // TRIAD_BYTES_PER_ELEMENT)
    a, b, c = _aligned(count), _aligned(count), _aligned(count)
    _with_numba_threads(lambda: _fill(a, b, c, threads), threads)()

    def sized(reps: int) -> Callable[[], None]:
        return _with_numba_threads(lambda: _triad(a, b, c, TRIAD_SCALAR, reps, threads), threads)

    reps = _calibrate(lambda r: sized(r)(), seconds, 1)
    return sized(reps), TRIAD_BYTES_PER_ELEMENT * count * reps, TRIAD_BYTES_PER_ELEMENT * count


# --- the cores' cooperation ---------------------------------------------------------------------------------
# The FMA probe's threads never meet, so it cannot see a state of a shared machine in which work that
# synchronises the cores slows down while the FMA probe and the triad's bandwidth do not move. The cost of
# a parallel region that does nothing but meet moves with that work, so the paired benchmarks record it
# beside every pair: the report can then tell a side that slowed from a machine that did.

SYNC_REGIONS = 200  # empty parallel regions per measurement: a steady mean, still nothing beside an epoch
SYNC_WARMUP = 50  # untimed regions first: enough to wake a sleeping pool before the timed ones


@njit(parallel=True, cache=True)
def _meet(slots):
    for t in prange(slots.shape[0]):  # one trivial item per thread: the region is all synchronisation
        slots[t] += 1.0


def sync_probe(regions: int = SYNC_REGIONS) -> float:
    """Microseconds per parallel region that only starts and joins Numba's threads (all of them): how
    fast the cores meet. Call with the thread count set as the caller wants it measured."""
    slots = np.zeros(numba.get_num_threads())
    for _ in range(SYNC_WARMUP):  # compiled (or loaded), and the pool awake: after an idle spell (another
        _meet(slots)  # library's round) the first regions wake sleeping threads, which is not the state
    start = time.perf_counter()
    for _ in range(regions):
        _meet(slots)
    return (time.perf_counter() - start) / regions * 1e6
