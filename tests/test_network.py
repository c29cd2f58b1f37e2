"""The whole network: every backend's loss, probabilities and gradients against the float64 reference,
and the reference against central finite differences."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import relative_error
from hypothesis import given
from hypothesis import strategies as st

import kernels
from network import MLP
from network.optim import make_optimizer

# Architectures: the usual one, a hidden layer of width 1, three hidden layers, odd widths everywhere.
ARCHITECTURES = [[12, 8, 3], [5, 1, 4], [9, 7, 6, 5, 3], [30, 17, 10]]

# Whole-gradient tolerances, relative to the norm of the network's whole gradient. float64: all
# backends do the same sums in (nearly) the same order, so they agree to a few ulps; 1e-9 leaves room
# for the different summation orders of blocked products. float32: each layer adds relative errors
# of ~sqrt(k) * 6e-8 and backprop compounds them over the layers; 1e-4 is well above that and far
# below a real bug (a wrong gradient is off by order 1).
GRAD_TOLERANCE = {np.dtype("float64"): 1e-9, np.dtype("float32"): 1e-4}


def batch(rng, n_rows, layer_sizes):
    X = rng.standard_normal((n_rows, layer_sizes[0]))
    y = rng.integers(0, layer_sizes[-1], size=n_rows)
    return X, y


def reference_for(net: MLP) -> MLP:
    """A float64 numpy network holding exactly ``net``'s weights (already rounded to its dtype)."""
    ref = MLP(net.layer_sizes, backend="numpy", dtype="float64")
    for (W_ref, b_ref), (W, b) in zip(ref.params, net.params):
        W_ref[...] = W
        b_ref[...] = b
    return ref


def assert_agrees_with_reference(net: MLP, X: np.ndarray, y: np.ndarray) -> None:
    ref = reference_for(net)
    X_ref = np.asarray(X, dtype=net.dtype).astype(np.float64)  # the same inputs, rounded alike
    tolerance = GRAD_TOLERANCE[net.dtype]

    ref_loss, ref_grads = ref.loss_and_grads(X_ref, y)
    loss, grads = net.loss_and_grads(X, y)
    assert abs(loss - ref_loss) <= tolerance * max(1.0, abs(ref_loss))
    # Errors are measured against the norm of the whole gradient (every layer's dW and db together):
    # one layer's part can cancel to nearly nothing (a dead ReLU, balanced classes), and its rounding
    # error is then tiny against the gradient while huge against itself. The floor covers a network
    # whose gradient cancels to (nearly) zero, e.g. with every ReLU dead: the loss's gradient in the
    # logits has entries of order 1, so rounding leaves absolute errors of order eps, and 1e-3 as the
    # least scale keeps those from reading as wrong while a real bug still is.
    scale = max(np.linalg.norm(np.concatenate([g.ravel() for pair in ref_grads for g in pair])), 1e-3)
    for layer, ((dW, db), (dW_ref, db_ref)) in enumerate(zip(grads, ref_grads)):
        assert dW.dtype == net.dtype and db.dtype == net.dtype
        assert np.linalg.norm(dW - dW_ref) / scale <= tolerance, f"dW of layer {layer}"
        assert np.linalg.norm(db - db_ref) / scale <= tolerance, f"db of layer {layer}"
    assert relative_error(net.forward(X), ref.forward(X_ref)) <= tolerance


@pytest.mark.parametrize("layer_sizes", ARCHITECTURES, ids=str)
@pytest.mark.parametrize("n_rows", [1, 13])
def test_gradients_agree_with_reference(backend, dtype, rng, layer_sizes, n_rows):
    net = MLP(layer_sizes, backend=backend.name, dtype=dtype, seed=3)
    X, y = batch(rng, n_rows, layer_sizes)
    assert_agrees_with_reference(net, X, y)


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_gradients_agree_at_mnist_shape(backend_name, dtype, rng):
    """The real network's shape (784-128-10, batch 64); the loops backend is too slow for it."""
    try:
        net = MLP([784, 128, 10], backend=backend_name, dtype=dtype)
    except ImportError as err:
        pytest.skip(str(err))
    X = rng.random((64, 784))
    y = rng.integers(0, 10, size=64)
    assert_agrees_with_reference(net, X, y)


def test_loops_at_mnist_input_width(dtype, rng):
    net = MLP([784, 6, 10], backend="loops", dtype=dtype)
    X, y = rng.random((3, 784)), rng.integers(0, 10, size=3)
    assert_agrees_with_reference(net, X, y)


@given(
    widths=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    n_rows=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_gradients_agree_any_architecture(backend, dtype, widths, n_rows, seed):
    rng = np.random.default_rng(seed)
    layer_sizes = [int(rng.integers(1, 12)), *widths, int(rng.integers(2, 6))]
    net = MLP(layer_sizes, backend=backend.name, dtype=dtype, seed=seed)
    assert_agrees_with_reference(net, *batch(rng, n_rows, layer_sizes))


@pytest.mark.parametrize("layout", ["F", "strided"])
def test_input_layout_does_not_matter(backend, dtype, rng, layout):
    net = MLP([10, 6, 4], backend=backend.name, dtype=dtype)
    X, y = batch(rng, 7, net.layer_sizes)
    X = X.astype(dtype)
    expected_loss, expected = net.loss_and_grads(X, y)
    expected = [(dW.copy(), db.copy()) for dW, db in expected]
    odd = np.asfortranarray(X) if layout == "F" else np.repeat(X, 2, axis=1)[:, ::2]
    loss, grads = net.loss_and_grads(odd, y)
    assert loss == expected_loss
    for (dW, db), (dW_e, db_e) in zip(grads, expected):
        np.testing.assert_array_equal(dW, dW_e)
        np.testing.assert_array_equal(db, db_e)


def flat_params(net: MLP) -> list[np.ndarray]:
    return [p for pair in net.params for p in pair]


@pytest.mark.parametrize("layer_sizes", [[4, 5, 3], [3, 4, 4, 2], [6, 1, 3], [5, 7, 6, 5, 4]], ids=str)
def test_reference_gradients_match_finite_differences(layer_sizes):
    """Central differences, (L(w + h) - L(w - h)) / 2h with h = 1e-6, in float64: truncation error
    ~h^2 and rounding ~eps/h ~ 1e-10, so the analytic gradient must agree to well below 1e-6."""
    rng = np.random.default_rng(7)
    net = MLP(layer_sizes, backend="numpy", dtype="float64", seed=11)
    X, y = batch(rng, 6, layer_sizes)
    _, grads = net.loss_and_grads(X, y)
    analytic = [g.copy() for pair in grads for g in pair]
    h = 1e-6
    for param, grad in zip(flat_params(net), analytic):
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            saved = param[idx]
            param[idx] = saved + h
            loss_plus, _ = net.loss_and_grads(X, y)
            param[idx] = saved - h
            loss_minus, _ = net.loss_and_grads(X, y)
            param[idx] = saved
            numeric[idx] = (loss_plus - loss_minus) / (2 * h)
        assert relative_error(grad, numeric) < 1e-6


def test_forward_and_predict(backend, dtype, rng):
    net = MLP([8, 5, 4], backend=backend.name, dtype=dtype)
    X = rng.standard_normal((9, 8))
    probs = net.forward(X)
    assert probs.shape == (9, 4) and probs.dtype == dtype
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(net.predict(X), probs.argmax(axis=1))


def test_forward_returns_a_copy(rng):
    net = MLP([4, 3, 2])
    first = net.forward(rng.standard_normal((5, 4)))
    kept = first.copy()
    net.forward(rng.standard_normal((5, 4)))
    np.testing.assert_array_equal(first, kept)


def test_same_seed_same_weights_on_every_backend(dtype):
    nets = [MLP([784, 128, 64, 10], backend=name, dtype=dtype, seed=5) for name in ("numpy", "loops")]
    for (W1, b1), (W2, b2) in zip(nets[0].params, nets[1].params):
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)
    other = MLP([784, 128, 64, 10], dtype=dtype, seed=6)
    assert not np.array_equal(other.params[0][0], nets[0].params[0][0])


def test_he_initialisation():
    net = MLP([784, 256, 10], dtype="float64", seed=0)
    W, b = net.params[0]
    assert W.shape == (784, 256) and b.shape == (256,)
    assert W.std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    assert not b.any()


@pytest.mark.parametrize(
    ("X_shape", "y", "message"),
    [
        ((4, 7), [0, 1, 2, 0], "X has 7 features per row, the network expects 6"),
        ((0, 6), [], "empty batch"),
        ((4, 6), [0, 1, 2], "X has 4 rows but y has 3 labels"),
        ((4, 6), [0, 1, 2, 3], r"labels must be in 0\.\.2, got 3"),
        ((4, 6), [0, -1, 2, 1], r"labels must be in 0\.\.2, got -1"),
        ((4, 6), [0.0, 1.0, 2.0, 1.0], "labels must be integers"),
        ((6,), [0], "X must be 2-D"),
    ],
)
def test_bad_input_is_named(X_shape, y, message):
    net = MLP([6, 4, 3])
    with pytest.raises(ValueError, match=message):
        net.loss_and_grads(np.zeros(X_shape), np.array(y))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused(bad):
    net = MLP([3, 2, 2])
    X = np.zeros((2, 3))
    X[1, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.forward(X)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "float16"}, "unknown dtype 'float16': choose one of float32, float64"),
        ({"dtype": "int32"}, "unknown dtype"),
        ({"backend": "cuda"}, "unknown backend 'cuda': choose one of loops, numpy, numba"),
        ({"layer_sizes": [784]}, "two or more positive integers"),
        ({"layer_sizes": [784, 0, 10]}, "two or more positive integers"),
        ({"layer_sizes": [784, 2.5, 10]}, "two or more positive integers"),
    ],
)
def test_bad_construction_is_named(kwargs, message):
    args = {"layer_sizes": [784, 16, 10], **kwargs}
    with pytest.raises(ValueError, match=message):
        MLP(**args)


def test_backend_registry():
    assert kernels.available_backends() == ["loops", "numpy", "numba"]
    for name in kernels.available_backends():
        assert kernels.get_backend(name).name == name


def test_missing_numba_leaves_other_backends_working(monkeypatch):
    """Without numba, asking for it is a clear ImportError and the others still work."""
    monkeypatch.setitem(sys.modules, "numba", None)  # makes "import numba" fail
    for module in ("kernels.jit", "kernels.jit_matmul"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ImportError, match="backend 'numba' needs a library that is not installed"):
        kernels.get_backend("numba")
    net = MLP([4, 3, 2], backend="numpy")
    assert net.predict(np.ones((1, 4))).shape == (1,)
    assert kernels.get_backend("loops").name == "loops"


def fused_backends() -> list[str]:
    return [name for name in kernels.available_backends() if hasattr(_backend_or_none(name), "momentum_step")]


def _backend_or_none(name):
    try:
        return kernels.get_backend(name)
    except ImportError:
        return None


@pytest.mark.parametrize("backend_name", fused_backends())
@pytest.mark.parametrize("layer_sizes", [[12, 8, 3], [5, 1, 4], [9, 7, 6, 5, 3], [784, 33, 10]], ids=str)
@pytest.mark.parametrize("n_rows", [1, 5, 16, 17, 40])  # both sides of the small-batch path
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_fused_step_equals_composed_step(backend_name, dtype, rng, layer_sizes, n_rows, weight_decay):
    """A backend's fused momentum step computes what loss_and_grads + optimizer.step compute."""
    fused_net = MLP(layer_sizes, backend=backend_name, dtype=dtype, seed=4)
    composed_net = MLP(layer_sizes, backend=backend_name, dtype=dtype, seed=4, fused=False)
    fused_opt = make_optimizer("momentum", fused_net.params, weight_decay)
    composed_opt = make_optimizer("momentum", composed_net.params, weight_decay)
    tolerance = GRAD_TOLERANCE[np.dtype(dtype)]
    for _ in range(3):  # several steps, so that the velocities matter
        X, y = batch(rng, n_rows, layer_sizes)
        X = X.astype(dtype)
        fused_loss = fused_net.train_step(X, y, fused_opt, 0.05)
        composed_loss = composed_net.train_step(X, y, composed_opt, 0.05)
        assert fused_loss == pytest.approx(composed_loss, rel=tolerance, abs=tolerance)
    for (W, b), (W_ref, b_ref) in zip(fused_net.params, composed_net.params):
        assert relative_error(W, W_ref) <= tolerance and relative_error(b, b_ref) <= tolerance
    for v, v_ref in zip(fused_opt.velocity, composed_opt.velocity):
        assert relative_error(v, v_ref) <= tolerance


@pytest.mark.parametrize("backend_name", fused_backends())
@pytest.mark.parametrize("n_rows", [1, 40])
def test_fused_step_does_not_update_when_the_loss_is_not_finite(backend_name, rng, n_rows):
    net = MLP([6, 5, 3], backend=backend_name)
    optimizer = make_optimizer("momentum", net.params)
    net.params[1][0][0, 0] = np.inf  # the logits become inf - inf = NaN
    before = [p.copy() for pair in net.params for p in pair] + [v.copy() for v in optimizer.velocity]
    X, y = batch(rng, n_rows, net.layer_sizes)
    loss = net.train_step(X.astype(np.float32), y, optimizer, 0.1)
    assert not np.isfinite(loss)
    after = [p for pair in net.params for p in pair] + optimizer.velocity
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("optimizer_name", ["sgd", "momentum", "adam"])
def test_train_step_composed_path(optimizer_name, rng):
    """Without a fused step (numpy backend), train_step is loss_and_grads followed by the optimizer."""
    net, twin = MLP([7, 5, 3], seed=1), MLP([7, 5, 3], seed=1)
    opt = make_optimizer(optimizer_name, net.params, 0.01)
    twin_opt = make_optimizer(optimizer_name, twin.params, 0.01)
    X, y = batch(rng, 4, net.layer_sizes)
    loss = net.train_step(X.astype(np.float32), y, opt, 0.1)
    twin_loss, grads = twin.loss_and_grads(X, y)
    twin_opt.step(grads, 0.1)
    assert loss == twin_loss
    for (W, b), (W2, b2) in zip(net.params, twin.params):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
