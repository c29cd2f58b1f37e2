"""The ``Blocking`` table (``kernels.blocking``): every entry of every ISA level and dtype fits its ISA's
register file and this machine's caches. That each entry computes correct products is checked by
running the kernel tests compiled for that ISA (``.ci/run``: ``NUMBA_CPU_NAME``)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="the blocking is the numba backend's")
from kernels.blocking import (  # noqa: E402
    DTYPES,
    NARROW_MIN_COLUMNS,
    analytic_blocking,
    flops_per_cycle,
)
from kernels.cpu import Isa, read_caches  # noqa: E402

CACHES = read_caches()
ENTRIES = [(isa, dtype) for isa in Isa for dtype in DTYPES]


@pytest.mark.parametrize(("isa", "dtype"), ENTRIES, ids=lambda x: str(getattr(x, "value", x)))
def test_every_entry_fits_its_registers_and_caches(isa, dtype):
    blocking = analytic_blocking(isa, dtype, CACHES)
    lanes = isa.vector_bytes // dtype.itemsize
    assert blocking.nr % lanes == 0 and blocking.narrow_nr % lanes == 0
    vectors = blocking.nr // lanes  # a row of the tile: one LLVM vector, a power of two of registers
    assert vectors & (vectors - 1) == 0
    # the accumulators, one row of op(b) and a broadcast, in registers
    assert blocking.mr * blocking.nr // lanes + blocking.nr // lanes + 1 <= isa.vector_registers
    # the narrow tile: the wide tile's rows in whole registers, narrower exactly where the wide one is
    # wider than the narrow tile's fewest columns
    assert min(NARROW_MIN_COLUMNS, blocking.nr) <= blocking.narrow_nr <= blocking.nr
    assert (blocking.narrow_nr < blocking.nr) == (max(lanes, NARROW_MIN_COLUMNS) < blocking.nr)
    assert blocking.narrow_nr % lanes == 0
    # the few-row tiles: their accumulators, a vector of b and a broadcast, in registers
    for rows, columns in ((blocking.rowvec_rows, blocking.rowvec_width), (1, blocking.rowvec_width_one)):
        assert columns % lanes == 0 and rows * columns // lanes + 2 <= isa.vector_registers
    # the packed panel of op(b) in L1, the op(a) block in L2
    assert blocking.kc >= 1 and blocking.kc * blocking.nr * dtype.itemsize <= CACHES["L1"]["bytes"]
    assert blocking.a_block_bytes <= CACHES["L2"]["bytes"]
    assert 0 < blocking.split_min_flop < blocking.parallel_min_flop < blocking.fused_parallel_min_flop


def test_avx512_float32_has_a_narrow_tile_of_one_register():
    """The output layer's 10 classes on AVX-512: one register of 16 float32 lanes, not two."""
    blocking = analytic_blocking(Isa.AVX512_HALVES, np.dtype(np.float32), CACHES)
    assert (blocking.mr, blocking.nr, blocking.narrow_nr) == (8, 32, 16)


def test_the_peak_follows_the_vector_width():
    """Flops a cycle: full AVX-512 twice AVX2's, AVX-512 in halves AVX2's, float64 half of float32."""
    rates = {isa: flops_per_cycle(isa, 4) for isa in Isa}
    assert rates[Isa.AVX512] == 2 * rates[Isa.AVX2] == 2 * rates[Isa.AVX512_HALVES]
    assert all(flops_per_cycle(isa, 8) * 2 == rates[isa] for isa in Isa)
