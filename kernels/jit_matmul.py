"""The Numba matrix products: a BLIS-style driver around the micro-kernel of ``kernels.jit_tile``.

Exports ``matmul_nn(a, b, out, routes)`` (``out = a @ b``), ``matmul_tn`` (``out = a.T @ b``, a is
``(k, m)``), ``matmul_nt`` (``out = a @ b.T``, b is ``(n, k)``) and ``matmul_tn_update`` (an optimizer
step of ``w`` by the gradient ``a.T @ b``, applied to each finished tile). All arrays C-contiguous, one
dtype (float32 or float64, never up-cast), ``out`` preallocated. No BLAS: the loops are compiled by Numba.
The index names are those of the glossary in ``kernels.jit_tile``.

Every tile of every product is one call of the one micro-kernel, on one of two routes:

* Packed (BLIS's): per (column tile, k block) the ``kc x NR`` slice of op(b) is packed into a stack
  panel that stays in L1, zero-padded past out's last column (for b.T a transposing copy, four rows at a
  time); reading B in place aliases a few L1 sets (``jit_zoo.tiled_unpacked_nn``). op(a) is read in
  place, its rows broadcast from where they are (a.T's from contiguous runs); a last tile of rows that
  would hang past out's edge overlaps the one before instead (a packed panel would be packed again for
  every column tile and k block), and only an out of fewer than MR rows gets a packed, zero-padded panel
  of op(a). A whole tile is written to out; an edge tile to a stack tile, whose new part is copied out.
  The k blocks after the first accumulate.
* Few rows (BLIS's "sup", ``use_few_rows``): tiles of ``FEW`` rows (``ONE`` for a lone row) read b in
  place, streamed once per tile of rows, with no packing and no k blocks. A last tile of rows overlaps
  the one before rather than hang past out's edge (it recomputes a few rows, bit for bit the same); past
  out's last column the kernel's lanes are masked.
* Blocking (every size from the ``kernels.blocking`` entry of the dtype, read through
  ``jit_tile.blocking_of``): k in nearly equal blocks of at most ``kc``; rows in blocks whose op(a)
  slice fits ``a_block_bytes``. The thresholds that choose a route come in ``routes``, an int64 array
  (``blocking.routes``) that every entry point takes last, indexed by the ``ROUTE_*`` constants below.
* Tile shape: an out no wider than the narrow tile (the output layer's 10 classes) is made of
  ``NARROW`` tiles, each kind one compiled ``_tiles`` tree.
* Parallelism: a prange over (column tile, band of row tiles), column-tile major so that each thread
  gets a contiguous run of tiles; serial below ``parallel_min_flop`` (``fused_parallel_min_flop`` for
  an update) or on one thread.
* A layer split between the cores (``split_parts``): its forward ``x @ w`` sums k in one part per
  thread (on the few-row or the packed route), and its update gives each thread a band of w's rows,
  the same rows, so that each core reads and writes only its own rows of w and of the optimizer's
  state, which stay in its cache from step to step. (Split by columns, every row of w holds both
  cores' lines side by side, and the forward and the update took longer one after the other than
  their times apart.)
* The update (``matmul_tn_update``): each finished tile of the gradient goes to ``jit_tile.rule_tile``
  (an edge tile row by row to ``jit_rules.apply_rule``) while it is in registers; g is never stored.
* No allocation per call but a split forward's partial sums: every panel lives on the stack (about
  45 KB per thread).
* The products share one compiled ``_gemm``, the layout passed as runtime flags (literal True/False
  would compile one specialisation of the whole tree per layout).
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit, prange

from kernels import jit_cache  # noqa: F401  (must come before any @njit below)
from kernels.blocking import ROUTE_FIELDS
from kernels.jit_rules import Rule, apply_rule, no_coefficients, unpack_coefficients
from kernels.jit_tile import (
    A_PANEL,
    B_PANEL,
    EDGE,
    FASTMATH,
    FEW,
    NARROW,
    ONE,
    TILE,
    WIDE,
    blocking_of,
    copy_row,
    element_pointer,
    micro_kernel,
    mr_of,
    nr_of,
    num_threads,
    offset_pointer,
    rule_tile,
    stack,
)

__all__ = ["matmul_nn", "matmul_tn", "matmul_nt", "matmul_tn_update"]

# positions in ``routes`` (``kernels.blocking.ROUTE_FIELDS``), as compiled constants
ROUTE_ROWVEC_BELOW_ROWS = ROUTE_FIELDS.index("rowvec_below_rows")
ROUTE_ROWVEC_WIDE_BELOW_ROWS = ROUTE_FIELDS.index("rowvec_wide_below_rows")
ROUTE_PARALLEL_MIN_FLOP = ROUTE_FIELDS.index("parallel_min_flop")
ROUTE_FUSED_PARALLEL_MIN_FLOP = ROUTE_FIELDS.index("fused_parallel_min_flop")
ROUTE_SPLIT_MIN_FLOP = ROUTE_FIELDS.index("split_min_flop")


@njit(cache=True)
def k_blocks(k, out):
    """k split into ``nkb`` nearly equal blocks of at most KC steps (out's dtype's ``kc``), ``kc`` each (the
    last fewer)."""
    KC = blocking_of(out).kc
    nkb = max(1, (k + KC - 1) // KC)
    kc = (k + nkb - 1) // nkb
    return nkb, kc


# --- packing: zero-padded panels ------------------------------------------------------------------------


@njit(cache=True, fastmath=FASTMATH)
def pack_b(b, tb, p0, kc, j0, panel, kind):
    """Rows ``p0 .. p0 + kc`` of op(b), columns ``j0 .. j0 + NR`` (the NR of the tile ``kind``, a literal
    int), into ``panel`` (``kc x NR``, row-major), zero past op(b)'s last column. A row of b is copied as
    one vector (``copy_row``): LLVM, not knowing that panel and b never overlap, copied it an element at
    a time."""
    NR = nr_of(panel, kind)
    n = b.shape[0] if tb else b.shape[1]
    nr = min(NR, n - j0)
    zero = panel.dtype.type(0)
    if tb:  # b is (n, k): four rows at a time, four contiguous streams LLVM interleaves
        last = n - 1
        for c in range(0, NR, 4):
            r0 = b[min(j0 + c, last), p0 : p0 + kc]
            r1 = b[min(j0 + c + 1, last), p0 : p0 + kc]
            r2 = b[min(j0 + c + 2, last), p0 : p0 + kc]
            r3 = b[min(j0 + c + 3, last), p0 : p0 + kc]
            for p in range(kc):
                panel[p, c] = r0[p]
                panel[p, c + 1] = r1[p]
                panel[p, c + 2] = r2[p]
                panel[p, c + 3] = r3[p]
        if nr < NR:  # the clamped columns were copies of the last: zero them
            for p in range(kc):
                for c in range(nr, NR):
                    panel[p, c] = zero
    else:  # b is (k, n): a row's columns are contiguous, one vector each
        start = element_pointer(panel, 0)
        for p in range(kc):
            row, source = offset_pointer(start, p * NR), element_pointer(b, (p0 + p) * n + j0)
            if nr == NR:
                copy_row(row, source, NR, kind)  # NR a constant: a plain load
            else:
                copy_row(row, source, nr, kind)


@njit(cache=True, fastmath=FASTMATH)
def pack_a(a, ta, i0, p0, kc, panel, kind):
    """Rows ``i0 .. i0 + MR`` of op(a) (the MR of the tile ``kind``, a literal int), steps ``p0 .. p0 +
    kc``, into ``panel`` (``kc x MR``: a step's MR elements contiguous), zero past op(a)'s last row."""
    MR = mr_of(panel, kind)
    m = a.shape[1] if ta else a.shape[0]
    mr = min(MR, m - i0)
    zero = panel.dtype.type(0)
    for p in range(kc):
        for r in range(mr):
            panel[p, r] = a[p0 + p, i0 + r] if ta else a[i0 + r, p0 + p]
        for r in range(mr, MR):
            panel[p, r] = zero


# --- the packed route ------------------------------------------------------------------------------------


@njit(cache=True, fastmath=FASTMATH)
def _col_tile(a, b, out, ta, tb, tj, i_lo, i_hi, p_lo, p_hi, rule, state1, state2, coefficients, kind):
    """Column tile ``tj`` of out, rows ``[i_lo, i_hi)`` (``i_lo`` a multiple of MR), of the product over
    the steps ``[p_lo, p_hi)`` of k, in the tiles of ``kind`` (a literal int): for each k block, pack the
    ``kc x NR`` slice of op(b), then run the micro-kernel down the rows. With a ``rule`` (all of k in one
    block, so each tile's g is whole) each finished tile updates its tile of out, the weights."""
    MR = mr_of(out, kind)
    NR = nr_of(out, kind)
    m, n = out.shape
    k = p_hi - p_lo
    lda = a.shape[1]
    KC = blocking_of(out).kc
    b_panel = stack(out, B_PANEL)
    a_panel = stack(out, A_PANEL)
    tile = stack(out, TILE)
    edge = stack(out, EDGE)
    b_panel_view = carray(b_panel, (KC, NR))
    a_panel_view = carray(a_panel, (KC, MR))
    a_row_stride, a_step_stride = (1, lda) if ta else (lda, 1)
    nkb, kc_block = k_blocks(k, out)
    j0 = tj * NR
    nr = min(NR, n - j0)
    for kb in range(nkb):
        p0 = p_lo + kb * kc_block
        kc = min(kc_block, p_hi - p0)
        pack_b(b, tb, p0, kc, j0, b_panel_view, kind)
        accumulate = kb > 0
        for i0 in range(i_lo, i_hi, MR):
            mr = min(MR, m - i0)
            # op(a) in place; a last tile past out's edge overlaps the one before (its first MR - mr rows
            # computed again, into ``edge``, and not stored), unless out has fewer than MR rows
            overlap = MR - mr if m >= MR else 0
            if m >= MR:
                a_tile = element_pointer(a, p0 * lda + i0 - overlap if ta else (i0 - overlap) * lda + p0)
                row_stride, step_stride = a_row_stride, a_step_stride
            else:
                pack_a(a, ta, i0, p0, kc, a_panel_view, kind)
                a_tile, row_stride, step_stride = a_panel, 1, MR
            out_tile = i0 * n + j0
            whole = mr == MR and nr == NR
            if rule != Rule.NONE and whole:
                if kc == 1:  # a batch of one: a constant trip count, so LLVM drops the k loop
                    micro_kernel(1, NR, a_tile, row_stride, step_stride, b_panel, NR, False, tile, NR, kind)
                else:
                    micro_kernel(kc, NR, a_tile, row_stride, step_stride, b_panel, NR, False, tile, NR, kind)
                # fmt: off
                rule_tile(rule, element_pointer(out, out_tile), n, tile, element_pointer(state1, out_tile),
                          element_pointer(state2, out_tile), coefficients, kind)
                # fmt: on
            elif whole:
                # fmt: off
                micro_kernel(kc, NR, a_tile, row_stride, step_stride, b_panel, NR, accumulate,
                             element_pointer(out, out_tile), n, kind)
                # fmt: on
            else:
                micro_kernel(kc, NR, a_tile, row_stride, step_stride, b_panel, NR, False, edge, NR, kind)
                kept = offset_pointer(edge, overlap * NR)
                edge_out(out, i0, j0, mr, nr, kept, NR, accumulate, rule, state1, state2, coefficients)


@njit(cache=True)
def edge_out(out, i0, j0, mr, nr, edge, NR, accumulate, rule, state1, state2, coefficients):
    """The ``mr x nr`` part of an edge tile's product (``edge``, rows NR apart) that exists in out: stored,
    added, or (with a ``rule``) the gradient of out's elements there, row by row."""
    n = out.shape[1]
    if rule != Rule.NONE:
        for r in range(mr):
            row = (i0 + r) * n + j0
            gradient = offset_pointer(edge, r * NR)
            # fmt: off
            apply_rule(rule, element_pointer(out, row), gradient, element_pointer(state1, row),
                       element_pointer(state2, row), nr, coefficients)
            # fmt: on
        return
    tile = carray(edge, (mr, NR))
    for r in range(mr):
        if accumulate:
            for c in range(nr):
                out[i0 + r, j0 + c] += tile[r, c]
        else:
            for c in range(nr):
                out[i0 + r, j0 + c] = tile[r, c]


@njit(cache=True)
def _row_block(m, k, out, MR):
    """The rows of a row block, whole MR-row tiles: op(a)'s ``m x k`` in nearly equal blocks of about
    ``a_block_bytes``."""
    a_block_bytes = blocking_of(out).a_block_bytes
    n_row_blocks = max(1, (m * k * out.itemsize + a_block_bytes - 1) // a_block_bytes)
    return ((m + n_row_blocks - 1) // n_row_blocks + MR - 1) // MR * MR


@njit(cache=True)
def _band(part, parts, rows, MR):
    """Part ``part`` of ``parts`` nearly equal bands of whole MR-row tiles of ``rows`` rows: (lo, hi)."""
    tiles = (rows + MR - 1) // MR
    return part * tiles // parts * MR, min(rows, (part + 1) * tiles // parts * MR)


@njit(cache=True)
def split_parts(batch, rows, n, w, routes):
    """How many bands of rows a layer's ``(rows, n)`` weights ``w`` are split into at this batch: one per
    thread from ``split_min_flop`` where the forward product takes the few-row route (``use_few_rows``)
    or w fills whole FEW tiles (a hidden layer's, not the output layer's), else 1. The forward and the
    update ask alike, so they split the same rows."""
    threads = num_threads()
    big = 2.0 * batch * rows * n >= routes[ROUTE_SPLIT_MIN_FLOP]
    if threads > 1 and big and (use_few_rows(batch, n, w, routes) or n >= nr_of(w, FEW)):
        return threads
    return 1


# --- the few-row route -----------------------------------------------------------------------------------


@njit(cache=True)
def use_few_rows(m, n, out, routes):
    """Whether ``a @ b`` with m rows goes to the few-row route: below ``rowvec_below_rows`` rows, or below
    ``rowvec_wide_below_rows`` with b filling whole FEW tiles (a narrow b is faster on the packed
    route)."""
    wide = n >= nr_of(out, FEW)
    return m < routes[ROUTE_ROWVEC_BELOW_ROWS] or (wide and m < routes[ROUTE_ROWVEC_WIDE_BELOW_ROWS])


@njit(cache=True, fastmath=FASTMATH)
def _few_rows_tile(a, b, out, i0, j0, p_lo, p_hi, kind):
    """The tile of ``kind`` at ``(i0, j0)`` of ``out = a[:, p_lo:p_hi] @ b[p_lo:p_hi]``, b in place."""
    n = out.shape[1]
    k = a.shape[1]
    columns = min(nr_of(out, kind), n - j0)
    a_tile, b_tile = element_pointer(a, i0 * k + p_lo), element_pointer(b, p_lo * n + j0)
    c_tile = element_pointer(out, i0 * n + j0)
    if columns == nr_of(out, kind):  # unmasked: the mask a constant
        micro_kernel(p_hi - p_lo, nr_of(out, kind), a_tile, k, 1, b_tile, n, False, c_tile, n, kind)
    else:
        micro_kernel(p_hi - p_lo, columns, a_tile, k, 1, b_tile, n, False, c_tile, n, kind)


@njit(cache=True, fastmath=FASTMATH)
def few_rows_nn(a, b, out, p_lo, p_hi):
    """``out = a[:, p_lo:p_hi] @ b[p_lo:p_hi]`` on the few-row route (``use_few_rows``): b read in place,
    once per FEW tile of rows, or per ONE tile for a lone row (and for every row of an out with fewer rows
    than a FEW tile). A last tile of rows that would hang past out's edge overlaps the one before (its
    rows are computed twice, the same both times); past out's last column, lanes are masked."""
    m, n = out.shape
    R, W, W1 = mr_of(out, FEW), nr_of(out, FEW), nr_of(out, ONE)
    i = 0
    while i < m:
        if m - i == 1 or m < R:
            for j0 in range(0, n, W1):
                _few_rows_tile(a, b, out, i, j0, p_lo, p_hi, ONE)
            i += 1
        else:
            i0 = min(i, m - R)
            for j0 in range(0, n, W):
                _few_rows_tile(a, b, out, i0, j0, p_lo, p_hi, FEW)
            i += R


@njit(cache=True)
def use_few_rows_nt(m, k, n, out):
    """Whether ``a @ b.T`` takes the few-row route, b.T packed whole first: at most half a tile's rows and
    k shorter than a tile's row (the output layer's input gradient at a small batch, k the classes), so
    that packing b.T costs less than packing it panel by panel for tiles mostly of padding; and b.T
    fits the stack's panel."""
    MR, NR = mr_of(out), nr_of(out)
    return 2 * m <= MR and k < NR and k * n <= blocking_of(out).kc * NR


@njit(cache=True, fastmath=FASTMATH)
def few_rows_nt(a, b, out):
    """``out = a @ b.T`` on the few-row route: b.T packed whole into the stack's panel, then
    ``few_rows_nn``."""
    n, k = b.shape
    b_t = carray(stack(out, B_PANEL), (k, n))
    for j in range(n):
        for p in range(k):
            b_t[p, j] = b[j, p]
    few_rows_nn(a, b_t, out, runtime_int(0), k)


@njit(cache=True, fastmath=FASTMATH)
def _packed_band(a, b, out, p_lo, p_hi):
    """``out = a[:, p_lo:p_hi] @ b[p_lo:p_hi]`` on the packed route in WIDE tiles, on one thread."""
    m, n = out.shape
    NR = nr_of(out, WIDE)
    mc = _row_block(m, p_hi - p_lo, out, mr_of(out, WIDE))
    no_rule, coefficients, no = runtime_int(Rule.NONE), no_coefficients(out), runtime_bool(0)
    for i_lo in range(0, m, mc):
        for tj in range((n + NR - 1) // NR):
            # fmt: off
            _col_tile(a, b, out, no, no, tj, i_lo, min(m, i_lo + mc), p_lo, p_hi, no_rule, out, out,
                      coefficients, WIDE)
            # fmt: on


@njit(cache=True, parallel=True)
def _k_parts(a, b, out, partial, MR, few):
    """Part t of k (``_band`` of the rows of b) into ``out`` (t = 0) or ``partial[t - 1]``, on the
    few-row route if ``few``, else the packed one."""
    parts = len(partial) + 1
    for t in prange(parts):
        lo, hi = _band(t, parts, b.shape[0], MR)
        part = out if t == 0 else partial[t - 1]
        if few:
            few_rows_nn(a, b, part, lo, hi)
        else:
            _packed_band(a, b, part, lo, hi)


@njit(cache=True, fastmath=FASTMATH)
def split_k(a, b, out, parts, MR, few):
    """``out = a @ b`` with k cut in ``parts`` bands of MR-row tiles of b, one per thread, on the few-row
    route if ``few``, else the packed one; the partial products summed in part order (so that one thread
    count always gives one result)."""
    m, n = out.shape
    partial = np.empty((parts - 1, m, n), out.dtype)
    _k_parts(a, b, out, partial, MR, few)
    for t in range(parts - 1):
        for i in range(m):
            for j in range(n):
                out[i, j] += partial[t, i, j]


@njit(cache=True)
def zero_fill(out):
    zero = out.dtype.type(0)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = zero


@njit(cache=True)
def _gemm(a, b, out, ta, tb, rule, state1, state2, coefficients, routes):
    """``out = op(a) @ op(b)``, or with a ``rule`` (k <= KC, so that each tile's g is whole after one k
    block) the rule applied to ``out`` with ``g = op(a) @ op(b)`` as its gradient, tile by tile, g never
    stored. An out no wider than the narrow tile (the output layer's) is made of narrow tiles: the wide
    one would compute mostly lanes that are never stored."""
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        zero_fill(out)
        return
    narrow = n <= nr_of(out, NARROW) < nr_of(out)
    if not ta and not tb and rule == Rule.NONE:
        few, parts = use_few_rows(m, n, out, routes), split_parts(m, k, n, out, routes)
        if parts > 1:
            # the update's bands are whole tiles of this shape (mr_of takes the kind as a literal)
            split_k(a, b, out, parts, mr_of(out, NARROW) if narrow else mr_of(out), few)
            return
        if few:
            few_rows_nn(a, b, out, runtime_int(0), k)
            return
    if not ta and tb and rule == Rule.NONE and use_few_rows_nt(m, k, n, out):
        few_rows_nt(a, b, out)
        return
    if narrow:
        _tiles(a, b, out, ta, tb, rule, state1, state2, coefficients, routes, NARROW)
    else:
        _tiles(a, b, out, ta, tb, rule, state1, state2, coefficients, routes, WIDE)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _tiles(a, b, out, ta, tb, rule, state1, state2, coefficients, routes, kind):
    """``_gemm`` on the packed route, in the tiles of ``kind`` (a literal int). A split layer's update
    gives each thread its band of rows (``split_parts``). Otherwise row blocks of ``mc`` rows (op(a)'s
    block about ``a_block_bytes``); in each, a prange over ``n_col_tiles x n_bands`` items, column-tile
    major; rows are cut into bands only when there are too few column tiles to feed the threads (e.g.
    n = 10)."""
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    MR = mr_of(out, kind)
    NR = nr_of(out, kind)
    n_col_tiles = (n + NR - 1) // NR
    threads = num_threads()
    parts = split_parts(k, m, n, out, routes) if rule != Rule.NONE else 1
    # an item of the prange: a band of rows through ``tiles_per_item`` column tiles
    if parts > 1:  # one row block, one band of rows per thread through every column tile
        mc, n_bands, tiles_per_item, serial = m, parts, n_col_tiles, False
    else:
        mc = _row_block(m, k, out, MR)
        n_bands, tiles_per_item = 1, 1
        serial = threads == 1 or 2.0 * m * n * k < (
            routes[ROUTE_FUSED_PARALLEL_MIN_FLOP] if rule != Rule.NONE else routes[ROUTE_PARALLEL_MIN_FLOP]
        )
    for i_lo in range(0, m, mc):
        i_hi = min(m, i_lo + mc)
        if serial:
            for tj in range(n_col_tiles):
                _col_tile(a, b, out, ta, tb, tj, i_lo, i_hi, 0, k, rule, state1, state2, coefficients, kind)
            continue
        if parts == 1:  # bands only where there are too few column tiles to feed the threads
            n_row_tiles = (i_hi - i_lo + MR - 1) // MR
            n_bands = min(n_row_tiles, (threads + n_col_tiles - 1) // n_col_tiles)
        # one prange for both cases (each prange is a kernel compiled apart): column-tile major items
        # of one tile each, or one item per band through every column tile
        for item in prange(n_bands * n_col_tiles // tiles_per_item):
            tj0 = item // n_bands * tiles_per_item
            lo, hi = _band(item % n_bands, n_bands, i_hi - i_lo, MR)
            for tj in range(tj0, tj0 + tiles_per_item):
                # fmt: off
                _col_tile(a, b, out, ta, tb, tj, i_lo + lo, i_lo + hi, 0, k, rule, state1, state2,
                          coefficients, kind)
                # fmt: on


@njit(cache=True)
def runtime_bool(x):
    """``x != 0`` as a runtime bool, not a literal: a literal True/False passed to _gemm would compile one
    specialisation of the whole tree per layout."""
    return x != 0


@njit(cache=True)
def runtime_int(x):
    """``x`` (an int or a ``Rule``) as a runtime int64. A literal argument, or an enum member (a type of
    its own), compiles a specialisation of the callee and of every kernel under it; as runtime ints, the
    products and the fused update share one compiled tree per dtype."""
    return np.int64(x)


@njit(cache=True)
def matmul_nn(a, b, out, routes):
    """out = a @ b; a (m, k), b (k, n), out (m, n), all C-contiguous."""
    no_rule, coefficients = runtime_int(Rule.NONE), no_coefficients(out)
    _gemm(a, b, out, runtime_bool(0), runtime_bool(0), no_rule, out, out, coefficients, routes)


@njit(cache=True)
def matmul_tn(a, b, out, routes):
    """out = a.T @ b; a (k, m), b (k, n): the micro-kernel broadcasts a.T's elements from contiguous runs
    of a's rows; nothing is transposed."""
    no_rule, coefficients = runtime_int(Rule.NONE), no_coefficients(out)
    _gemm(a, b, out, runtime_bool(1), runtime_bool(0), no_rule, out, out, coefficients, routes)


@njit(cache=True)
def matmul_nt(a, b, out, routes):
    """out = a @ b.T; a (m, k), b (n, k): b.T is packed per kc x NR panel."""
    no_rule, coefficients = runtime_int(Rule.NONE), no_coefficients(out)
    _gemm(a, b, out, runtime_bool(0), runtime_bool(1), no_rule, out, out, coefficients, routes)


@njit(cache=True)
def matmul_tn_update(a, b, w, rule, state1, state2, packed_coefficients, routes):
    """The update ``rule`` (a ``Rule`` other than ``NONE``, as an int) of ``w`` (m, n) and its state
    ``state1``, ``state2`` (shaped like w; a rule ignores those it does not have) by the gradient
    ``g = a.T @ b`` (a (k, m), b (k, n)); ``packed_coefficients`` as ``jit_rules.pack_coefficients`` makes
    them.

    g is never stored: each finished tile updates its tile of w, which saves writing g and reading it
    back in a pass over weight-sized arrays, the bulk of an update's cost when k (the batch) is small.
    That needs each tile's g whole after one k block, so k > KC (and k = 0) go through a temporary g and
    one pass of the rule. A batch of one is no special case: its tiles are outer products (kc = 1).
    """
    k = a.shape[0]
    coefficients = unpack_coefficients(packed_coefficients)
    if 0 < k <= blocking_of(w).kc:
        _gemm(a, b, w, runtime_bool(1), runtime_bool(0), rule, state1, state2, coefficients, routes)
    else:
        g = np.empty_like(w)
        matmul_tn(a, b, g, routes)
        apply_rule(
            rule,
            element_pointer(w, 0),
            element_pointer(g, 0),
            element_pointer(state1, 0),
            element_pointer(state2, 0),
            w.size,
            coefficients,
        )
