"""Each operation of each backend against the float64 reference, one operation per test.

A wrong kernel is named by the test that fails: ``test_matmul_variants[numba-float32-...]`` and so on.
The loops backend runs every case too, so the shapes stay small.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import OP_TOLERANCE, REFERENCE, relative_error
from hypothesis import given
from hypothesis import strategies as st

import kernels
from kernels import jit_matmul
from kernels.blocking import active_routes

# (m, k, n): a batch of 1, widths of 1, sizes that are not multiples of 2, 4, 8, 16 or 32, and one
# shape of the real network's first layer at a small batch.
PRODUCT_SHAPES = [
    (1, 1, 1),
    (1, 7, 3),
    (3, 1, 5),
    (5, 17, 1),
    (13, 33, 65),
    (33, 129, 17),
    (37, 20, 10),
    (4, 784, 16),
]
LAYOUTS = ["C", "F", "strided"]


def make(rng: np.random.Generator, shape: tuple[int, ...], dtype, layout: str = "C", scale: float = 1.0):
    """A random array in the given memory layout: C, Fortran, or a non-contiguous strided view."""
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    if layout == "F":
        return np.asfortranarray(x)
    if layout == "strided":
        wide = np.zeros((shape[0], 2 * shape[-1]) if len(shape) == 2 else (2 * shape[0],), dtype)
        view = wide[..., ::2]
        view[...] = x
        assert not view.flags.c_contiguous or view.size <= 1
        return view
    return x


def as64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def check(result, expected, dtype, out=None, magnitude=None):
    """Right dtype, shape, C layout, written into ``out`` if given, and close to the reference.

    Closeness is relative to the result's norm, or for a product element by element relative to
    ``magnitude = |a| @ |b|``: a dot product's rounding error is bounded by that sum of absolute terms,
    not by the (possibly cancelled, tiny) result, so a well-computed product is never failed for
    cancellation and a wrong one is still off by order 1.
    """
    assert result.dtype == dtype, f"result dtype {result.dtype}, expected {dtype}"
    assert result.shape == expected.shape
    assert result.flags.c_contiguous
    if out is not None:
        assert result is out
    if magnitude is None:
        err = relative_error(result, expected)
    else:
        err = float(np.max(np.abs(result - expected) / np.maximum(magnitude, np.finfo(np.float64).tiny)))
    assert err <= OP_TOLERANCE[dtype], f"relative error {err:.2e}"


def check_product(backend, product, a, b, dtype, out=None):
    """``backend``'s ``product`` of ``a`` and ``b`` against the float64 reference."""
    _, reference = PRODUCTS[product]
    a64, b64 = as64(a, b)
    result = getattr(backend, product)(a, b) if out is None else getattr(backend, product)(a, b, out=out)
    check(result, reference(a64, b64), dtype, out, magnitude=reference(np.abs(a64), np.abs(b64)))


PRODUCTS = {
    # name: (shape of a, shape of b, reference) for the (m, k, n) of the product
    "matmul": (lambda m, k, n: ((m, k), (k, n)), lambda a, b: a @ b),
    "matmul_tn": (lambda m, k, n: ((k, m), (k, n)), lambda a, b: a.T @ b),
    "matmul_nt": (lambda m, k, n: ((m, k), (n, k)), lambda a, b: a @ b.T),
}


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("shape", PRODUCT_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_products(backend, dtype, rng, product, shape):
    shapes, reference = PRODUCTS[product]
    a_shape, b_shape = shapes(*shape)
    a, b = make(rng, a_shape, dtype), make(rng, b_shape, dtype)
    check_product(backend, product, a, b, dtype)
    out = np.full(reference(*as64(a, b)).shape, np.nan, dtype)  # NaN-filled: a skipped cell is caught
    check_product(backend, product, a, b, dtype, out)


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("layout_a", LAYOUTS)
@pytest.mark.parametrize("layout_b", LAYOUTS)
def test_products_any_layout(backend, dtype, rng, product, layout_a, layout_b):
    shapes, reference = PRODUCTS[product]
    a_shape, b_shape = shapes(9, 14, 6)
    a, b = make(rng, a_shape, dtype, layout_a), make(rng, b_shape, dtype, layout_b)
    check_product(backend, product, a, b, dtype)


@given(m=st.integers(1, 24), k=st.integers(1, 40), n=st.integers(1, 24), seed=st.integers(0, 2**32 - 1))
def test_products_any_shape(backend, dtype, m, k, n, seed):
    rng = np.random.default_rng(seed)
    for product, (shapes, _) in PRODUCTS.items():
        a_shape, b_shape = shapes(m, k, n)
        a, b = make(rng, a_shape, dtype), make(rng, b_shape, dtype)
        check_product(backend, product, a, b, dtype)


@pytest.mark.numba
@pytest.mark.parametrize("batch", [8, 17, 131])
def test_forward_split_between_threads(dtype, rng, batch):
    """numba's forward product of the real first layer, k summed in one part per thread
    (``jit_matmul.split_parts``), on the few-row route (small batches) and the packed one (131: a last row
    tile that overlaps), against the reference. (The update's bands of rows are checked against the
    composed step by ``test_network``.)"""
    a, b = make(rng, (batch, 784), dtype), make(rng, (784, 128), dtype)
    out = np.full((batch, 128), np.nan, dtype)
    if jit_matmul.split_parts(batch, 784, 128, out, active_routes(dtype)) < 2:
        pytest.skip("one thread: nothing to split")
    check_product(kernels.get_backend("numba"), "matmul", a, b, dtype, out)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (7, 3), (37, 65)])
def test_elementwise_forward(backend, dtype, rng, layout, shape):
    z = make(rng, shape, dtype, layout)
    b = make(rng, shape[1:], dtype, layout)
    (z64, b64) = as64(z, b)
    check(backend.add_bias(z, b), z64 + b64, dtype)
    check(backend.relu(z), np.maximum(z64, 0), dtype)
    check(backend.column_sums(z), z64.sum(axis=0), dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (7, 3), (37, 65)])
def test_relu_backward(backend, dtype, rng, layout, shape):
    upstream = make(rng, shape, dtype, layout)  # a random upstream gradient, not the loss's
    pre_activation = make(rng, shape, dtype, layout)
    g64, z64 = as64(upstream, pre_activation)
    expected = g64 * (z64 > 0)
    check(backend.relu_backward(upstream, pre_activation), expected, dtype)
    # the ReLU's output marks the same places as its input
    check(backend.relu_backward(upstream, np.maximum(pre_activation, 0)), expected, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (7, 3), (37, 65)])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_softmax_and_softmax_xent(backend, dtype, rng, layout, shape, scale):
    logits = make(rng, shape, dtype, layout, scale)
    labels = rng.integers(0, shape[1], size=shape[0])
    (z64,) = as64(logits)
    expected_probs = REFERENCE.softmax(z64)
    check(backend.softmax(logits), expected_probs, dtype)
    grad, loss = backend.softmax_xent(logits, labels)
    check(grad, (expected_probs - np.eye(shape[1])[labels]) / shape[0], dtype)
    assert isinstance(loss, float)
    _, expected_loss = REFERENCE.softmax_xent(z64, labels)
    assert loss == pytest.approx(expected_loss, rel=OP_TOLERANCE[dtype], abs=OP_TOLERANCE[dtype])


def test_reference_softmax_xent_is_the_textbook(rng):
    """The reference loss, computed through logsumexp, equals the textbook -log(p[label]), and its
    gradient the textbook (p - onehot) / m."""
    logits = rng.standard_normal((11, 7))
    labels = rng.integers(0, 7, size=11)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    grad, loss = REFERENCE.softmax_xent(logits, labels)
    assert loss == pytest.approx(-np.log(probs[np.arange(11), labels]).mean(), rel=1e-14)
    np.testing.assert_allclose(grad, (probs - np.eye(7)[labels]) / 11, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(REFERENCE.softmax(logits), probs, rtol=1e-14)


def test_softmax_xent_gradient_is_that_of_its_loss(rng):
    """The gradient equals the finite-difference gradient of the reference loss in the logits."""
    logits = rng.standard_normal((5, 4))
    labels = rng.integers(0, 4, size=5)
    grad, _ = REFERENCE.softmax_xent(logits, labels)
    eps = 1e-6
    numeric = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        step = np.zeros_like(logits)
        step[idx] = eps
        up, down = (
            REFERENCE.softmax_xent(logits + step, labels),
            REFERENCE.softmax_xent(logits - step, labels),
        )
        numeric[idx] = (up[1] - down[1]) / (2 * eps)
    assert relative_error(grad, numeric) < 1e-8


IN_PLACE = {
    "add_bias": lambda bk, x, other, out: bk.add_bias(x, other[0], out=out),
    "relu": lambda bk, x, other, out: bk.relu(x, out=out),
    "relu_backward": lambda bk, x, other, out: bk.relu_backward(x, other, out=out),
    "softmax": lambda bk, x, other, out: bk.softmax(x, out=out),
}


@pytest.mark.parametrize("op", IN_PLACE)
def test_in_place_allowed(backend, dtype, rng, op):
    """Element-wise and row-wise operations may write over their first argument."""
    x = make(rng, (6, 9), dtype)
    other = make(rng, (6, 9), dtype)
    expected = IN_PLACE[op](backend, x.copy(), other, None)
    result = IN_PLACE[op](backend, x, other, x)
    assert result is x
    np.testing.assert_array_equal(result, expected)


def test_softmax_xent_in_place(backend, dtype, rng):
    logits = make(rng, (6, 4), dtype)
    labels = rng.integers(0, 4, size=6)
    expected_grad, expected_loss = backend.softmax_xent(logits, labels)
    grad, loss = backend.softmax_xent(logits, labels, out=logits)
    assert grad is logits and loss == expected_loss
    np.testing.assert_array_equal(logits, expected_grad)


def test_inputs_are_not_modified(backend, dtype, rng):
    a, b = make(rng, (5, 6), dtype), make(rng, (6, 4), dtype)
    labels = rng.integers(0, 4, size=5)
    before = [a.copy(), b.copy()]
    backend.matmul(a, b)
    backend.matmul_nt(a, b.T.copy())
    backend.softmax(a)
    backend.softmax_xent(a[:, :4], labels)
    backend.relu(a)
    backend.relu_backward(a, a)
    np.testing.assert_array_equal(a, before[0])
    np.testing.assert_array_equal(b, before[1])


def test_softmax_does_not_overflow(backend, dtype):
    """Logits far beyond exp's range (float32 overflows at 89, float64 at 710) still give a distribution."""
    logits = np.array([[1e4, 0.0, -1e4], [-5e3, -5e3 + 1, -5e3 - 1], [3e4, 3e4, 3e4]], dtype)
    labels = np.array([0, 1, 2])
    probs = backend.softmax(logits)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(probs[0], [1, 0, 0], atol=1e-30)
    np.testing.assert_allclose(probs[2], [1 / 3] * 3, rtol=1e-6)
    grad, loss = backend.softmax_xent(logits, labels)
    assert np.isfinite(grad).all()
    # row 0: label has the max, loss ~0; row 1: logsumexp(0, 1, -1) - 1; row 2: log 3
    expected = (0.0 + (np.log(np.exp(-1) + 1 + np.exp(-2))) + np.log(3)) / 3
    assert loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_non_finite_values_propagate(backend, dtype):
    """NaN in the logits must reach the loss: that is how training detects divergence."""
    logits = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]], dtype)
    labels = np.array([0, 1])
    assert not np.isfinite(backend.softmax_xent(logits, labels)[1])
    assert np.isnan(backend.softmax(logits)[0]).all()
    assert np.isnan(backend.relu(logits)[0, 1])
    inf_logits = np.array([[np.inf, 0.0]], dtype)
    assert not np.isfinite(backend.softmax_xent(inf_logits, np.array([1]))[1])


@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 12),
    scale=st.sampled_from([1e-3, 1.0, 50.0, 1e3, 1e5]),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_properties(backend, dtype, rows, cols, scale, seed):
    """For any shape and scale: rows sum to one, no NaN, the largest logit has the largest p, loss >= 0,
    and each row of the loss's gradient sums to zero."""
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((rows, cols)) * scale).astype(dtype)
    probs = backend.softmax(logits)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    top = probs[np.arange(rows), logits.argmax(axis=1)]
    np.testing.assert_array_equal(top, probs.max(axis=1))
    grad, loss = backend.softmax_xent(logits, rng.integers(0, cols, size=rows))
    assert loss >= -1e-6
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-6)


def gathering_backends() -> list[str]:
    """The registered backends that import and gather rows themselves (``kernels.interface.RowGather``)."""
    return [name for name in kernels.installed_backends() if hasattr(kernels.get_backend(name), "take_rows")]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("count", [1, 7, 100])  # 100 rows of 700: past the numba gather's parallel size
@pytest.mark.parametrize("backend_name", gathering_backends())
def test_take_rows_gathers_the_rows_asked_for(backend_name, dtype, rng, layout, count):
    """The optional ``take_rows``: exactly ``source[rows]``, rows in any order and repeated, from a source
    in any layout."""
    source = make(rng, (300, 700), dtype, layout)
    rows = rng.integers(0, len(source), count)
    out = np.full((count, 700), np.nan, dtype)
    assert kernels.get_backend(backend_name).take_rows(source, rows, out) is out
    np.testing.assert_array_equal(out, source[rows])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("count", [1, 7, 300])  # 300 rows: every pixel value, by the parallel gather
@pytest.mark.parametrize("backend_name", gathering_backends())
def test_take_rows_scales_pixels_bit_for_bit_as_the_loaders_did(backend_name, dtype, rng, layout, count):
    """``take_rows`` from uint8 pixels: the bits of the rows of the set scaled whole, as the loaders scaled
    it before the data sets were held as pixels (``np.divide`` by 255 in the dtype), every value 0-255."""
    pixels = rng.permutation(np.arange(300 * 700) % 256).astype(np.uint8).reshape(300, 700)
    if layout == "F":
        pixels = np.asfortranarray(pixels)
    elif layout == "strided":
        pixels = np.repeat(pixels, 2, axis=1)[:, ::2]
    rows = rng.permutation(300)[:count]
    out = np.full((count, 700), np.nan, dtype)
    assert kernels.get_backend(backend_name).take_rows(pixels, rows, out) is out
    whole = np.divide(pixels, dtype.type(255), dtype=dtype)
    as_bits = np.uint32 if dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(out.view(as_bits), whole[rows].view(as_bits))
