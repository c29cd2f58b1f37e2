"""The micro-kernel of the Numba products, its tile shapes (from ``kernels.blocking``) and the update
layer that applies an optimizer's rule to a finished tile.

The contract, as BLIS's: ``micro_kernel`` computes one whole ``MR x NR`` tile ``C := beta C + A B`` with
``beta`` 0 or 1, and nothing else. It has no loop in the MR or NR direction and no edge case: the
driver (``kernels.jit_matmul``) hands it zero-padded packed panels at out's edges and a stack tile to
write, which it copies out; only the few-row route, which reads b in place, masks the lanes past out's
last column (``columns``). What a tile's product is for (a product's block, or the gradient an
optimizer's rule consumes) is the driver's business: ``rule_tile`` is the layer after the kernel.

Glossary (the names every kernel of ``jit_tile``, ``jit_matmul`` and ``jit_zoo`` uses):

* ``m, n, k``: ``out`` is ``(m, n)`` and ``out = op(a) @ op(b)`` sums over ``k``; ``op(a)`` is ``a`` or
  ``a.T`` (``ta``), ``op(b)`` is ``b`` or ``b.T`` (``tb``).
* A tile ``kind`` (``WIDE``, ``NARROW``, ``FEW``, ``ONE``) names one of the active blocking's tile
  shapes, ``MR x NR``; ``mr x nr`` is the part of a tile at out's bottom or right edge that exists.
* ``KC``: the most k steps per block, so that a ``KC x NR`` panel of ``op(b)`` stays in L1; ``kc`` the
  steps of one block, ``p`` a step, ``p0`` the block's first.
* ``i0, j0``: a tile's first row and column in ``out``.
* The micro-kernel's operands are pointers with strides in elements: element ``(r, p)`` of the tile's
  slice of op(A) is ``a[r * a_row_stride + p * a_step_stride]`` (a packed panel: 1 and MR; a row-major
  ``a`` read in place: its row length and 1; ``a.T`` in place: 1 and a's row length); row ``p`` of
  op(B)'s slice is the NR elements from ``b[p * b_step_stride]`` (a packed panel: NR; ``b`` in place:
  its row length); row ``r`` of C starts at ``c[r * c_row_stride]``; ``accumulate`` is ``beta``;
  ``columns``: the lanes of B's and C's rows that exist (NR but at the few-row route's last column).

How the kernel is written (LLVM, driven from Numba; Numba runs LLVM with the SLP vectoriser off, so only
the loop vectoriser would make vector code):

* In vector IR: the MR NR-lane accumulators are the k loop's phi nodes, so they live in registers for
  the whole tile. Written as Python loops, LICM keeps them in registers only inside the k loop, and
  every tile zeroed, stored and reloaded them in a stack buffer, which at a small k (a small batch's
  weight gradient) cost as much as the FMAs.
* Each k step is one NR-lane load of B, MR broadcasts of A and MR multiply-adds: in one rounding
  (``llvm.fma``, as ``contract`` makes of the Python loop) where the ISA has FMA; without it (SSE4.2)
  ``llvm.fmuladd``, a multiply and an add, as ``llvm.fma`` would be a call of libm's ``fma`` per lane.
* The stack buffers (``stack``) are static allocas, which LLVM can promote to registers (a NumPy array is
  a heap object it cannot); ``cgutils.alloca_once`` would zero-fill them every call. A whole tile's
  gradient goes through the ``TILE`` buffer only, at constant offsets, so that once the kernel and
  ``rule_tile`` are inlined into one function LLVM keeps it in registers.
* A row of an update is written in vector IR too (``rule_tile``, ``_emit_rules``): as a loop with the
  constant trip count NR it is unrolled before the vectoriser runs and stored as scalars; as a loop over
  a runtime count (``jit_rules.apply_rule``, which the edge tiles use) it is too short for the vector
  loop LLVM makes of it.
* Only ``contract`` fastmath (mul + add into FMA), and not in the update rules (see ``_Vector``): NaN and
  inf propagate, the network needs them.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils, errors
from numba.extending import intrinsic, overload
from numba.np.ufunc.parallel import _launch_threads

from kernels import jit_cache  # noqa: F401  (must come before any @njit below)
from kernels.blocking import COMPILED_FIELDS, TARGET_ISA, Blocking, active_blocking
from kernels.jit_rules import RULES, Coefficients

FASTMATH = {"contract"}
MULTIPLY_ADD = TARGET_ISA.multiply_add  # the micro-kernel's (its docstring)

# The tile kinds, each a shape of the active blocking (``tile_shape``); literal ints in the compiled code,
# one specialisation of a kernel per kind it is called with.
WIDE = 0  # the packed products' tile
NARROW = 1  # the same rows, as few columns as still vectorise: an out no wider (the output layer's)
FEW = 2  # the few-row products' tile: B read in place, streamed once per FEW rows
ONE = 3  # the few-row products' tile for a lone row
TILE_KINDS = (WIDE, NARROW, FEW, ONE)


def blocking_tile(blocking: Blocking, kind: int) -> tuple[int, int]:
    """(MR, NR) of the tile ``kind`` in ``blocking``."""
    return {
        WIDE: (blocking.mr, blocking.nr),
        NARROW: (blocking.mr, blocking.narrow_nr),
        FEW: (blocking.rowvec_rows, blocking.rowvec_width),
        ONE: (1, blocking.rowvec_width_one),
    }[kind]


def tile_shape(itemsize: int, kind: int = WIDE) -> tuple[int, int]:
    """(MR, NR) of the tile ``kind`` in the active ``Blocking`` of a dtype of ``itemsize`` bytes."""
    return blocking_tile(active_blocking(np.dtype(f"f{itemsize}")), kind)


# --- compile-time constants of a dtype, and the intrinsics ------------------------------------------------


def mr_of(x, kind=WIDE):
    pass


def nr_of(x, kind=WIDE):
    pass


def blocking_of(x):
    pass


def _literal_kind(kind) -> int:
    """A ``kind`` argument's value at compile time: omitted is ``WIDE``; otherwise it must be a literal int
    (each tile shape is a compiled specialisation)."""
    if isinstance(kind, types.Omitted):
        return kind.value
    if isinstance(kind, int):
        return kind
    if isinstance(kind, types.IntegerLiteral):
        return kind.literal_value
    raise errors.RequireLiteralValue(kind)


def _tile_of(x, kind) -> tuple[int, int]:
    return tile_shape(x.dtype.bitwidth // 8, _literal_kind(kind))


@overload(mr_of, inline="always")
def _ov_mr_of(x, kind=WIDE):
    mr = _tile_of(x, kind)[0]
    return lambda x, kind=WIDE: mr


@overload(nr_of, inline="always")
def _ov_nr_of(x, kind=WIDE):
    nr = _tile_of(x, kind)[1]
    return lambda x, kind=WIDE: nr


# Blocking's block sizes, as a named tuple: a compiled constant (a dataclass is not one). The tunable
# thresholds are not among them: the kernels are handed those at run time (``routes``).
_BlockingNumbers = namedtuple("_BlockingNumbers", COMPILED_FIELDS)


@overload(blocking_of, inline="always")
def _ov_blocking_of(x):
    """The active ``Blocking`` of x's dtype, its block sizes as constants of the compiled code."""
    blocking = active_blocking(np.dtype(x.dtype.name))
    numbers = _BlockingNumbers(*(getattr(blocking, name) for name in _BlockingNumbers._fields))
    return lambda x: numbers


TILE, EDGE, B_PANEL, A_PANEL = 0, 1, 2, 3  # the stack buffers of ``stack``
PAGE = 4096  # bytes: where each stack buffer starts


@intrinsic
def stack(typingctx, like, which):
    """Pointer to an uninitialised static stack buffer of ``like``'s dtype: ``TILE`` a whole tile's
    product on its way to ``rule_tile``, ``EDGE`` an edge tile's on its way out, each large enough for
    any kind; ``B_PANEL`` a KC x NR panel of op(b), ``A_PANEL`` a KC x MR panel of op(a). Each starts on
    a page: where a buffer falls within a page, relative to the arrays it is used with, changes a
    product's speed, and without the alignment it fell where the process's randomised stack address put
    it (a different speed in every process)."""
    if not isinstance(which, types.IntegerLiteral):
        raise errors.RequireLiteralValue(which)
    elty = like.dtype
    blocking = active_blocking(np.dtype(elty.name))
    tile = max(rows * cols for rows, cols in (blocking_tile(blocking, kind) for kind in TILE_KINDS))
    panel = {B_PANEL: blocking.kc * blocking.nr, A_PANEL: blocking.kc * blocking.mr}
    elements = panel.get(which.literal_value, tile)

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


def _emit_rules(builder: ir.IRBuilder, rule_v, rows, coefficients_v, vty: ir.VectorType, align: int) -> None:
    """The update rule ``rule_v`` names applied to each of ``rows``, (w pointer, gradient g as a
    ``_Vector``, state1 pointer, state2 pointer), all ``vty`` wide: each rule of ``jit_rules.RULES``
    traced with ``_Vector`` operands into vector IR, one branch per rule around all the rows."""
    scalars = (builder.extract_value(coefficients_v, k) for k in range(len(Coefficients._fields)))
    coefficients = Coefficients(*(_Vector(builder, _splat(builder, vty, x)) for x in scalars))
    for rule_id, (rule, keeps) in RULES.items():
        chosen = builder.icmp_signed("==", rule_v, ir.Constant(rule_v.type, int(rule_id)))
        with builder.if_then(chosen):
            for w_p, g, *state_p in rows:
                w, *state = (_Vector(builder, builder.load(p, align=align)) for p in (w_p, *state_p[:keeps]))
                new_w, *new_state = rule.py_func(w, g, *state, *[w] * (2 - keeps), coefficients)  # w: unused
                for p, value in zip(state_p[:keeps], new_state[:keeps]):
                    builder.store(value.value, p, align=align)
                builder.store(new_w.value, w_p, align=align)


def _first_lanes(builder: ir.IRBuilder, intp: ir.IntType, nr: int, columns: ir.Value) -> ir.Value:
    """The mask of an ``nr``-lane vector's first ``columns`` lanes (``_masked_access``'s mask)."""
    lanes = ir.VectorType(intp, nr)
    return builder.icmp_signed("<", ir.Constant(lanes, list(range(nr))), _splat(builder, lanes, columns))


def _masked_access(builder: ir.IRBuilder, vty: ir.VectorType) -> tuple[ir.Function, ir.Function]:
    """LLVM's masked load and store of a ``vty`` (lanes whose mask bit is off are not touched; a load gives
    its pass-through value there)."""
    pointer, mask = vty.as_pointer(), ir.VectorType(ir.IntType(1), vty.count)
    suffix = f"v{vty.count}{vty.element.intrinsic_name}.p0"
    i32 = ir.IntType(32)
    load = builder.module.declare_intrinsic(
        f"llvm.masked.load.{suffix}", fnty=ir.FunctionType(vty, [pointer, i32, mask, vty])
    )
    store = builder.module.declare_intrinsic(
        f"llvm.masked.store.{suffix}", fnty=ir.FunctionType(ir.VoidType(), [vty, pointer, i32, mask])
    )
    return load, store


@intrinsic
def copy_row(typingctx, dst, src, columns, kind):
    """A row of a packed panel of op(b): the ``columns`` elements at ``src``, then zeros, the NR of the tile
    ``kind`` in all, to ``dst``: one vector, loaded masked (nothing past ``columns`` is read; a constant
    ``NR`` folds to a plain load) and stored whole."""
    elty = dst.dtype
    nr = _tile_of(dst, kind)[1]

    def codegen(context, builder, sig, args):
        dst_v, src_v, columns_v, _ = args
        vty = ir.VectorType(context.get_value_type(elty), nr)
        align = elty.bitwidth // 8
        mask = _first_lanes(builder, context.get_value_type(types.intp), nr, columns_v)
        masked_load, _ = _masked_access(builder, vty)
        source = builder.bitcast(src_v, vty.as_pointer())
        row = builder.call(
            masked_load, [source, ir.Constant(ir.IntType(32), align), mask, ir.Constant(vty, None)]
        )
        builder.store(row, builder.bitcast(dst_v, vty.as_pointer()), align=align)
        return context.get_dummy_value()

    return types.void(dst, src, columns, kind), codegen


@intrinsic
def micro_kernel(
    typingctx,
    kc,
    columns,
    a,
    a_row_stride,
    a_step_stride,
    b,
    b_step_stride,
    accumulate,
    c,
    c_row_stride,
    kind,
):
    """One whole tile of the shape ``kind`` names: ``C := beta C + A B``, A the tile's ``MR x kc`` slice of
    op(A), B the ``kc x NR`` slice of op(B), ``beta`` 1 if ``accumulate`` else 0 (the glossary says where
    each operand's elements are). Every element of A is read, so the driver pads its edges; of B's and
    C's rows only the first ``columns`` lanes are read and written (masked loads and stores; a constant
    ``NR`` folds to plain ones)."""
    elty = c.dtype
    mr, nr = _tile_of(c, kind)

    def codegen(context, builder, sig, args):
        kc_v, columns_v, a_v, a_row_stride_v, a_step_stride_v, b_v, b_step_stride_v, *rest = args
        accumulate_v, c_v, ldc_v, _ = rest
        llty = context.get_value_type(elty)
        vty = ir.VectorType(llty, nr)
        intp = context.get_value_type(types.intp)
        align = elty.bitwidth // 8
        add, mul = builder.add, builder.mul

        def const(x):
            return ir.Constant(intp, x)

        def vector_at(pointer, offset):
            return builder.bitcast(builder.gep(pointer, [offset]), vty.as_pointer())

        mask = _first_lanes(builder, intp, nr, columns_v)
        masked_load, masked_store = _masked_access(builder, vty)

        def load(pointer):
            return builder.call(masked_load, [pointer, ir.Constant(ir.IntType(32), align), mask, zeros])

        def store(value, pointer):
            builder.call(masked_store, [value, pointer, ir.Constant(ir.IntType(32), align), mask])

        zeros = ir.Constant(vty, None)
        a_rows = [builder.gep(a_v, [mul(const(r), a_row_stride_v)]) for r in range(mr)]
        fma = builder.module.declare_intrinsic(
            f"{MULTIPLY_ADD}.v{nr}{llty.intrinsic_name}", fnty=ir.FunctionType(vty, [vty, vty, vty])
        )
        entry = builder.block
        loop = builder.append_basic_block("tile.k")
        done = builder.append_basic_block("tile.store")
        builder.cbranch(builder.icmp_signed(">", kc_v, const(0)), loop, done)
        builder.position_at_end(loop)
        p = builder.phi(intp)
        acc = [builder.phi(vty) for _ in range(mr)]
        b_row = load(vector_at(b_v, mul(p, b_step_stride_v)))
        step = mul(p, a_step_stride_v)
        a_col = [_splat(builder, vty, builder.load(builder.gep(row, [step]))) for row in a_rows]
        products = [builder.call(fma, [a_r, b_row, acc_r]) for a_r, acc_r in zip(a_col, acc)]
        p_next = add(p, const(1))
        builder.cbranch(builder.icmp_signed("<", p_next, kc_v), loop, done)
        p.add_incoming(const(0), entry)
        p.add_incoming(p_next, loop)
        for phi, value in zip(acc, products):
            phi.add_incoming(zeros, entry)
            phi.add_incoming(value, loop)

        builder.position_at_end(done)  # kc = 0 gives a tile of zeros
        tile = []
        for value in products:
            row = builder.phi(vty)
            row.add_incoming(zeros, entry)
            row.add_incoming(value, loop)
            tile.append(row)
        rows = [vector_at(c_v, mul(const(r), ldc_v)) for r in range(mr)]
        with builder.if_else(accumulate_v) as (then_accumulate, otherwise_store):
            with then_accumulate:
                for row, value in zip(rows, tile):
                    store(builder.fadd(load(row), value), row)
            with otherwise_store:
                for row, value in zip(rows, tile):
                    store(value, row)
        return context.get_dummy_value()

    signature = types.void(
        kc, columns, a, a_row_stride, a_step_stride, b, b_step_stride, accumulate, c, c_row_stride, kind
    )
    return signature, codegen


@intrinsic
def rule_tile(typingctx, rule, w, w_row_stride, g, state1, state2, coefficients, kind):
    """The update layer: a whole tile of parameters, ``MR x NR`` (the shape ``kind`` names) from the pointer
    ``w`` with rows ``w_row_stride`` apart, and their state at ``state1``, ``state2`` (laid out as w),
    updated by the gradient tile ``g`` (contiguous, ``MR x NR``) as ``rule`` says (``_emit_rules``)."""
    elty = w.dtype
    mr, nr = _tile_of(w, kind)

    def codegen(context, builder, sig, args):
        rule_v, w_v, ldw_v, g_v, state1_v, state2_v, coefficients_v, _ = args
        vty = ir.VectorType(context.get_value_type(elty), nr)
        intp = context.get_value_type(types.intp)
        align = elty.bitwidth // 8

        def vector_at(pointer, offset):
            return builder.bitcast(builder.gep(pointer, [offset]), vty.as_pointer())

        rows = []
        for r in range(mr):
            offset = builder.mul(ir.Constant(intp, r), ldw_v)
            gradient = _Vector(builder, builder.load(vector_at(g_v, ir.Constant(intp, r * nr)), align=align))
            rows.append(
                (vector_at(w_v, offset), gradient, *(vector_at(s, offset) for s in (state1_v, state2_v)))
            )
        _emit_rules(builder, rule_v, rows, coefficients_v, vty, align)
        return context.get_dummy_value()

    return types.void(rule, w, w_row_stride, g, state1, state2, coefficients, kind), codegen


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
