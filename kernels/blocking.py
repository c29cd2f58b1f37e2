"""Every block size and route threshold of the Numba products: one ``Blocking`` per ISA level and dtype.

As BLIS keeps its block sizes in one table per architecture, no other module of ``kernels/`` holds one:
the kernels read the entry of the ISA Numba compiles for (``kernels.cpu.target_isa``). The block sizes
are constants of the compiled code (``jit_tile.blocking_of``; the compiled kernels are cached under a hash
of them, ``jit_cache``); the route thresholds (``ROUTE_FIELDS``) are an array the kernels are handed at
every call (``routes``), so that ``python -m kernels.tune`` can time other values without compiling again.

The numbers are analytic: the register tile follows from the ISA's register file and lanes, the cache
blocks from this machine's caches, the thresholds from the ISA's multiply-add rate. Where
``python -m kernels.tune`` measured this CPU (its wisdom, ``kernels.wisdom``), the measured thresholds
replace the analytic ones; ``Blocking.source`` says which.

Glossary of a ``Blocking`` (the index names are those of ``jit_tile``'s glossary):

* ``mr x nr``: the register tile, ``mr`` rows of out by ``nr`` columns, ``nr / lanes`` vectors a row;
  ``narrow_nr``: the tile's columns for an out no wider than that (the output layer's 10 classes).
* ``kc``: k steps per block, so that the packed ``kc x nr`` panel of op(b) fills the L1 data cache.
* ``a_block_bytes``: the bytes of op(a) per row block, kept in L2 (half of it: the rest holds the
  panels of b and the output): a row block has ``a_block_bytes // (k * itemsize)`` rows.
* ``rowvec_rows x rowvec_width``: the few-row route's tile (``jit_tile.FEW``: b read in place, no
  packing); ``1 x rowvec_width_one`` its tile for a lone row (``jit_tile.ONE``).
* ``rowvec_below_rows``: ``a @ b`` with fewer rows takes the few-row route (``jit_matmul.use_few_rows``);
  ``rowvec_wide_below_rows``: the same for a b at least ``rowvec_width`` wide.
* ``parallel_min_flop``: a smaller product runs on one thread (entering a parallel region costs
  microseconds); ``fused_parallel_min_flop`` the same for an update applied to each finished tile, which
  splits w and its state between the cores' caches; ``split_min_flop``: from here a layer gives each
  thread a band of w's rows (``jit_matmul.split_parts``).
* ``gather_parallel_min_bytes``: a batch gather at least this large runs on every core.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

import numpy as np

from kernels import wisdom
from kernels.cpu import Isa, read_caches, target_isa

# The narrow tile's fewest columns: the ten classes of the output layer in one column tile on every ISA
# (in 8-lane vectors, two; a second tile would be mostly padding).
NARROW_MIN_COLUMNS = 16
# The few-row tiles, in vectors: a lone row (``ONE``) gets 8 accumulators, independent multiply-add chains
# enough to hide the FMA's latency; ``FEW`` takes half the registers, rows of 4 vectors (32 registers: 4
# rows, b loaded once per 4 rows; 16: 2 rows), the rest holding a row of b and the broadcasts.
ONE_ROW_VECTORS = 8
FEW_ROW_VECTORS = 4

# The register tile per ISA level and dtype, in vectors: (rows, vectors per row). The accumulators
# (rows x vectors), a row of op(b) (vectors) and one broadcast fit the register file: AVX-512 (32
# registers) 8 x 2; AVX2 (16) float32 5 x 2 (6 x 2 spilled the broadcasts), float64 6 x 2 (BLIS's
# Haswell tile, 6 x 8); SSE 4 x 2. A row is one LLVM vector of NR lanes: a power of two of registers,
# as LLVM splits any other width into pieces it schedules badly.
REGISTER_TILES = {
    (Isa.AVX512, 4): (8, 2),
    (Isa.AVX512, 8): (8, 2),
    (Isa.AVX512_HALVES, 4): (8, 2),
    (Isa.AVX512_HALVES, 8): (8, 2),
    (Isa.AVX2, 4): (5, 2),
    (Isa.AVX2, 8): (6, 2),
    (Isa.SSE, 4): (4, 2),
    (Isa.SSE, 8): (4, 2),
}

# The thresholds, in cycles of one core at its peak multiply-add rate (times the ISA's flops per cycle,
# they become flops) or in rows: the crossovers measured on one CPU, carried to others by their peak rate
# or their tile. They are defaults: ``python -m kernels.tune`` measures them on the machine at hand.
PARALLEL_MIN_CYCLES = 93_750
FUSED_PARALLEL_MIN_CYCLES = 100_000
SPLIT_MIN_CYCLES = 6_250
ROWVEC_BELOW_ROWS_IN_TILES = 2  # rowvec_below_rows, in row tiles (mr rows each)
# rowvec_wide_below_rows, by the few-row tile's rows (16 registers: 2, 32: 4): the kernel reads all of b
# from L2 once per tile of rows, so the fewer its rows, the sooner it loses to the packed tile.
ROWVEC_WIDE_BELOW_ROWS = {2: 16, 4: 48}
GATHER_PARALLEL_MIN_BYTES = 32 * 1024


@dataclass(frozen=True)
class Blocking:
    """The block sizes and thresholds of one ISA level and dtype (see the module's glossary)."""

    isa: str
    dtype: str
    mr: int
    nr: int
    narrow_nr: int
    kc: int
    a_block_bytes: int
    rowvec_rows: int
    rowvec_width: int
    rowvec_width_one: int
    rowvec_below_rows: int
    rowvec_wide_below_rows: int
    parallel_min_flop: int
    fused_parallel_min_flop: int
    split_min_flop: int
    gather_parallel_min_bytes: int
    source: str = "analytic"  # or where the thresholds were measured (``wisdom.applied``)

    def describe(self) -> str:
        """One line: the ISA, the tile (in its name, as BLIS names its kernels), the cache blocks and the
        route thresholds, and where those come from."""
        return (
            f"{self.isa}, tile {self.mr}x{self.nr}, narrow {self.mr}x{self.narrow_nr}, "
            f"kc {self.kc}, op(a) block {self.a_block_bytes // 1024} KiB; few-row route below "
            f"{self.rowvec_below_rows} rows ({self.rowvec_wide_below_rows} for a wide b), all cores from "
            f"{self.parallel_min_flop / 1e6:.1f} MFLOP "
            f"(an update from {self.fused_parallel_min_flop / 1e6:.1f}), "
            f"a layer split from {self.split_min_flop / 1e6:.2f} MFLOP, the gather on all cores from "
            f"{self.gather_parallel_min_bytes // 1024} KiB ({self.source})"
        )


def flops_per_cycle(isa: Isa, itemsize: int) -> int:
    """A core's peak: two multiply-add pipes of the ISA's vector width (two flops a lane), or half the
    vector where AVX-512 runs in halves; SSE without FMA multiplies on one pipe and adds on the other."""
    lanes = isa.vector_bytes // itemsize
    if isa is Isa.AVX512_HALVES:
        lanes //= 2
    return 2 * lanes * 2 if isa.has_fma else 2 * lanes


def analytic_blocking(isa: Isa, dtype: np.dtype | str, caches: dict[str, dict]) -> Blocking:
    """The ``Blocking`` of ``isa`` and ``dtype`` on caches of ``caches``' sizes (``cpu.read_caches``)."""
    dtype = np.dtype(dtype)
    itemsize = dtype.itemsize
    lanes = isa.vector_bytes // itemsize
    rows, vectors = REGISTER_TILES[(isa, itemsize)]
    mr, nr = rows, vectors * lanes
    narrow_nr = min(nr, max(lanes, NARROW_MIN_COLUMNS))
    width_one = ONE_ROW_VECTORS * lanes
    width, rowvec_rows = FEW_ROW_VECTORS * lanes, isa.vector_registers // 2 // FEW_ROW_VECTORS
    peak = flops_per_cycle(isa, itemsize)
    return Blocking(
        isa=isa.value,
        dtype=dtype.name,
        mr=mr,
        nr=nr,
        narrow_nr=narrow_nr,
        kc=caches["L1"]["bytes"] // (nr * itemsize),
        a_block_bytes=caches["L2"]["bytes"] // 2,
        rowvec_rows=rowvec_rows,
        rowvec_width=width,
        rowvec_width_one=width_one,
        rowvec_below_rows=ROWVEC_BELOW_ROWS_IN_TILES * mr,
        rowvec_wide_below_rows=ROWVEC_WIDE_BELOW_ROWS[rowvec_rows],
        parallel_min_flop=PARALLEL_MIN_CYCLES * peak,
        fused_parallel_min_flop=FUSED_PARALLEL_MIN_CYCLES * peak,
        split_min_flop=SPLIT_MIN_CYCLES * peak,
        gather_parallel_min_bytes=GATHER_PARALLEL_MIN_BYTES,
    )


# The thresholds that choose a route inside the compiled kernels, in the order of the ``routes`` array
# (the gather's is read in Python, by ``jit.take_rows``).
ROUTE_FIELDS = (
    "rowvec_below_rows",
    "rowvec_wide_below_rows",
    "parallel_min_flop",
    "fused_parallel_min_flop",
    "split_min_flop",
)
TUNABLE_FIELDS = (*ROUTE_FIELDS, "gather_parallel_min_bytes")  # what kernels.tune measures
# the block sizes: constants of the compiled code (``jit_tile.blocking_of``), and so its cache key
COMPILED_FIELDS = tuple(f.name for f in fields(Blocking) if f.type == "int" and f.name not in TUNABLE_FIELDS)


def routes(blocking: Blocking) -> np.ndarray:
    """``blocking``'s route thresholds as the int64 array the compiled kernels read (``ROUTE_FIELDS``)."""
    return np.array([getattr(blocking, name) for name in ROUTE_FIELDS], dtype=np.int64)


DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
TARGET_ISA = target_isa()
ANALYTIC = {dtype.itemsize: analytic_blocking(TARGET_ISA, dtype, read_caches()) for dtype in DTYPES}
ACTIVE = {itemsize: wisdom.applied(blocking, TUNABLE_FIELDS) for itemsize, blocking in ANALYTIC.items()}
ACTIVE_ROUTES = {itemsize: routes(blocking) for itemsize, blocking in ACTIVE.items()}


def active_blocking(dtype: np.dtype | str | type) -> Blocking:
    """The ``Blocking`` the kernels use for ``dtype`` in this process."""
    return ACTIVE[np.dtype(dtype).itemsize]


def active_routes(dtype: np.dtype | str | type) -> np.ndarray:
    """The route thresholds the numba backend hands its kernels for ``dtype`` (``routes``)."""
    return ACTIVE_ROUTES[np.dtype(dtype).itemsize]


def fingerprint() -> str:
    """The compiled part of the active entries, as text: the kernels' cache key (the tunable thresholds,
    and the wisdom behind them, are read at run time)."""
    compiled = [{name: getattr(blocking, name) for name in COMPILED_FIELDS} for blocking in ACTIVE.values()]
    return json.dumps(compiled, sort_keys=True)
