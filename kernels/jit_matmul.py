"""The Numba matrix products: a BLIS-style driver around the register tile of ``kernels.jit_tile``.

Exports ``matmul_nn(a, b, out, routes)`` (``out = a @ b``), ``matmul_tn`` (``out = a.T @ b``, a is
``(k, m)``), ``matmul_nt`` (``out = a @ b.T``, b is ``(n, k)``) and ``matmul_tn_update`` (an optimizer
step of ``w`` by the gradient ``a.T @ b``, applied in the tiles' epilogue). All arrays C-contiguous, one
dtype (float32 or float64, never up-cast), ``out`` preallocated. No BLAS: the loops are compiled by Numba.
The index names are those of the glossary in ``kernels.jit_tile``.

The driver:

* Packing: per (column tile, k block) the ``kc x NR`` slice of op(b) is copied into a stack panel that
  stays in L1 (for b.T a transposing copy, four rows at a time); reading B in place aliases a few L1
  sets (``jit_zoo.tiled_unpacked_nn``). op(a) is not packed: its rows are broadcast in place; only a
  ragged last row tile of a.T is. Ragged tiles clamp their indices (extra lanes computed, never stored).
* Blocking (every size from the ``kernels.blocking`` entry of the dtype, read through
  ``jit_tile.blocking_of``): k in nearly equal blocks of at most ``kc``; rows in blocks whose op(a)
  slice fits ``a_block_bytes``. The thresholds that choose a route come in ``routes``, an int64 array
  (``blocking.routes``) that every entry point takes last, indexed by the ``ROUTE_*`` constants below.
* Tile shape: an out no wider than the narrow tile (the output layer's 10 classes) is made of narrow
  tiles (``narrow_nr`` columns), each shape one compiled ``_tiles`` tree.
* Parallelism: a prange over (column tile, band of row tiles), column-tile major so that each thread
  gets a contiguous run of tiles; serial below ``parallel_min_flop`` (``fused_parallel_min_flop`` for
  an update) or on one thread.
* A small batch (``split_parts``): a layer's forward ``x @ w`` sums k in one part per thread, and its
  update gives each thread a band of w's rows, the same rows, so that each core reads and writes only
  its own rows of w and of the optimizer's state, which stay in its cache from step to step. (Split by
  columns, every row of w holds both cores' lines side by side, and the forward and the update took
  longer one after the other than their times apart.)
* Few rows (``use_row_vector``): ``row_vector_nn`` streams b once per R rows with no packing; of
  ``a @ b.T`` at a short k (``use_row_dots``), ``row_dots_nt`` takes dot products of contiguous rows.
* A batch of one (``matmul_tn_update`` with k = 1): the gradient is an outer product, each row of it
  made in registers where the rule uses it (``jit_tile.row_update``); rows shorter than a tile's (the
  output layer's) are contiguous in w, so their gradient is made a panel of whole rows, one rule pass.
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
from kernels.jit_rules import FIRST_RULE, Epilogue, apply_rule, no_coefficients, unpack_coefficients
from kernels.jit_tile import (
    A_PANEL,
    ACC,
    B_PANEL,
    FASTMATH,
    blocking_of,
    element_pointer,
    micro_kernel,
    mr_of,
    nr_of,
    num_threads,
    row_update,
    stack,
)

__all__ = ["matmul_nn", "matmul_tn", "matmul_nt", "matmul_tn_update", "Epilogue"]

# positions in ``routes`` (``kernels.blocking.ROUTE_FIELDS``), as compiled constants
ROUTE_ROWVEC_BELOW_ROWS = ROUTE_FIELDS.index("rowvec_below_rows")
ROUTE_ROWVEC_WIDE_BELOW_ROWS = ROUTE_FIELDS.index("rowvec_wide_below_rows")
ROUTE_PARALLEL_MIN_FLOP = ROUTE_FIELDS.index("parallel_min_flop")
ROUTE_FUSED_PARALLEL_MIN_FLOP = ROUTE_FIELDS.index("fused_parallel_min_flop")
ROUTE_SPLIT_MIN_FLOP = ROUTE_FIELDS.index("split_min_flop")


@njit(cache=True)
def _kblocks(k, out):
    """k split into ``nkb`` nearly equal blocks of at most KC steps (out's dtype's ``kc``), ``kc`` each (the
    last fewer)."""
    KC = blocking_of(out).kc
    nkb = max(1, (k + KC - 1) // KC)
    kc = (k + nkb - 1) // nkb
    return nkb, kc


@njit(cache=True, fastmath=FASTMATH)
def _col_tile(a, b, out, ta, tb, tj, i_lo, i_hi, epilogue, state1, state2, coefficients, narrow):
    """Column tile ``tj`` of out, rows ``[i_lo, i_hi)`` (multiples of MR), in the tile shape ``narrow`` (a
    literal bool) names: for each k block, pack the ``kc x NR`` slice of op(b) (clamped at the last
    column), then run the micro-kernel over the rows. The first k block ends in ``epilogue``, the later
    ones accumulate."""
    MR = mr_of(out, narrow)
    NR = nr_of(out, narrow)
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    KC = blocking_of(out).kc
    bpack = carray(stack(out, B_PANEL), (KC, NR))
    apack = carray(stack(out, A_PANEL), (KC, MR))
    nkb, kc_block = _kblocks(k, out)
    # op(b)'s panel is read from its first row and column: literal zeros, which the micro-kernel's address
    # arithmetic folds (runtime zeros cost 11% of a (128 x 128) @ (784 x 128).T); a packed panel of a.T
    # is read from runtime zeros, so that both calls share one compiled micro-kernel
    zero = runtime_int(0)
    j0 = tj * NR
    nr = min(NR, n - j0)
    for kb in range(nkb):
        p0 = kb * kc_block
        kc = min(kc_block, k - p0)
        if tb:  # b is (n, k): four rows at a time, four contiguous streams LLVM interleaves
            for c in range(0, NR, 4):
                r0 = b[min(j0 + c, n - 1), p0 : p0 + kc]
                r1 = b[min(j0 + c + 1, n - 1), p0 : p0 + kc]
                r2 = b[min(j0 + c + 2, n - 1), p0 : p0 + kc]
                r3 = b[min(j0 + c + 3, n - 1), p0 : p0 + kc]
                for p in range(kc):
                    bpack[p, c] = r0[p]
                    bpack[p, c + 1] = r1[p]
                    bpack[p, c + 2] = r2[p]
                    bpack[p, c + 3] = r3[p]
        elif nr == NR:  # b is (k, n): contiguous NR-wide row segments
            for p in range(kc):
                brow = b[p0 + p, j0 : j0 + NR]
                for c in range(NR):
                    bpack[p, c] = brow[c]
        else:
            for p in range(kc):
                for c in range(NR):
                    bpack[p, c] = b[p0 + p, min(j0 + c, n - 1)]
        step = epilogue if kb == 0 else runtime_int(Epilogue.ACCUMULATE)
        # a.T is read unclamped: its full row tiles end at i_full, the ragged rest is packed below
        i_full = i_lo + (i_hi - i_lo) // MR * MR if ta else i_hi
        # fmt: off
        micro_kernel(a, ta, i_lo, p0, bpack, 0, 0, kc, out, i_lo, i_full, j0, nr, step, state1, state2,
                     coefficients, narrow)
        # fmt: on
        if i_full < i_hi:
            for p in range(kc):
                for r in range(MR):
                    apack[p, r] = a[p0 + p, min(i_full + r, m - 1)]
            # fmt: off
            micro_kernel(apack, ta, zero, zero, bpack, 0, 0, kc, out, i_full, i_hi, j0, nr, step, state1,
                         state2, coefficients, narrow)
            # fmt: on


@njit(cache=True)
def _band(part, parts, rows, MR):
    """Part ``part`` of ``parts`` nearly equal bands of whole MR-row tiles of ``rows`` rows: (lo, hi)."""
    tiles = (rows + MR - 1) // MR
    return part * tiles // parts * MR, min(rows, (part + 1) * tiles // parts * MR)


@njit(cache=True)
def split_parts(batch, rows, n, w, routes):
    """How many bands of rows a layer's ``(rows, n)`` weights ``w`` are split into at this batch: one per
    thread where the forward product is a row-vector one (``use_row_vector``) of at least
    ``split_min_flop``, else 1. The forward and the update ask alike, so they split the same rows; a
    batch of one is not split, as its update (``_outer_update``) runs on one core."""
    threads = num_threads()
    big = 2.0 * batch * rows * n >= routes[ROUTE_SPLIT_MIN_FLOP]
    if threads > 1 and batch > 1 and use_row_vector(batch, n, w, routes) and big:
        return threads
    return 1


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _row_vector_rows(a, b, out, i, R, W, p_lo, p_hi):
    """Rows ``[i, min(i + R, m))`` of ``a[:, p_lo:p_hi] @ b[p_lo:p_hi]`` with R x W accumulators: each row
    of b is used R times right after it is loaded. Inlined, so that R and W are constants (r loop
    unrolled, c loop vectorised). Rows past m are clamped reads, never stored."""
    m, n = out.shape
    acc = carray(stack(out, ACC), R * W)
    zero = out.dtype.type(0)
    for j0 in range(0, n, W):
        w = min(W, n - j0)
        for t in range(R * W):
            acc[t] = zero
        if w == W:  # constant trip count: W / lanes vectors
            for p in range(p_lo, p_hi):
                brow = b[p, j0 : j0 + W]
                for c in range(W):
                    bc = brow[c]
                    for r in range(R):
                        acc[r * W + c] += a[min(i + r, m - 1), p] * bc
        else:
            for p in range(p_lo, p_hi):
                brow = b[p, j0 : j0 + w]
                for c in range(w):
                    bc = brow[c]
                    for r in range(R):
                        acc[r * W + c] += a[min(i + r, m - 1), p] * bc
        for r in range(min(R, m - i)):
            for c in range(w):
                out[i + r, j0 + c] = acc[r * W + c]


@njit(cache=True, fastmath=FASTMATH)
def row_vector_nn(a, b, out, p_lo, p_hi):
    """``out = a[:, p_lo:p_hi] @ b[p_lo:p_hi]`` for a few rows: groups of R rows
    (``rowvec_rows`` of the blocking), b streamed once per group with no packing; a lone last row (batch 1)
    gets a 1-row block rather than R - 1 wasted rows."""
    blocking = blocking_of(out)
    R, W, W1 = blocking.rowvec_rows, blocking.rowvec_width, blocking.rowvec_width_one
    m = out.shape[0]
    for i in range(0, m, R):
        if m - i == 1:
            _row_vector_rows(a, b, out, i, 1, W1, p_lo, p_hi)
        else:
            _row_vector_rows(a, b, out, i, R, W, p_lo, p_hi)


@njit(cache=True, parallel=True)
def _row_vector_parts(a, b, out, partial, MR):
    """Part t of k (``_band`` of the rows of b) into ``out`` (t = 0) or ``partial[t - 1]``."""
    parts = len(partial) + 1
    for t in prange(parts):
        lo, hi = _band(t, parts, b.shape[0], MR)
        row_vector_nn(a, b, out if t == 0 else partial[t - 1], lo, hi)


@njit(cache=True, fastmath=FASTMATH)
def row_vector_split(a, b, out, parts, MR):
    """``out = a @ b`` as ``row_vector_nn`` with k cut in ``parts`` bands of MR-row tiles, one per thread,
    the partial products summed in part order (so that one thread count always gives one result)."""
    m, n = out.shape
    partial = np.empty((parts - 1, m, n), out.dtype)
    _row_vector_parts(a, b, out, partial, MR)
    for t in range(parts - 1):
        for i in range(m):
            for j in range(n):
                out[i, j] += partial[t, i, j]


@njit(cache=True)
def use_row_vector(m, n, out, routes):
    """Whether ``a @ b`` with m rows goes to ``row_vector_nn``: below ``rowvec_below_rows`` rows, or below
    ``rowvec_wide_below_rows`` with b filling whole W-column blocks (a narrow b is faster on the packed
    tile)."""
    wide = n >= blocking_of(out).rowvec_width
    return m < routes[ROUTE_ROWVEC_BELOW_ROWS] or (wide and m < routes[ROUTE_ROWVEC_WIDE_BELOW_ROWS])


@njit(cache=True, fastmath=FASTMATH)
def row_dots_nt(a, b, out):
    """``out = a @ b.T`` for a few rows and a short k (``use_row_dots``): each element the dot product of a
    row of a and a row of b, both contiguous. The packed tile would copy b.T into panels, which at a short
    k costs more than the products it feeds, and compute MR rows for each one stored."""
    m, n = out.shape
    k = a.shape[1]
    zero = out.dtype.type(0)
    for i in range(m):
        for j in range(n):
            acc = zero
            for p in range(k):
                acc += a[i, p] * b[j, p]
            out[i, j] = acc


@njit(cache=True)
def use_row_dots(m, k, out):
    """Whether ``a @ b.T`` goes to ``row_dots_nt``: at most half a tile's rows, k shorter than a tile's
    row (the output layer's input gradient at a batch of one, k the classes)."""
    return 2 * m <= mr_of(out) and k < nr_of(out)


@njit(cache=True)
def zero_fill(out):
    zero = out.dtype.type(0)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = zero


@njit(cache=True)
def _gemm(a, b, out, ta, tb, epilogue, state1, state2, coefficients, routes):
    """``out = op(a) @ op(b)``, or with an update rule as ``epilogue`` (k <= KC, so that each tile's g
    is whole after one k block) the rule applied to ``out`` with ``g = op(a) @ op(b)`` as its gradient,
    tile by tile, g never stored. An out no wider than the narrow tile (the output layer's) is made of
    narrow tiles: the wide one would compute mostly lanes that are never stored."""
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        zero_fill(out)
        return
    narrow = n <= nr_of(out, True) < nr_of(out)
    if not ta and not tb and epilogue == Epilogue.STORE and use_row_vector(m, n, out, routes):
        parts = split_parts(m, k, n, out, routes)
        if parts > 1:
            # the update's bands are whole tiles of this shape (mr_of takes the shape as a literal)
            row_vector_split(a, b, out, parts, mr_of(out, True) if narrow else mr_of(out))
        else:
            row_vector_nn(a, b, out, runtime_int(0), k)
        return
    if not ta and tb and epilogue == Epilogue.STORE and use_row_dots(m, k, out):
        row_dots_nt(a, b, out)
        return
    if narrow:
        _tiles(a, b, out, ta, tb, epilogue, state1, state2, coefficients, routes, True)
    else:
        _tiles(a, b, out, ta, tb, epilogue, state1, state2, coefficients, routes, False)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _tiles(a, b, out, ta, tb, epilogue, state1, state2, coefficients, routes, narrow):
    """``_gemm`` in the tile shape ``narrow`` (a literal bool) names. An update at a small batch gives each
    thread its band of rows (``split_parts``). Otherwise row blocks of ``mc`` rows (op(a)'s block about
    ``a_block_bytes``); in each, a prange over ``n_col_tiles x n_bands`` items, column-tile major; rows are
    cut into bands only when there are too few column tiles to feed the threads (e.g. n = 10)."""
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    MR = mr_of(out, narrow)
    NR = nr_of(out, narrow)
    n_col_tiles = (n + NR - 1) // NR
    threads = num_threads()
    parts = split_parts(k, m, n, out, routes) if epilogue >= FIRST_RULE else 1
    # an item of the prange: a band of rows through ``tiles_per_item`` column tiles
    if parts > 1:  # one row block, one band of rows per thread through every column tile
        mc, n_bands, tiles_per_item, serial = m, parts, n_col_tiles, False
    else:
        blocking = blocking_of(out)
        n_row_blocks = max(1, (m * k * out.itemsize + blocking.a_block_bytes - 1) // blocking.a_block_bytes)
        mc = ((m + n_row_blocks - 1) // n_row_blocks + MR - 1) // MR * MR
        n_bands, tiles_per_item = 1, 1
        serial = threads == 1 or 2.0 * m * n * k < (
            routes[ROUTE_FUSED_PARALLEL_MIN_FLOP]
            if epilogue >= FIRST_RULE
            else routes[ROUTE_PARALLEL_MIN_FLOP]
        )
    for i_lo in range(0, m, mc):
        i_hi = min(m, i_lo + mc)
        if serial:
            for tj in range(n_col_tiles):
                _col_tile(a, b, out, ta, tb, tj, i_lo, i_hi, epilogue, state1, state2, coefficients, narrow)
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
                _col_tile(a, b, out, ta, tb, tj, i_lo + lo, i_lo + hi, epilogue, state1, state2, coefficients,
                          narrow)
                # fmt: on


@njit(cache=True)
def runtime_bool(x):
    """``x != 0`` as a runtime bool, not a literal: a literal True/False passed to _gemm would compile one
    specialisation of the whole tree per layout."""
    return x != 0


@njit(cache=True)
def runtime_int(x):
    """``x`` (an int or an ``Epilogue``) as a runtime int64. A literal argument, or an enum member (a type of
    its own), compiles a specialisation of the callee and of every kernel under it; as runtime ints, the
    products and the fused update share one compiled tree per dtype."""
    return np.int64(x)


@njit(cache=True)
def matmul_nn(a, b, out, routes):
    """out = a @ b; a (m, k), b (k, n), out (m, n), all C-contiguous."""
    store, coefficients = runtime_int(Epilogue.STORE), no_coefficients(out)
    _gemm(a, b, out, runtime_bool(0), runtime_bool(0), store, out, out, coefficients, routes)


@njit(cache=True)
def matmul_tn(a, b, out, routes):
    """out = a.T @ b; a (k, m), b (k, n): the micro-kernel broadcasts a.T's elements from contiguous runs
    of a's rows; nothing is transposed."""
    store, coefficients = runtime_int(Epilogue.STORE), no_coefficients(out)
    _gemm(a, b, out, runtime_bool(1), runtime_bool(0), store, out, out, coefficients, routes)


@njit(cache=True)
def matmul_nt(a, b, out, routes):
    """out = a @ b.T; a (m, k), b (n, k): b.T is packed per kc x NR panel."""
    store, coefficients = runtime_int(Epilogue.STORE), no_coefficients(out)
    _gemm(a, b, out, runtime_bool(0), runtime_bool(1), store, out, out, coefficients, routes)


@njit(cache=True)
def _outer_update(a, b, w, rule, state1, state2, coefficients):
    """``w`` updated by the outer product ``g = a.T @ b`` of a batch of one: row i of g is
    ``a[0, i] * b[0]``, made in registers for each whole NR columns (a stack row for a ragged rest),
    column tile by column tile, as the packed update runs (faster than row by row: see the commit). On one
    core, as the batch's forward (``split_parts``)."""
    m, n = w.shape
    NR = nr_of(w)
    if n < NR:  # no whole tile row: w's rows are contiguous, so g is made a panel of whole rows at a time
        panel = stack(w, B_PANEL)
        KC = blocking_of(w).kc
        g_rows = carray(panel, KC * NR)
        rows = KC * NR // n
        for i0 in range(0, m, rows):
            i1 = min(m, i0 + rows)
            for i in range(i0, i1):
                for c in range(n):
                    g_rows[(i - i0) * n + c] = a[0, i] * b[0, c]
            flat = i0 * n
            apply_rule(
                rule,
                element_pointer(w, flat),
                panel,
                element_pointer(state1, flat),
                element_pointer(state2, flat),
                (i1 - i0) * n,
                coefficients,
            )
        return
    n_full = n // NR * NR
    g_p = stack(w, ACC)
    g = carray(g_p, NR)
    for j in range(0, n_full, NR):
        for i in range(m):
            flat = i * n + j
            row_update(
                rule,
                element_pointer(w, flat),
                element_pointer(b, j),
                element_pointer(state1, flat),
                element_pointer(state2, flat),
                coefficients,
                a[0, i],
                False,
            )
    if n_full < n:
        for i in range(m):
            for c in range(n - n_full):
                g[c] = a[0, i] * b[0, n_full + c]
            flat = i * n + n_full
            apply_rule(
                rule,
                element_pointer(w, flat),
                g_p,
                element_pointer(state1, flat),
                element_pointer(state2, flat),
                n - n_full,
                coefficients,
            )


@njit(cache=True)
def matmul_tn_update(a, b, w, rule, state1, state2, packed_coefficients, routes):
    """The update ``rule`` (an ``Epilogue`` from ``FIRST_RULE`` on, as an int) of ``w`` (m, n) and its state
    ``state1``, ``state2`` (shaped like w; a rule ignores those it does not have) by the gradient
    ``g = a.T @ b`` (a (k, m), b (k, n)); ``packed_coefficients`` as ``jit_rules.pack_coefficients`` makes
    them.

    g is never stored: each finished register tile updates its tile of w, which saves writing g and
    reading it back in a pass over weight-sized arrays, the bulk of an update's cost when k (the batch)
    is small. That needs each tile's g whole after one k block, so k > KC (and k = 0) go through a
    temporary g and one pass of the rule.
    """
    k = a.shape[0]
    coefficients = unpack_coefficients(packed_coefficients)
    if k == 1:
        _outer_update(a, b, w, rule, state1, state2, coefficients)
    elif 0 < k <= blocking_of(w).kc:
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
