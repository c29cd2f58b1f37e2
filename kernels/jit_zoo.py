"""The kernel zoo: the forward product ``out = a @ b`` written four ways, each a step towards the next.

Each variant has the signature of ``jit_matmul.matmul_nn``, is checked against a float64 product before
it is timed (``tests/test_matmul_zoo.py``, ``bench/test_matmul_variants.py``), and says in one line why
it is as fast as it is. Their measured rates are in the report's variant table.
"""

from __future__ import annotations

from numba import carray, njit, prange

from kernels import jit_cache  # noqa: F401  (must come before any @njit below)
from kernels.blocking import active_routes
from kernels.jit_matmul import (
    edge_out,
    k_blocks,
    matmul_nn,
    pack_a,
    pack_b,
    runtime_bool,
    runtime_int,
    zero_fill,
)
from kernels.jit_rules import Rule, no_coefficients
from kernels.jit_tile import (
    A_PANEL,
    B_PANEL,
    EDGE,
    FASTMATH,
    WIDE,
    blocking_of,
    element_pointer,
    micro_kernel,
    mr_of,
    nr_of,
    stack,
)


@njit(cache=True, fastmath=FASTMATH)
def naive_nn(a, b, out):
    """1. The textbook i-j-k loop: the inner loop is a dot product down a column of b, strided, so it
    neither vectorises nor uses a cache line more than once."""
    m, k = a.shape
    n = b.shape[1]
    zero = out.dtype.type(0)
    for i in range(m):
        for j in range(n):
            s = zero
            for p in range(k):
                s += a[i, p] * b[p, j]
            out[i, j] = s


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def ikj_nn(a, b, out):
    """2. i-k-j order, a prange over rows: the inner loop is a contiguous axpy that vectorises, but each
    FMA also loads and stores out (two loads and a store per FMA): bound by loads and stores."""
    m, k = a.shape
    n = b.shape[1]
    zero = out.dtype.type(0)
    for i in prange(m):
        for j in range(n):
            out[i, j] = zero
        for p in range(k):
            aip = a[i, p]
            for j in range(n):
                out[i, j] += aip * b[p, j]


@njit(cache=True, fastmath=FASTMATH)
def _row_tile_in_place(a, b, out, i0):
    """The row tile at ``i0`` of ``a @ b`` with B read in place: only a last column tile past out's edge
    (and a last row tile's slice of a, past out's edge) is packed, zero-padded, as the packed route packs
    every panel."""
    MR = mr_of(out)
    NR = nr_of(out)
    m, n = out.shape
    k = b.shape[0]
    KC = blocking_of(out).kc
    b_panel, a_panel, edge = stack(out, B_PANEL), stack(out, A_PANEL), stack(out, EDGE)
    nkb, kc_block = k_blocks(k, out)
    mr = min(MR, m - i0)
    no_rule, coefficients = runtime_int(Rule.NONE), no_coefficients(out)
    for kb in range(nkb):
        p0 = kb * kc_block
        kc = min(kc_block, k - p0)
        accumulate = kb > 0
        if mr == MR:
            a_tile, row_stride = element_pointer(a, i0 * k + p0), k
        else:
            pack_a(a, runtime_bool(0), i0, p0, kc, carray(a_panel, (KC, MR)), WIDE)
            a_tile, row_stride = a_panel, 1
        step_stride = 1 if mr == MR else MR
        for j0 in range(0, n, NR):
            nr = min(NR, n - j0)
            if nr == NR:  # B in place: this variant's point
                b_tile, b_step_stride = element_pointer(b, p0 * n + j0), n
            else:
                pack_b(b, runtime_bool(0), p0, kc, j0, carray(b_panel, (KC, NR)), WIDE)
                b_tile, b_step_stride = b_panel, NR
            if mr == MR and nr == NR:
                # fmt: off
                micro_kernel(kc, NR, a_tile, row_stride, step_stride, b_tile, b_step_stride, accumulate,
                             element_pointer(out, i0 * n + j0), n, WIDE)
                # fmt: on
            else:
                micro_kernel(
                    kc, NR, a_tile, row_stride, step_stride, b_tile, b_step_stride, False, edge, NR, WIDE
                )
                edge_out(out, i0, j0, mr, nr, edge, NR, accumulate, no_rule, out, out, coefficients)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def tiled_unpacked_nn(a, b, out):
    """3. The register tile, but B read in place and a prange over row tiles: with n = 128 the rows of B
    are 512 bytes apart, so a ``kc x NR`` slice falls into a handful of L1 sets and thrashes."""
    MR = mr_of(out)
    if a.shape[1] == 0:
        zero_fill(out)
        return
    for t in prange((out.shape[0] + MR - 1) // MR):
        _row_tile_in_place(a, b, out, t * MR)


def tiled_nn(a, b, out):
    """4. ``jit_matmul.matmul_nn``: the register tile on packed panels of B, blocked for L1 and L2, the
    threads each over a band of k (a layer split by w's rows) or over column tiles: what the numba
    backend runs, with its thresholds."""
    matmul_nn(a, b, out, active_routes(out.dtype))


MATMUL_VARIANTS = {"naive": naive_nn, "ikj": ikj_nn, "tiled_unpacked": tiled_unpacked_nn, "tiled": tiled_nn}
