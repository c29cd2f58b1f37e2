"""Numba matrix products written as compiled loops (no BLAS call inside njit).

Exports ``matmul_nn(a, b, out)`` (out = a @ b), ``matmul_tn`` (out = a.T @ b,
a is (k, m)) and ``matmul_nt`` (out = a @ b.T, b is (n, k)); all arguments
C-contiguous float32 or float64 (same dtype, no up-casting), ``out``
preallocated.  ``MATMUL_VARIANTS`` holds the nn "kernel zoo" for benchmarks.

Technique (BLIS-style, expressed so that LLVM generates it from numba loops)
---------------------------------------------------------------------------
* Register tile MR x NR: NR = 2 SIMD registers of columns, MR rows (AVX-512:
  8 x 32 f32 / 8 x 16 f64 = 16 zmm accumulators; AVX2: 5 x 16 f32, 4 x 16 f64;
  chosen at import from the host features numba targets, see tile_shape).
  The accumulators are a *stack* buffer (``_stack`` intrinsic: a static
  alloca; a numpy array would be a heap object LLVM cannot promote).  The
  k-step body is ``for c in range(NR): for r in range(MR): acc[r*NR+c] +=
  A[r, p] * B[p, c]``: the constant r loop is unrolled, the c loop is
  vectorised by the loop vectoriser, LICM then keeps the whole tile in
  registers for the k loop.  Inner loop (AVX-512 f32, asm): 2 vmovups of B,
  8 vbroadcastss of A, 16 vfmadd231ps zmm, 0 stores (~36-41 instructions per
  16 FMAs).
  What did NOT work: explicit scalar locals (c00..c7f) and any variant that
  lets SROA scalarise the tile before vectorisation -- numba runs LLVM with
  the SLP vectoriser disabled, so scalars stay scalar (vfmadd231ss, spills);
  tile loops in the "natural" r-outer/c-inner order got vectorised along the
  wrong axis (gathers/scatters); indexing with a signed runtime offset
  (``b[p, j0 + c]``) makes numba's negative-index wraparound select per lane
  and turns loads into gathers (use row-slice views or unsigned indices);
  6 x 2 ymm on AVX2 spilled (40% of OpenBLAS), 12 x 2 zmm was slower.
* Fixed cost per tile (what matters at small k, e.g. the weight gradient
  X.T @ D with k = batch): the full-tile store is an ``@intrinsic``
  (``_row_out``: one NR-lane vector load/store per row; the same store as
  a numba loop was unrolled before vectorisation and came out as 2*MR*NR
  scalar moves); the row-tile loop lives inside ``_micro`` (one call per
  column panel, not per tile) and no array is passed to a helper per tile
  (numba's IR inliner increfs/decrefs array arguments: atomic ops); the
  stack buffers are plain allocas (``cgutils.alloca_once`` zero-fills
  them: a 40 KB memset per panel).
* B packing: per (column tile, k block) the kc x NR slice of op(b) is copied
  into a stack panel (L1-resident, contiguous); for b.T the copy is a
  4-rows-at-a-time transpose.  Reading B in place (zoo ``tiled_unpacked``)
  is ~4x slower at n = 128: rows 512 B apart alias a few L1 sets.
  op(a) is not packed: its MR rows are broadcast in place (for a.T one
  contiguous run per k step); only a ragged last row tile of a.T is packed.
* Blocking: k in blocks of <= KC_MAX = 256 (B panel 32 KiB), rows in blocks
  whose op(a) slice fits L2_BUDGET; ragged tiles handled by clamping the row
  / column indices (extra lanes computed, never stored).
* Parallelism: prange over (column tile x row band) items, column-major so
  each thread gets a contiguous run of tiles; serial below PAR_MIN_FLOP or
  with 1 thread (numba's thread count is read through the C symbol, keeping
  the functions cacheable).
* Few-row nn (m < SMALL_M, or a wide b and m < ROWVEC_ROWS_PER_R * R):
  ``_row_vec``, blocks of R rows x W columns of accumulators (AVX-512 f32
  4 x 64, f64 2 x 64; else 1 row of 8 registers), b streamed from L2 once
  per R rows with no packing -- the kernel is bound by that stream, so R
  rows per pass divide it by R; a lone last row uses a 1-row block.
* No workspace/allocation per call: all panels live on the stack (<= ~45 KB
  per thread), so there is nothing to cache or pass in.
* fastmath={"contract"} only (mul+add -> FMA); NaN/Inf propagate.
* The three products share one compiled ``_gemm`` (layout flags passed as
  runtime bools: literal True/False made numba compile one specialisation
  of the whole tree per layout, 3x the compile time).

Measured: the matmul-variants and kernel tables of reports/performance.md give each variant's GFLOP/s
beside NumPy's sgemm at the same shape and thread count, from the committed benchmark run.
"""

import llvmlite.binding as _llb
import numpy as np
from llvmlite import ir
from numba import carray, njit, prange, types
from numba.core import cgutils, config, errors
from numba.extending import intrinsic, overload
from numba.np.ufunc.parallel import _launch_threads

from kernels import jit_cache  # noqa: F401  (must come before any @njit below)

__all__ = [
    "matmul_nn",
    "matmul_tn",
    "matmul_nt",
    "matmul_tn_momentum",
    "momentum_update",
    "MATMUL_VARIANTS",
    "naive_nn",
    "ikj_nn",
    "tiled_unpacked_nn",
]

# ----------------------------------------------------------------------------
# Host-dependent tile geometry (decided once at import, never hard-coded ISA)
# ----------------------------------------------------------------------------


def _host_vector_bytes():
    """Widest SIMD register numba will target: 64 (AVX-512), 32 (AVX) or 16."""
    feats = config.CPU_FEATURES
    if feats is None:
        try:
            feats = _llb.get_host_cpu_features().flatten()
        except Exception:  # pragma: no cover - exotic hosts
            feats = ""
    feats = "," + feats + ","
    if ",+avx512f," in feats:
        return 64
    if ",+avx," in feats or ",+avx2," in feats:
        return 32
    return 16


VEC_BYTES = _host_vector_bytes()


def tile_shape(itemsize, vec_bytes=None):
    """(MR, NR) register tile for a dtype: NR columns = 2 SIMD registers
    (AVX2 f64: 4, see below), MR rows.  2*MR accumulator registers + the B
    vectors + MR broadcasts (LLVM hoists all broadcasts of a k step) must fit
    the register file:
      AVX-512 (32 zmm): 8 x 2 regs.  12 x 2 was slower.
      AVX2 (16 ymm), f32: 5 x 2 (6 x 2 spilled: 40% of OpenBLAS).
      AVX2 f64: the constant column loop is fully unrolled by LLVM *before*
        the loop vectoriser runs (numba turns the SLP vectoriser off), which
        leaves scalar code, unless trip count x body is large: 5x8, 6x8, 3x16,
        2x16 all came out scalar (~20% of dgemm); 4 x 16 (4 ymm per row, 16
        accumulators, some spills) vectorises: ~35% of OpenBLAS dgemm.
      SSE only: 4 x 2 (correct, not tuned).
    """
    vb = VEC_BYTES if vec_bytes is None else vec_bytes
    w = vb // itemsize  # lanes per register
    if vb >= 64:
        return 8, 2 * w
    if vb >= 32:
        return (5, 2 * w) if itemsize == 4 else (4, 4 * w)
    return 4, 2 * w


KC_MAX = 256  # k-block: KC_MAX x NR panel of B (<= 32 KiB) stays in L1
PAR_MIN_FLOP = 3_000_000  # below: serial (a parallel region costs ~2.5 us back to back, more from sleep)
# ... for the fused momentum update: splitting it leaves half of w and v in the other core's cache, to be
# moved back and forth by the next (serial) step; at small k that costs more than the split saves. Splitting
# the small-batch forward product (_row_vec) and the update alike, so that each core kept its own rows of w
# and v, was tried and measured slower at batches 1 to 16 on this project's 2-core machine (entering a
# parallel region costs ~2.4 us, and the update, bound by streaming w and v, did not get faster on two cores;
# a split by columns was 20-40x slower still: the cores wrote alternate 256-byte runs of every row).
FUSED_PAR_MIN_FLOP = 16_000_000
L2_BUDGET = 512 * 1024  # bytes of op(a) per row block (kept in L2)
SMALL_M = 16  # nn with fewer rows: row-vector kernel (measured: beats the packed tile below 16 rows)
ROWVEC_ROWS_PER_R = 12  # ... and with b at least W wide, below 12 * R rows too (R-row blocks)

_FM = {"contract"}  # fuse mul+add into FMA; NaN/Inf semantics untouched


def _nr_of(x):
    pass


def _mr_of(x):
    pass


@overload(_nr_of, inline="always")
def _ov_nr_of(x):
    """Compile-time constant NR for the dtype of array x."""
    nr = tile_shape(x.dtype.bitwidth // 8)[1]
    return lambda x: nr


def _rowvec_shape(itemsize, vec_bytes=None):
    """(R, W, W1) accumulator blocks of _row_vec: R rows x W columns, and
    W1 columns for a single row.
    Widths: at least 64 columns (a shorter constant loop gets fully unrolled
    before the loop vectoriser and stays scalar: AVX2 f64 with 32 ran at 41%
    of numpy); one row gets 8 registers (independent FMA chains).  R rows
    share each load of b: the kernel is bound by streaming b (from L2), so
    R rows per pass cut that traffic R-fold.  AVX-512: R x W = 16 registers
    (f32 4 x 64, f64 2 x 64); AVX2/SSE: R = 1 (16 accumulators would spill
    there).  Blocks never exceed the MR * NR stack tile they live in."""
    vb = VEC_BYTES if vec_bytes is None else vec_bytes
    lanes = vb // itemsize
    mr, nr = tile_shape(itemsize, vb)
    w1 = min(max(8 * lanes, 64), mr * nr)
    if vb >= 64:
        w = max(4 * lanes, 64)
        return max(1, 16 * lanes // w), w, w1
    return 1, w1, w1


def _rowvec_of(x):
    pass


@overload(_rowvec_of, inline="always")
def _ov_rowvec_of(x):
    """Compile-time (R, W, W1) of _row_vec for the dtype of x."""
    shape = _rowvec_shape(x.dtype.bitwidth // 8)
    return lambda x: shape


@overload(_mr_of, inline="always")
def _ov_mr_of(x):
    """Compile-time constant MR for the dtype of array x."""
    mr = tile_shape(x.dtype.bitwidth // 8)[0]
    return lambda x: mr


@intrinsic
def _stack(typingctx, like, which):
    """Pointer to an uninitialised fixed-size stack (alloca) buffer.

    which: 0 -> MR*NR accumulator tile, 1 -> KC_MAX*NR B panel,
           2 -> KC_MAX*MR A panel.  Element type = like.dtype.
    A static alloca (entry block, constant size) is what lets LLVM keep the
    accumulator tile in registers (SROA / LICM scalar promotion); a numpy
    array from np.empty would be a heap object LLVM cannot promote.
    """
    if not isinstance(which, types.IntegerLiteral):
        raise errors.RequireLiteralValue(which)
    elty = like.dtype
    mr, nr = tile_shape(elty.bitwidth // 8)
    n = {0: mr * nr, 1: KC_MAX * nr, 2: mr * KC_MAX}[which.literal_value]

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(elty)
        # plain entry-block alloca: cgutils.alloca_once also zero-fills the
        # buffer, i.e. a ~40 KB memset of the panels on every _col_tile call
        with builder.goto_entry_block():
            buf = builder.alloca(ir.ArrayType(llty, n))
        return builder.bitcast(buf, llty.as_pointer())

    return types.CPointer(elty)(like, which), codegen


@intrinsic
def _row_out(typingctx, out, i, j, src, off, mode, vel, lr, mom, wd):
    """Epilogue of one full tile row, g = src[off:off+NR], as NR-lane vector
    loads/stores written directly in LLVM IR:
      mode 0: out[i, j:j+NR] = g;  mode 1: out[i, j:j+NR] += g;
      mode 2 (momentum SGD, out = w, vel = v, same shape):
        v = mom * v + (g + w * wd);  w -= lr * v
      in that operation order, without contraction into FMA, so that it
      rounds exactly like the separate update pass it replaces.
    Why not a numba loop: its constant NR trip count is fully unrolled
    before the loop vectoriser runs (and numba turns the SLP vectoriser off),
    so the tile store came out as 2 * MR * NR scalar moves -- the dominant
    fixed cost of a tile at small k.
    No bounds or wraparound checks: only used for full tiles."""
    elty = out.dtype
    nr = tile_shape(elty.bitwidth // 8)[1]

    def codegen(context, builder, sig, args):
        outv, iv, jv, srcp, offv, modev, velv, lrv, momv, wdv = args

        def row_ptr(aryty, aryv):
            ary = context.make_array(aryty)(context, builder, aryv)
            shape = cgutils.unpack_tuple(builder, ary.shape, 2)
            strides = cgutils.unpack_tuple(builder, ary.strides, 2)
            dst = cgutils.get_item_pointer2(context, builder, ary.data, shape, strides, "C", [iv, jv])
            return builder.bitcast(dst, vty.as_pointer())

        def splat(x):
            one = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(ir.IntType(32), nr), [0] * nr))

        vty = ir.VectorType(context.get_value_type(elty), nr)
        align = elty.bitwidth // 8
        val = builder.load(builder.bitcast(builder.gep(srcp, [offv]), vty.as_pointer()), align=align)
        vdst = row_ptr(sig.args[0], outv)
        with builder.if_else(builder.icmp_signed("==", modev, ir.Constant(modev.type, 2))) as (fused, plain):
            with fused:
                vvel = row_ptr(sig.args[6], velv)
                w = builder.load(vdst, align=align)
                v = builder.fmul(splat(momv), builder.load(vvel, align=align))
                v = builder.fadd(v, builder.fadd(val, builder.fmul(w, splat(wdv))))
                builder.store(v, vvel, align=align)
                builder.store(builder.fsub(w, builder.fmul(splat(lrv), v)), vdst, align=align)
            with plain:
                with builder.if_else(builder.icmp_signed("==", modev, ir.Constant(modev.type, 1))) as (
                    add,
                    store,
                ):
                    with add:
                        old = builder.load(vdst, align=align)
                        builder.store(builder.fadd(old, val), vdst, align=align)
                    with store:
                        builder.store(val, vdst, align=align)
        return context.get_dummy_value()

    ip = types.intp
    sig = types.void(out, ip, ip, types.CPointer(elty), ip, ip, vel, elty, elty, elty)
    return sig, codegen


@intrinsic
def _num_threads(typingctx):
    """numba.get_num_threads() without its ctypes global, which would make
    every caller uncacheable ("uses dynamic globals"): call the threading
    layer's exported C symbol by name, like numba's own _iget_num_threads."""
    _launch_threads()

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(cgutils.intp_t, [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "get_num_threads")
        return builder.call(fn, [])

    return types.intp(), codegen


# _num_threads' C symbol exists only once the thread pool is launched. Compiling a caller launches it
# (above), and numba re-launches it for cached parallel code through a reload hook, but that hook is lost
# when a caller is compiled against callees that were themselves loaded from the cache: such a cached
# caller (e.g. the fused step) then crashed in a fresh process. Launch the pool on import instead.
_launch_threads()


# ----------------------------------------------------------------------------
# Zoo variant 1 and 2
# ----------------------------------------------------------------------------


@njit(cache=True, fastmath=_FM)
def naive_nn(a, b, out):
    """Textbook i-j-k triple loop; inner loop is a strided dot product (column
    of b), so it neither vectorises nor uses cache lines well."""
    m, k = a.shape
    n = b.shape[1]
    zero = out.dtype.type(0)
    for i in range(m):
        for j in range(n):
            s = zero
            for p in range(k):
                s += a[i, p] * b[p, j]
            out[i, j] = s


@njit(cache=True, parallel=True, fastmath=_FM)
def ikj_nn(a, b, out):
    """i-k-j order with prange over rows: the inner j loop is a contiguous
    axpy (out[i,:] += a[i,p] * b[p,:]) that LLVM vectorises, but every FMA also
    loads and stores out (2 loads + 1 store per FMA): load/store bound."""
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


# ----------------------------------------------------------------------------
# Register-tiled micro-kernels
# ----------------------------------------------------------------------------


@njit(cache=True, fastmath=_FM)
def _micro(A, ta, ia, ia_max, pa, B, pb, jb, kc, out, i_lo, i_hi, j0, nr, mode, vel, lr, mom, wd):
    """MR x NR register tiles of one column panel.

    For each row tile i0 in range(i_lo, i_hi, MR), with i = ia + i0 - i_lo:
    g = op(A)[i:i+MR, pa:pa+kc] @ B[pb:pb+kc, jb:jb+NR], and the epilogue
    (see _row_out) on out[i0:i0+mr, j0:j0+nr]: mode 0 stores g, 1 adds it,
    2 applies the momentum update with g as the gradient (out = w, vel = v;
    lr, mom, wd unused otherwise).  Mode 2 needs g whole: one k block only.
    A row-major (ta false): rows clamped to ia_max (the partial last row
    tile reads valid memory; extra rows are computed and discarded).
    A transposed (ta true, A is (k, m)): the MR broadcasts of a k step come
    from one contiguous run A[pa+p, i:i+MR] (no clamping: one base pointer +
    constant offsets keeps the integer register pressure low; the caller
    packs a ragged last row tile).
    The accumulator tile lives in a stack buffer; the c loop (constant NR) is
    vectorised to 2 SIMD registers per row, the r loop (constant MR) fully
    unrolled, and LICM promotes the whole tile to registers for the k loop:
    per k step the inner loop is 2 vector loads of B, MR broadcasts of A and
    2*MR FMAs, no stores.
    Per-tile fixed cost is what matters at small k, hence: the row-tile loop
    is in here (the call, ~30 argument words, is made once per panel), and
    nothing array-typed is passed to a helper per tile (numba's IR inliner
    increfs/decrefs array arguments: two atomic ops per tile, half the time
    of a k = 8 tile); full tiles are stored by _row_out (vector stores).
    NB the variable-index accesses of the ragged store are what keeps SROA
    from scalarising acc before the loop vectoriser runs (numba disables
    the SLP vectoriser, so scalarised accumulators would stay scalar).
    """
    MR = _mr_of(out)
    NR = _nr_of(out)
    m = out.shape[0]
    accp = _stack(out, 0)
    acc = carray(accp, MR * NR)
    zero = out.dtype.type(0)
    for i0 in range(i_lo, i_hi, MR):
        i = ia + (i0 - i_lo)
        for t in range(MR * NR):
            acc[t] = zero
        if ta:
            for p in range(kc):
                for c in range(NR):
                    bc = B[pb + p, jb + c]
                    for r in range(MR):
                        acc[r * NR + c] += A[pa + p, i + r] * bc
        else:
            for p in range(kc):
                for c in range(NR):
                    bc = B[pb + p, jb + c]
                    for r in range(MR):
                        acc[r * NR + c] += A[min(i + r, ia_max), pa + p] * bc
        mr = min(MR, m - i0)
        if mr == MR and nr == NR:
            for r in range(MR):
                _row_out(out, i0 + r, j0, accp, r * NR, mode, vel, lr, mom, wd)
        elif mode == 2:
            for r in range(mr):
                for c in range(nr):
                    w = out[i0 + r, j0 + c]
                    v = mom * vel[i0 + r, j0 + c] + (acc[r * NR + c] + w * wd)
                    vel[i0 + r, j0 + c] = v
                    out[i0 + r, j0 + c] = w - lr * v
        elif mode == 1:
            for r in range(mr):
                for c in range(nr):
                    out[i0 + r, j0 + c] += acc[r * NR + c]
        else:
            for r in range(mr):
                for c in range(nr):
                    out[i0 + r, j0 + c] = acc[r * NR + c]


@njit(cache=True, fastmath=_FM)
def _kblocks(k):
    """Split k into nkb nearly equal blocks of at most KC_MAX."""
    nkb = max(1, (k + KC_MAX - 1) // KC_MAX)
    kc = (k + nkb - 1) // nkb
    return nkb, kc


@njit(cache=True, fastmath=_FM)
def _col_tile(a, b, out, ta, tb, tj, i_lo, i_hi, fuse, vel, lr, mom, wd):
    """One NR-wide column tile of out, rows [i_lo, i_hi) (multiples of MR),
    finished by the epilogue of _micro: a store, or with fuse the momentum
    update (mode 2); the later k blocks of a plain product add (mode 1).

    For each k block the kc x NR slice of op(b) is packed into a stack panel
    (a transposing copy for b.T; clamped at the last column so the ragged
    tile reads valid memory) that stays in L1 while every row tile of the
    block streams its rows of op(a) in place (broadcast loads).
    """
    MR = _mr_of(out)
    NR = _nr_of(out)
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    bpack = carray(_stack(out, 1), (KC_MAX, NR))
    apack = carray(_stack(out, 2), (KC_MAX, MR))
    nkb, kcb = _kblocks(k)
    j0 = tj * NR
    nr = min(NR, n - j0)
    for kb in range(nkb):
        p0 = kb * kcb
        kc = min(kcb, k - p0)
        if tb:  # b is (n, k): transpose 4 rows of b at a time (4
            # contiguous streams, LLVM interleaves them: ~2x faster than one
            # strided column at a time)
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
        mode = 1 if kb > 0 else (2 if fuse else 0)
        # a.T is read unclamped: its full row tiles end at i_full, the
        # ragged rest is packed below
        i_full = i_lo + (i_hi - i_lo) // MR * MR if ta else i_hi
        _micro(a, ta, i_lo, m - 1, p0, bpack, 0, 0, kc, out, i_lo, i_full, j0, nr, mode, vel, lr, mom, wd)
        if i_full < i_hi:  # ragged last row tile of a.T: pack, clamped
            for p in range(kc):
                for r in range(MR):
                    apack[p, r] = a[p0 + p, min(i_full + r, m - 1)]
            _micro(apack, ta, 0, m - 1, 0, bpack, 0, 0, kc, out, i_full, i_hi, j0, nr, mode, vel, lr, mom, wd)


@njit(cache=True, inline="always", fastmath=_FM)
def _rv_rows(a, b, out, i, R, W):
    """Rows [i, min(i+R, m)) of a @ b with R x W accumulators: b streamed
    once, each row of it used R times right after it is loaded.  Inlined, so
    that R and W are constants (r loop unrolled, c loop vectorised; loop
    order as in _micro).  Rows past m are clamped reads, never stored."""
    m, n = out.shape
    k = a.shape[1]
    acc = carray(_stack(out, 0), R * W)
    zero = out.dtype.type(0)
    for j0 in range(0, n, W):
        w = min(W, n - j0)
        for t in range(R * W):
            acc[t] = zero
        if w == W:  # constant trip count: unrolled into W/lanes vectors
            for p in range(k):
                brow = b[p, j0 : j0 + W]
                for c in range(W):
                    bc = brow[c]
                    for r in range(R):
                        acc[r * W + c] += a[min(i + r, m - 1), p] * bc
        else:
            for p in range(k):
                brow = b[p, j0 : j0 + w]
                for c in range(w):
                    bc = brow[c]
                    for r in range(R):
                        acc[r * W + c] += a[min(i + r, m - 1), p] * bc
        for r in range(min(R, m - i)):
            for c in range(w):
                out[i + r, j0 + c] = acc[r * W + c]


@njit(cache=True, fastmath=_FM)
def _row_vec(a, b, out):
    """Few-row nn product (m < SMALL_M): groups of R rows (_rowvec_shape),
    b streamed once per group with no packing (it is used once per group
    anyway); a last lone row uses a 1-row block instead of wasting R-1
    clamped rows (batch 1 is the common case there)."""
    R, W, W1 = _rowvec_of(out)
    m = out.shape[0]
    for i in range(0, m, R):
        if m - i == 1:
            _rv_rows(a, b, out, i, 1, W1)
        else:
            _rv_rows(a, b, out, i, R, W)


@njit(cache=True)
def _use_row_vec(m, n, out):
    """nn with few rows goes to _row_vec: b streamed once per R rows beats
    packing b panels for a handful of row tiles.  With R > 1 (AVX-512) the
    crossover is higher when b fills whole W-column blocks (measured at
    n = 128: m = 16 and 32 faster, 64 even); a narrow b (n = 10) takes the
    ragged-column path of _row_vec, slower than the tile from m = 16."""
    R, W, W1 = _rowvec_of(out)
    return m < SMALL_M or (n >= W and m < ROWVEC_ROWS_PER_R * R)


@njit(cache=True, fastmath=_FM)
def _zero(out):
    zero = out.dtype.type(0)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = zero


@njit(cache=True, parallel=True, fastmath=_FM)
def _gemm(a, b, out, ta, tb, fuse, vel, lr, mom, wd):
    """out = op(a) @ op(b); or with fuse (k <= KC_MAX only, so that each
    tile's g is whole after one k block) the momentum update of w = out and
    v = vel by g = op(a) @ op(b), applied per tile (see _row_out) instead of
    storing g; vel, lr, mom, wd are unused without fuse.

    Row blocks of MC rows (op(a) block ~ L2 sized); in each, a prange over
    work items = (column tile, band of row tiles), column-tile major so that
    numba's static schedule hands each thread a contiguous run of column
    tiles.  Row bands are only cut when there are too few column tiles to
    feed the threads (e.g. n = 10).  Products below PAR_MIN_FLOP (fused:
    FUSED_PAR_MIN_FLOP) run serially: waking the thread pool costs more
    than it saves there.
    """
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        _zero(out)
        return
    if not ta and not tb and _use_row_vec(m, n, out):
        _row_vec(a, b, out)
        return
    MR = _mr_of(out)
    NR = _nr_of(out)
    ntn = (n + NR - 1) // NR
    nic = max(1, (m * k * out.itemsize + L2_BUDGET - 1) // L2_BUDGET)
    mc = ((m + nic - 1) // nic + MR - 1) // MR * MR
    nth = _num_threads()
    serial = nth == 1 or 2.0 * m * n * k < (FUSED_PAR_MIN_FLOP if fuse else PAR_MIN_FLOP)
    for i_lo in range(0, m, mc):
        i_hi = min(m, i_lo + mc)
        if serial:
            for tj in range(ntn):
                _col_tile(a, b, out, ta, tb, tj, i_lo, i_hi, fuse, vel, lr, mom, wd)
        else:
            nrt = (i_hi - i_lo + MR - 1) // MR
            nrb = min(nrt, (nth + ntn - 1) // ntn)
            for it in prange(ntn * nrb):
                tj = it // nrb
                rb = it - tj * nrb
                lo = i_lo + (rb * nrt // nrb) * MR
                hi = min(i_hi, i_lo + ((rb + 1) * nrt // nrb) * MR)
                _col_tile(a, b, out, ta, tb, tj, lo, hi, fuse, vel, lr, mom, wd)


@njit(cache=True, fastmath=_FM)
def _rows_direct(a, b, out, t_lo, t_hi):
    """Row tiles [t_lo, t_hi) of a @ b with B read in place (no packing)."""
    MR = _mr_of(out)
    NR = _nr_of(out)
    m, n = out.shape
    k = b.shape[0]
    bpack = carray(_stack(out, 1), (KC_MAX, NR))
    nkb, kcb = _kblocks(k)
    ntn = (n + NR - 1) // NR
    z = out.dtype.type(0)
    ta = _flag(0)
    for ti in range(t_lo, t_hi):
        i0 = ti * MR
        i1 = i0 + MR
        for kb in range(nkb):
            p0 = kb * kcb
            kc = min(kcb, k - p0)
            mode = 1 if kb > 0 else 0
            for tj in range(ntn):
                j0 = tj * NR
                nr = min(NR, n - j0)
                if nr == NR:
                    _micro(a, ta, i0, m - 1, p0, b, p0, j0, kc, out, i0, i1, j0, nr, mode, out, z, z, z)
                else:
                    for p in range(kc):
                        for c in range(NR):
                            bpack[p, c] = b[p0 + p, min(j0 + c, n - 1)]
                    _micro(a, ta, i0, m - 1, p0, bpack, 0, 0, kc, out, i0, i1, j0, nr, mode, out, z, z, z)


@njit(cache=True, parallel=True, fastmath=_FM)
def tiled_unpacked_nn(a, b, out):
    """Zoo: same register tile, but B read in place (row stride n) and prange
    over row tiles.  With n = 128 floats the B rows are 512 B apart, so a
    kc x NR slice maps to a handful of L1 sets and thrashes: ~3x slower
    than packing the slice (matmul_nn)."""
    MR = _mr_of(out)
    m, n = out.shape
    if a.shape[1] == 0:
        _zero(out)
        return
    ntm = (m + MR - 1) // MR
    for ti in prange(ntm):
        _rows_direct(a, b, out, ti, ti + 1)


@njit(cache=True)
def _flag(x):
    """Runtime (non-literal) bool: passing literal True/False to _gemm would
    make numba compile one specialisation of the whole tree per layout."""
    return x != 0


@njit(cache=True, fastmath=_FM)
def matmul_nn(a, b, out):
    """out = a @ b; a (m, k), b (k, n), out (m, n), all C-contiguous."""
    z = out.dtype.type(0)  # lr, momentum, weight decay: unused without the fused epilogue
    _gemm(a, b, out, _flag(0), _flag(0), _flag(0), out, z, z, z)


@njit(cache=True, fastmath=_FM)
def matmul_tn(a, b, out):
    """out = a.T @ b; a (k, m), b (k, n): the micro-kernel broadcasts a.T's
    elements from contiguous runs of a's rows; nothing is transposed."""
    z = out.dtype.type(0)  # lr, momentum, weight decay: unused without the fused epilogue
    _gemm(a, b, out, _flag(1), _flag(0), _flag(0), out, z, z, z)


@njit(cache=True, fastmath=_FM)
def matmul_nt(a, b, out):
    """out = a @ b.T; a (m, k), b (n, k): b.T is packed per kc x NR panel."""
    z = out.dtype.type(0)  # lr, momentum, weight decay: unused without the fused epilogue
    _gemm(a, b, out, _flag(0), _flag(1), _flag(0), out, z, z, z)


@njit(cache=True)
def momentum_update(w, grad, velocity, lr, momentum, weight_decay):
    """``v = momentum * v + (g + w * weight_decay); w -= lr * v`` in one pass, in the order of
    ``network.optim.Momentum`` (no fastmath: no FMA contraction)."""
    w, grad, velocity = w.reshape(-1), grad.reshape(-1), velocity.reshape(-1)
    for i in range(w.size):
        v = momentum * velocity[i] + (grad[i] + w[i] * weight_decay)
        velocity[i] = v
        w[i] -= lr * v


@njit(cache=True, fastmath=_FM)
def matmul_tn_momentum(a, b, w, velocity, lr, momentum, weight_decay):
    """Momentum SGD step of w (m, n) and velocity (same shape) by the gradient g = a.T @ b (a (k, m),
    b (k, n)): ``v = momentum * v + (g + w * weight_decay); w -= lr * v``, as momentum_update.

    g is never stored: each finished register tile updates its tile of w and v (the epilogue of
    _row_out), which saves writing g and reading it back in a second pass over weight-sized arrays --
    the bulk of the update's cost when k (the batch) is small.  That needs each tile's g whole after
    one k block, so k > KC_MAX (and k = 0) take the composed path through a temporary g.
    """
    dt = w.dtype.type
    lr, momentum, weight_decay = dt(lr), dt(momentum), dt(weight_decay)
    k = a.shape[0]
    if 0 < k <= KC_MAX:
        _gemm(a, b, w, _flag(1), _flag(0), _flag(1), velocity, lr, momentum, weight_decay)
    else:
        grad = np.empty_like(w)
        z = dt(0)
        _gemm(a, b, grad, _flag(1), _flag(0), _flag(0), grad, z, z, z)
        momentum_update(w, grad, velocity, lr, momentum, weight_decay)


# the kernel zoo the benchmarks time side by side; "tiled" (register tile, packed B, blocking) is matmul_nn
MATMUL_VARIANTS = {"naive": naive_nn, "ikj": ikj_nn, "tiled_unpacked": tiled_unpacked_nn, "tiled": matmul_nn}
