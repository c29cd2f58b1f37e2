"""The numba products' packing and routes (``kernels.jit_matmul``): zero-padded panels, and every route's
tiles against the float64 bound at any shape.

A panel's padding never reaches a stored element (an element of C depends only on its own row of A and
column of B, and an edge tile's padding rows and columns are never copied out), so no product test can
see it: the packing is checked here directly, with the check itself tried on a planted packer that
leaves an edge unpadded.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.bounds import assert_matmul_within_bound

pytest.importorskip("numba", reason="the packing is the numba backend's")
from numba import njit  # noqa: E402

from kernels import jit_matmul  # noqa: E402
from kernels.blocking import active_blocking, active_routes  # noqa: E402
from kernels.jit_tile import WIDE, tile_shape  # noqa: E402

pytestmark = pytest.mark.numba

DTYPE = np.float32  # the network's; float64 runs the same code (the ISA loop of .ci/run covers others)
MR, NR = tile_shape(np.dtype(DTYPE).itemsize)
KC = active_blocking(DTYPE).kc


def assert_packed(panel: np.ndarray, source: np.ndarray) -> None:
    """``panel`` holds ``source`` (``steps x lanes``, the part of op(a) or op(b) that exists) in its top left
    corner, and exact zeros in every other lane of those steps."""
    steps, lanes = source.shape
    np.testing.assert_array_equal(panel[:steps, :lanes], source)
    padding = panel[:steps, lanes:]
    assert not np.any(padding != 0), f"padding not zero: {padding[padding != 0][:4]}"


@njit
def _pack_b(b, tb, p0, kc, j0, panel):
    jit_matmul.pack_b(b, tb, p0, kc, j0, panel, WIDE)  # the tile's kind a literal, as the products pass it


@njit
def _pack_a(a, ta, i0, p0, kc, panel):
    jit_matmul.pack_a(a, ta, i0, p0, kc, panel, WIDE)


def packed_b(b: np.ndarray, tb: bool, p0: int, kc: int, j0: int) -> np.ndarray:
    panel = np.full((KC, NR), np.nan, DTYPE)  # NaN: a lane the packer leaves alone is caught
    _pack_b(b, tb, p0, kc, j0, panel)
    return panel


def packed_a(a: np.ndarray, ta: bool, i0: int, p0: int, kc: int) -> np.ndarray:
    panel = np.full((KC, MR), np.nan, DTYPE)
    _pack_a(a, ta, i0, p0, kc, panel)
    return panel


operand_sizes = st.integers(1, 3 * NR)
steps = st.integers(1, KC)


@given(k=steps, n=operand_sizes, transposed=st.booleans(), data=st.data())
def test_b_panels_are_op_b_zero_padded(k, n, transposed, data):
    op_b = np.random.default_rng(k * n).standard_normal((k, n)).astype(DTYPE)
    b = np.ascontiguousarray(op_b.T) if transposed else op_b
    p0 = data.draw(st.integers(0, k - 1))
    kc = data.draw(st.integers(1, k - p0))
    j0 = data.draw(st.sampled_from(range(0, n, NR)))
    assert_packed(packed_b(b, transposed, p0, kc, j0), op_b[p0 : p0 + kc, j0 : j0 + NR])


@given(k=steps, m=operand_sizes, transposed=st.booleans(), data=st.data())
def test_a_panels_are_op_a_zero_padded(k, m, transposed, data):
    op_a = np.random.default_rng(k * m).standard_normal((m, k)).astype(DTYPE)
    a = np.ascontiguousarray(op_a.T) if transposed else op_a
    p0 = data.draw(st.integers(0, k - 1))
    kc = data.draw(st.integers(1, k - p0))
    i0 = data.draw(st.sampled_from(range(0, m, MR)))
    # a step's MR elements are contiguous: the panel is op(a)'s slice transposed
    assert_packed(packed_a(a, transposed, i0, p0, kc), op_a[i0 : i0 + MR, p0 : p0 + kc].T)


def test_an_edge_left_unpadded_fails_the_check():
    """A planted packing bug: the last column tile packed without its zeros (the stack panel keeps
    whatever was there), as a packer that copies only the columns that exist would leave it."""
    op_b = np.ones((5, NR + 3), DTYPE)
    panel = packed_b(op_b, False, 0, 5, NR)
    panel[:5, 3:] = 7.0  # the last call's values, left in the padding
    with pytest.raises(AssertionError, match="padding not zero"):
        assert_packed(panel, op_b[:, NR:])


@given(
    m=st.integers(1, 64),
    k=st.integers(1, KC + 40),
    n=st.integers(1, 5 * NR),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_route_at_any_shape(m, k, n, seed):
    """The products of every layout at shapes that reach each route: the few-row route with masked last
    columns and overlapping last rows (m up to a few FEW tiles, n past several FEW tiles), the packed
    route with edge tiles, and more than one k block."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((m, k)).astype(DTYPE), rng.standard_normal((k, n)).astype(DTYPE)
    routes = active_routes(DTYPE)
    layouts = {
        "nn": (jit_matmul.matmul_nn, a, b),
        "tn": (jit_matmul.matmul_tn, np.ascontiguousarray(a.T), b),
        "nt": (jit_matmul.matmul_nt, a, np.ascontiguousarray(b.T)),
    }
    for product, x, y in layouts.values():
        out = np.full((m, n), np.nan, DTYPE)
        product(x, y, out, routes)
        assert_matmul_within_bound(out, a, b)
