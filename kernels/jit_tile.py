"""The register tile of the Numba products: its shape (from ``kernels.blocking``), the micro-kernel and its
epilogue.

Index glossary (every kernel of ``jit_tile``, ``jit_matmul`` and ``jit_zoo``):

* ``m, n, k``: ``out`` is ``(m, n)`` and ``out = op(a) @ op(b)`` sums over ``k``; ``op(a)`` is ``a`` or
  ``a.T`` (``ta``), ``op(b)`` is ``b`` or ``b.T`` (``tb``).
* ``MR x NR``: the register tile, MR rows of ``out`` by NR columns (``kernels.blocking``); ``mr x nr``
  the part of a ragged tile at the bottom or right edge that exists.
* ``KC``: the most k steps per block, so that a ``KC x NR`` panel of ``op(b)`` stays in L1; ``kc``
  the steps of one block, ``p`` a step, ``p0`` the block's first.
* ``i0, j0``: a tile's first row and column in ``out``; ``tj`` a column tile's index (``j0 = tj * NR``).
* ``ia, pa``: the first row and k step of a micro-kernel call's slice of ``op(A)``; ``pb, jb`` the first
  k step and column of its slice of ``B`` (0 and 0 in a packed panel).
* ``i_lo, i_hi``: the rows of a row block (a band of row tiles), ``i`` the matching row of ``op(a)``.
* ``acc``: the MR x NR accumulators: the k loop's phi nodes in ``full_tile``; a stack buffer for a ragged
  tile (in registers inside its k loop).

How the loops become the kernel (LLVM, driven from Numba; Numba runs LLVM with the SLP vectoriser off,
so only the loop vectoriser can make vector code):

* A whole tile is written in vector IR (``full_tile``): its MR NR-lane accumulators are the k loop's phi
  nodes, and the epilogue takes them from there. Written as Python loops (the ragged tiles at out's
  edges still are), the k-step body ``for c in range(NR): for r in range(MR): acc[r * NR + c] += A[r, p]
  * B[p, c]`` gets its r loop unrolled and its c loop vectorised, but LICM keeps the accumulators in
  registers only inside the k loop: every tile zeroed, stored and reloaded them in a stack buffer,
  which at a small k (a small batch's weight gradient) cost as much as the FMAs.
* The accumulators and panels are static stack allocas (``stack``), which LLVM can promote to registers
  (a NumPy array is a heap object it cannot); ``cgutils.alloca_once`` would zero-fill them every call.
* Indices are row-slice views or clamped, never a signed runtime offset: Numba's negative-index
  wraparound turns such loads into per-lane selects and gathers.
* A row of an update is written in vector IR too (``row_update``, ``_emit_rules``): as a loop with the
  constant trip count NR it is unrolled before the vectoriser runs and stored as scalars; as a loop over
  a runtime count (``jit_rules.apply_rule``) it is too short for the vector loop LLVM makes of it.
* Only ``contract`` fastmath (mul + add into FMA), and not in the update rules (see ``_Vector``): NaN and
  inf propagate, the network needs them.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.core import cgutils, errors
from numba.extending import intrinsic, overload
from numba.np.ufunc.parallel import _launch_threads

from kernels import jit_cache  # noqa: F401  (must come before any @njit below)
from kernels.blocking import COMPILED_FIELDS, active_blocking
from kernels.jit_rules import FIRST_RULE, RULES, Coefficients, Epilogue, apply_rule

FASTMATH = {"contract"}


def tile_shape(itemsize: int, narrow: bool = False) -> tuple[int, int]:
    """(MR, NR) of the active ``Blocking`` for a dtype of ``itemsize`` bytes; ``narrow``: the tile for an
    out of at most ``narrow_nr`` columns (the output layer's), the same rows and as few columns as still
    vectorise (twice the rows measured no faster)."""
    blocking = active_blocking(np.dtype(f"f{itemsize}"))
    return blocking.mr, blocking.narrow_nr if narrow else blocking.nr


# --- compile-time constants of a dtype, and the intrinsics ------------------------------------------------


def mr_of(x, narrow=False):
    pass


def nr_of(x, narrow=False):
    pass


def blocking_of(x):
    pass


def _is_narrow(narrow) -> bool:
    """A ``narrow`` argument's value at compile time: omitted is False; otherwise it must be a literal bool
    (each tile shape is a compiled specialisation)."""
    if isinstance(narrow, types.Omitted):
        return narrow.value
    if isinstance(narrow, (bool, types.BooleanLiteral)):
        return getattr(narrow, "literal_value", narrow)
    raise errors.RequireLiteralValue(narrow)


def _tile_of(x, narrow) -> tuple[int, int]:
    return tile_shape(x.dtype.bitwidth // 8, narrow=_is_narrow(narrow))


@overload(mr_of, inline="always")
def _ov_mr_of(x, narrow=False):
    mr = _tile_of(x, narrow)[0]
    return lambda x, narrow=False: mr


@overload(nr_of, inline="always")
def _ov_nr_of(x, narrow=False):
    nr = _tile_of(x, narrow)[1]
    return lambda x, narrow=False: nr


# Blocking's block sizes, as a named tuple: a compiled constant (a dataclass is not one). The tunable
# thresholds are not among them: the kernels are handed those at run time (``routes``).
_BlockingNumbers = namedtuple("_BlockingNumbers", COMPILED_FIELDS)


@overload(blocking_of, inline="always")
def _ov_blocking_of(x):
    """The active ``Blocking`` of x's dtype, its block sizes as constants of the compiled code."""
    blocking = active_blocking(np.dtype(x.dtype.name))
    numbers = _BlockingNumbers(*(getattr(blocking, name) for name in _BlockingNumbers._fields))
    return lambda x: numbers


ACC, B_PANEL, A_PANEL = 0, 1, 2  # the stack buffers of ``stack``
PAGE = 4096  # bytes: where each stack buffer starts


@intrinsic
def stack(typingctx, like, which):
    """Pointer to an uninitialised static stack buffer of ``like``'s dtype, large enough for either tile
    shape: ``ACC`` the MR x NR accumulators (or the few-row kernel's), ``B_PANEL`` a KC x NR panel of
    op(b), ``A_PANEL`` a KC x MR panel of op(a). Each starts on a page: where a buffer falls within a
    page, relative to the arrays it is used with, changes a product's speed, and without the alignment it
    fell where the process's randomised stack address put it (a different speed in every process)."""
    if not isinstance(which, types.IntegerLiteral):
        raise errors.RequireLiteralValue(which)
    elty = like.dtype
    blocking = active_blocking(np.dtype(elty.name))  # the wide tile's: the narrow one has fewer columns
    mr, nr, kc = blocking.mr, blocking.nr, blocking.kc
    rowvec = max(blocking.rowvec_rows * blocking.rowvec_width, blocking.rowvec_width_one)
    elements = {ACC: max(mr * nr, rowvec), B_PANEL: kc * nr, A_PANEL: mr * kc}[which.literal_value]

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(elty)
        with builder.goto_entry_block():  # static: in the entry block, of constant size
            buf = builder.alloca(ir.ArrayType(llty, elements))
            buf.align = PAGE  # see ``stack``
        return builder.bitcast(buf, llty.as_pointer())

    return types.CPointer(elty)(like, which), codegen


@intrinsic
def element_pointer(typingctx, ary, flat):
    """Pointer to element ``flat`` of the C-contiguous array ``ary`` (no bounds check)."""

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.gep(data, [args[1]])

    return types.CPointer(ary.dtype)(ary, flat), codegen


@intrinsic
def offset_pointer(typingctx, ptr, offset):
    """The pointer ``offset`` elements past ``ptr``."""

    def codegen(context, builder, sig, args):
        return builder.gep(args[0], [args[1]])

    return ptr(ptr, offset), codegen


class _Vector:
    """A rule's operand while it is traced into the vector epilogue: each operator emits its LLVM
    instruction on NR-lane vectors, rounded as NumPy rounds; ``jit_rules.sqrt`` and ``jit_rules.flushed``
    of one call its methods of those names.

    Numba's fastmath pass gives every float instruction of the micro-kernel that has no fast-math flag
    the kernel's ``contract``, which would fuse a rule's multiply and add into one rounding. So each
    instruction here carries ``nsz``, the one flag that cannot change a nonzero result (it lets LLVM
    ignore the sign of a zero), and the pass leaves it alone."""

    FLAGS = ("nsz",)

    def __init__(self, builder: ir.IRBuilder, value: ir.Value):
        self.builder, self.value = builder, value

    def _emit(self, other: _Vector, instruction) -> _Vector:
        return _Vector(self.builder, instruction(self.value, other.value, flags=self.FLAGS))

    def __add__(self, other):
        return self._emit(other, self.builder.fadd)

    def __sub__(self, other):
        return self._emit(other, self.builder.fsub)

    def __mul__(self, other):
        return self._emit(other, self.builder.fmul)

    def __truediv__(self, other):
        return self._emit(other, self.builder.fdiv)

    def sqrt(self):
        vty = self.value.type
        name = f"llvm.sqrt.v{vty.count}{vty.element.intrinsic_name}"
        sqrt = self.builder.module.declare_intrinsic(name, fnty=ir.FunctionType(vty, [vty]))
        return _Vector(self.builder, self.builder.call(sqrt, [self.value]))

    def flushed(self) -> _Vector:
        vty = self.value.type
        fabs = self.builder.module.declare_intrinsic(
            f"llvm.fabs.v{vty.count}{vty.element.intrinsic_name}", fnty=ir.FunctionType(vty, [vty])
        )
        smallest_normal = np.finfo(np.float32 if isinstance(vty.element, ir.FloatType) else np.float64).tiny
        tiny = ir.Constant(vty, [float(smallest_normal)] * vty.count)
        below = self.builder.fcmp_ordered("<", self.builder.call(fabs, [self.value]), tiny)
        return _Vector(self.builder, self.builder.select(below, ir.Constant(vty, None), self.value))


def _splat(builder: ir.IRBuilder, vty: ir.VectorType, x: ir.Value) -> ir.Value:
    """The scalar ``x`` in every lane of a ``vty``."""
    lane = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(lane, lane, ir.Constant(ir.VectorType(ir.IntType(32), vty.count), None))


def _emit_rules(
    builder: ir.IRBuilder, epilogue_v, rows, coefficients_v, vty: ir.VectorType, align: int
) -> None:
    """The update rule ``epilogue_v`` names applied to each of ``rows``, (w pointer, gradient g as a
    ``_Vector``, state1 pointer, state2 pointer), all ``vty`` wide: each rule of ``jit_rules.RULES``
    traced with ``_Vector`` operands into vector IR, one branch per rule around all the rows."""
    scalars = (builder.extract_value(coefficients_v, k) for k in range(len(Coefficients._fields)))
    coefficients = Coefficients(*(_Vector(builder, _splat(builder, vty, x)) for x in scalars))
    for rule_epilogue, (rule, keeps) in RULES.items():
        chosen = builder.icmp_signed("==", epilogue_v, ir.Constant(epilogue_v.type, int(rule_epilogue)))
        with builder.if_then(chosen):
            for w_p, g, *state_p in rows:
                w, *state = (_Vector(builder, builder.load(p, align=align)) for p in (w_p, *state_p[:keeps]))
                new_w, *new_state = rule.py_func(w, g, *state, *[w] * (2 - keeps), coefficients)  # w: unused
                for p, value in zip(state_p[:keeps], new_state[:keeps]):
                    builder.store(value.value, p, align=align)
                builder.store(new_w.value, w_p, align=align)


@intrinsic
def row_update(typingctx, epilogue, w, g, state1, state2, coefficients, scale, narrow):
    """NR parameters at the pointer ``w`` and their state at ``state1``, ``state2`` updated by the gradient
    at ``g`` (times the scalar ``scale`` unless it is None: a row of an outer product) as the rule
    ``epilogue`` says (``_emit_rules``); NR that of the tile shape ``narrow`` names. Only for whole rows of
    NR."""
    elty = w.dtype
    nr = _tile_of(w, narrow)[1]
    scaled = not isinstance(scale, types.NoneType)

    def codegen(context, builder, sig, args):
        epilogue_v, *pointers, coefficients_v, scale_v, _ = args
        vty = ir.VectorType(context.get_value_type(elty), nr)
        align = elty.bitwidth // 8
        w_p, g_p, *state_p = (builder.bitcast(p, vty.as_pointer()) for p in pointers)
        g = _Vector(builder, builder.load(g_p, align=align))
        if scaled:
            g = _Vector(builder, _splat(builder, vty, scale_v)) * g
        _emit_rules(builder, epilogue_v, [(w_p, g, *state_p)], coefficients_v, vty, align)
        return context.get_dummy_value()

    return types.void(epilogue, w, g, state1, state2, coefficients, scale, narrow), codegen


@intrinsic
def full_tile(
    typingctx, A, ta, i, pa, B, pb, jb, kc, out, i0, j0, epilogue, state1, state2, coefficients, narrow
):
    """One whole MR x NR tile, written in vector IR: ``g = op(A)[i:i + MR, pa:pa + kc] @ B[pb:pb + kc,
    jb:jb + NR]`` (kc >= 1) in MR NR-lane accumulators that are the k loop's phi nodes, then the
    ``epilogue`` on ``out[i0:i0 + MR, j0:j0 + NR]`` (and the rule's state ``state1``, ``state2``, shaped
    like out) straight from them (why in IR: the module's docstring).

    Each step multiplies and adds in one rounding (``llvm.fma``), as ``contract`` makes of the Python
    loop; A's elements are ``A[pa + p, i + r]`` (``ta``) or ``A[i + r, pa + p]``, all in bounds."""
    elty = out.dtype
    mr, nr = _tile_of(out, narrow)

    def codegen(context, builder, sig, args):
        a_v, ta_v, i_v, pa_v, b_v, pb_v, jb_v, kc_v, out_v, i0_v, j0_v, epilogue_v, *rest = args
        state1_v, state2_v, coefficients_v, _ = rest
        llty = context.get_value_type(elty)
        vty = ir.VectorType(llty, nr)
        intp = context.get_value_type(types.intp)
        align = elty.bitwidth // 8
        add, mul = builder.add, builder.mul

        def const(x):
            return ir.Constant(intp, x)

        def array(position, value):  # (data pointer, row length in elements) of an argument
            ary = context.make_array(sig.args[position])(context, builder, value)
            return ary.data, builder.sdiv(cgutils.unpack_tuple(builder, ary.strides, 2)[0], const(align))

        def vector_at(data, row_length, row, col):
            return builder.bitcast(builder.gep(data, [add(mul(row, row_length), col)]), vty.as_pointer())

        def is_epilogue(e):
            return builder.icmp_signed("==", epilogue_v, ir.Constant(epilogue_v.type, int(e)))

        # element (r, p) of the tile's op(A) is a_rows[r][p * per_p]
        a_data, lda = array(0, a_v)
        per_p, per_r = builder.select(ta_v, lda, const(1)), builder.select(ta_v, const(1), lda)
        first = mul(pa_v, per_p)
        a_rows = [builder.gep(a_data, [add(first, mul(add(i_v, const(r)), per_r))]) for r in range(mr)]
        b_data, ldb = array(4, b_v)
        fma = builder.module.declare_intrinsic(
            f"llvm.fma.v{nr}{llty.intrinsic_name}", fnty=ir.FunctionType(vty, [vty, vty, vty])
        )

        entry = builder.block
        loop = builder.append_basic_block("tile.k")
        done = builder.append_basic_block("tile.epilogue")
        builder.branch(loop)
        builder.position_at_end(loop)
        p = builder.phi(intp)
        acc = [builder.phi(vty) for _ in range(mr)]
        b_row = builder.load(vector_at(b_data, ldb, add(pb_v, p), jb_v), align=align)
        step = mul(p, per_p)
        a_col = [_splat(builder, vty, builder.load(builder.gep(row, [step]))) for row in a_rows]
        g = [builder.call(fma, [a, b_row, acc_r]) for a, acc_r in zip(a_col, acc)]
        p_next = add(p, const(1))
        builder.cbranch(builder.icmp_signed("<", p_next, kc_v), loop, done)
        p.add_incoming(const(0), entry)
        p.add_incoming(p_next, loop)
        for phi, value in zip(acc, g):
            phi.add_incoming(ir.Constant(vty, None), entry)
            phi.add_incoming(value, loop)
        builder.position_at_end(done)

        o_data, ldo = array(8, out_v)
        state1_data, _ = array(12, state1_v)
        state2_data, _ = array(13, state2_v)
        rows = [add(i0_v, const(r)) for r in range(mr)]
        dst = [vector_at(o_data, ldo, row, j0_v) for row in rows]
        with builder.if_else(is_epilogue(Epilogue.STORE)) as (store, otherwise):
            with store:
                for d, g_r in zip(dst, g):
                    builder.store(g_r, d, align=align)
            with otherwise:
                with builder.if_else(is_epilogue(Epilogue.ACCUMULATE)) as (accumulate, update):
                    with accumulate:
                        for d, g_r in zip(dst, g):
                            builder.store(builder.fadd(builder.load(d, align=align), g_r), d, align=align)
                    with update:
                        state_data = (state1_data, state2_data)
                        state = [[vector_at(x, ldo, row, j0_v) for x in state_data] for row in rows]
                        rule_rows = [(d, _Vector(builder, g_r), *st) for d, g_r, st in zip(dst, g, state)]
                        _emit_rules(builder, epilogue_v, rule_rows, coefficients_v, vty, align)
        return context.get_dummy_value()

    signature = types.void(
        A, ta, i, pa, B, pb, jb, kc, out, i0, j0, epilogue, state1, state2, coefficients, narrow
    )
    return signature, codegen


@intrinsic
def num_threads(typingctx):
    """``numba.get_num_threads()`` without its ctypes global, which would make every caller uncacheable
    ("uses dynamic globals"): the threading layer's exported C symbol, called by name."""
    _launch_threads()

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(cgutils.intp_t, [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "get_num_threads")
        return builder.call(fn, [])

    return types.intp(), codegen


# The C symbol of num_threads exists once the thread pool is launched. Numba re-launches it for cached
# parallel code through a reload hook, which is lost when a caller is compiled against callees loaded from
# the cache: such a cached caller then crashed in a fresh process. So the pool is launched on import.
_launch_threads()


# --- the micro-kernel ------------------------------------------------------------------------------------


@njit(cache=True, fastmath=FASTMATH)
def micro_kernel(
    A, ta, ia, pa, B, pb, jb, kc, out, i_lo, i_hi, j0, nr, epilogue, state1, state2, coefficients, narrow
):
    """The MR x NR tiles of one column panel, rows ``[i_lo, i_hi)`` of out, then each tile's epilogue: whole
    tiles by ``full_tile``, the ragged ones at out's bottom and right edges by the loops here.

    Tile at row i0, with ``i = ia + i0 - i_lo``:
    ``g = op(A)[i:i + MR, pa:pa + kc] @ B[pb:pb + kc, jb:jb + NR]``; then the ``epilogue``
    (``jit_rules.Epilogue``) on ``out[i0:i0 + mr, j0:j0 + nr]``: store g, add it, or apply an update rule
    with g as the gradient of ``out`` (``state1``, ``state2``, ``coefficients``: the rule's state, shaped
    like out, and its ``jit_rules.Coefficients``; unused otherwise). A rule needs g whole: one k block only.

    ``narrow`` (a literal bool) picks the tile shape (``tile_shape``): one compiled kernel per shape.

    ``ta`` false: A is row-major with out's rows, clamped to the last (a ragged last row tile reads valid
    memory; the extra rows are computed, never stored). ``ta`` true: A is ``(k, m)`` and the MR broadcasts
    of a k step come from one contiguous run ``A[pa + p, i:i + MR]``, unclamped (the caller packs a ragged
    last row tile), which keeps the integer register pressure low. The row-tile loop is in here so that
    the call is made once per panel, and nothing array-typed is passed to a helper per tile (Numba's
    inliner would count references: two atomic operations per tile).
    """
    MR = mr_of(out, narrow)
    NR = nr_of(out, narrow)
    m, n = out.shape
    ia_max = m - 1
    acc_p = stack(out, ACC)
    acc = carray(acc_p, MR * NR)
    zero = out.dtype.type(0)
    for i0 in range(i_lo, i_hi, MR):
        i = ia + (i0 - i_lo)
        if i0 + MR <= m and nr == NR:
            full_tile(
                A, ta, i, pa, B, pb, jb, kc, out, i0, j0, epilogue, state1, state2, coefficients, narrow
            )
            continue
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
        mr = min(MR, m - i0)  # a ragged tile: only its mr x nr corner is out's
        if epilogue >= FIRST_RULE:
            for r in range(mr):
                row = (i0 + r) * n + j0
                apply_rule(
                    epilogue,
                    element_pointer(out, row),
                    offset_pointer(acc_p, r * NR),
                    element_pointer(state1, row),
                    element_pointer(state2, row),
                    nr,
                    coefficients,
                )
        elif epilogue == Epilogue.ACCUMULATE:
            for r in range(mr):
                for c in range(nr):
                    out[i0 + r, j0 + c] += acc[r * NR + c]
        else:
            for r in range(mr):
                for c in range(nr):
                    out[i0 + r, j0 + c] = acc[r * NR + c]
