"""The whole network: every backend's loss, probabilities and gradients against the float64 reference,
and the reference against central finite differences."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from bounded_reference import momentum_updates, reference, worst_ratio
from conftest import relative_error
from hypothesis import given
from hypothesis import strategies as st

import kernels
from kernels.interface import FusedUpdate
from network import MLP, aligned
from network.optim import OPTIMIZERS, Momentum, Optimizer, make_optimizer

try:  # the numba backend's k block: the fused cases below step over it
    from kernels.blocking import DTYPES, active_blocking

    KC = max(active_blocking(dtype).kc for dtype in DTYPES)
except ImportError:  # no numba: no k block to step over
    KC = 0

# Architectures: the usual one, a hidden layer of width 1, three hidden layers, odd widths everywhere.
ARCHITECTURES = [[12, 8, 3], [5, 1, 4], [9, 7, 6, 5, 3], [30, 17, 10]]


def batch(rng, n_rows, layer_sizes):
    X = rng.standard_normal((n_rows, layer_sizes[0]))
    y = rng.integers(0, layer_sizes[-1], size=n_rows)
    return X, y


def assert_agrees_with_reference(net: MLP, X: np.ndarray, y: np.ndarray) -> None:
    """Loss, probabilities and every gradient element within the rounding-error bound of the float64
    reference (``bounded_reference``): a bound per element, derived from the computation, so that entries
    that cancel (p - 1 of a confident network, a dead unit's sum) are held to what their rounding allows
    and no magic floor hides a wrong one."""
    X_net = np.asarray(X, dtype=net.dtype)  # the reference sees the same inputs, rounded alike
    expected = reference(net.params, X_net, y, net.dtype)
    loss, grads = net.loss_and_grads(X, y)
    assert worst_ratio(loss, expected.loss) <= 1, f"loss {loss!r} vs {expected.loss.value!r}"
    for layer, ((dW, db), (dW_ref, db_ref)) in enumerate(zip(grads, expected.grads)):
        assert dW.dtype == net.dtype and db.dtype == net.dtype
        assert worst_ratio(dW, dW_ref) <= 1, f"dW of layer {layer}: {worst_ratio(dW, dW_ref):.3g} x its bound"
        assert worst_ratio(db, db_ref) <= 1, f"db of layer {layer}: {worst_ratio(db, db_ref):.3g} x its bound"
    probs = net.forward(X)
    assert worst_ratio(probs, expected.probs) <= 1, f"probabilities: {worst_ratio(probs, expected.probs):.3g}"


@pytest.mark.parametrize("layer_sizes", ARCHITECTURES, ids=str)
@pytest.mark.parametrize("n_rows", [1, 13])
def test_gradients_agree_with_reference(backend, dtype, rng, layer_sizes, n_rows):
    net = MLP(layer_sizes, backend=backend.name, dtype=dtype, seed=3)
    X, y = batch(rng, n_rows, layer_sizes)
    assert_agrees_with_reference(net, X, y)


def test_gradients_agree_at_mnist_shape(backend, dtype, rng):
    """The real network's shape (784-128-10, batch 64), for every backend that runs at full size."""
    if not backend.full_size:
        pytest.skip(f"backend {backend.name!r} is not full_size: too slow at the real network's shape")
    net = MLP([784, 128, 10], backend=backend.name, dtype=dtype)
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
    """The reference every backend is held to (``bounded_reference.reference``) against central
    differences of its own loss, (L(w + h) - L(w - h)) / 2h with h = 1e-6, in float64: truncation error
    ~h^2 and rounding ~eps/h ~ 1e-10, so the analytic gradient must agree to well below 1e-6."""
    rng = np.random.default_rng(7)
    net = MLP(layer_sizes, backend="numpy", dtype="float64", seed=11)
    X, y = batch(rng, 6, layer_sizes)
    analytic = [g.value for pair in reference(net.params, X, y, net.dtype).grads for g in pair]
    h = 1e-6
    for param, grad in zip(flat_params(net), analytic):
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            saved = param[idx]
            param[idx] = saved + h
            loss_plus = reference(net.params, X, y, net.dtype).loss.value
            param[idx] = saved - h
            loss_minus = reference(net.params, X, y, net.dtype).loss.value
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
    nets = [
        MLP([784, 128, 64, 10], backend=name, dtype=dtype, seed=5) for name in kernels.installed_backends()
    ]
    for net in nets[1:]:
        for (W1, b1), (W2, b2) in zip(nets[0].params, net.params):
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
        (
            {"backend": "cuda"},
            f"unknown backend 'cuda': choose one of {', '.join(kernels.available_backends())}",
        ),
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
    assert kernels.available_backends() == ["loops", "numpy", "numba", "jax"]
    for name in kernels.installed_backends():  # an optional backend (jax) may not be installed
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


def test_missing_jax_says_how_to_install_it(monkeypatch):
    """jax is an optional extra: without it, asking for the backend names the extra to install."""
    monkeypatch.setitem(sys.modules, "jax", None)
    monkeypatch.delitem(sys.modules, "kernels.xla", raising=False)
    with pytest.raises(ImportError, match=r"backend 'jax' needs .*pip install -e \"\.\[jax\]\""):
        kernels.get_backend("jax")


def fused_backends() -> list[str]:
    return [
        name for name in kernels.installed_backends() if getattr(kernels.get_backend(name), "fused_rules", ())
    ]


def fused_rules() -> list[tuple[str, str]]:
    """(backend, rule) for every rule a backend fuses."""
    return [(name, rule) for name in fused_backends() for rule in kernels.get_backend(name).fused_rules]


def assert_step_within_bound(
    *runs: tuple[MLP, Momentum], X: np.ndarray, y: np.ndarray, lr: float = 0.05
) -> None:
    """Each (network, momentum optimizer) pair, started from the first pair's state, takes one train_step
    and lands within the rounding bound of the exact float64 step (``bounded_reference.momentum_updates``)."""
    net, opt = runs[0]
    expected = reference(net.params, X, y, net.dtype)
    before = [p.copy() for p in flat_params(net)]
    velocities = [v.copy() for v in opt.velocity]
    updates = momentum_updates(
        before, velocities, expected.grads, lr, opt.momentum, opt.weight_decay, net.dtype
    )
    for net, opt in runs:
        for param, value in zip(flat_params(net), before):
            param[...] = value
        for velocity, value in zip(opt.velocity, velocities):
            velocity[...] = value
        loss = net.train_step(X, y, opt, lr)
        assert worst_ratio(loss, expected.loss) <= 1, f"{net!r}: loss"
        params = flat_params(net)
        for i, (param, velocity, (new_param, new_velocity)) in enumerate(zip(params, opt.velocity, updates)):
            assert worst_ratio(param, new_param) <= 1, f"{net!r}, fused={net.fused}: parameter {i}"
            assert worst_ratio(velocity, new_velocity) <= 1, f"{net!r}, fused={net.fused}: velocity {i}"


# (layer sizes, batch): small networks on both sides of the small-batch paths (1, below and above 16
# rows), the CLI's default network at batches 1, 8 and 128 (the row-vector forward, the outer-product
# update, the first layer split between the threads on the packed route) with an input width above KC
# (the numba backend's k block), and a batch above KC (the weight gradient goes through a temporary
# instead of the fused update).
FUSED_CASES = [
    *[
        (sizes, rows)
        for sizes in ([12, 8, 3], [5, 1, 4], [9, 7, 6, 5, 3], [784, 33, 10])
        for rows in (1, 5, 16, 17, 40)
    ],
    *[([784, 512, 10], rows) for rows in (1, 8, 128)],
    ([40, 24, 10], KC + 44),
]


@pytest.mark.parametrize("backend_name", fused_backends())
@pytest.mark.parametrize(("layer_sizes", "n_rows"), FUSED_CASES, ids=lambda case: str(case))
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_fused_momentum_step_within_the_bound(backend_name, dtype, rng, layer_sizes, n_rows, weight_decay):
    """A backend's fused momentum step and loss_and_grads + network.optim.Momentum both land within the
    rounding bound of the exact float64 step, for three steps in a row (so that the velocities matter).

    Each step starts both networks from the same state (the fused one's), so that the bound is that of
    one step and does not grow with the steps."""
    fused_net = MLP(layer_sizes, backend=backend_name, dtype=dtype, seed=4)
    composed_net = MLP(layer_sizes, backend=backend_name, dtype=dtype, seed=4, fused=False)
    fused_opt = make_optimizer("momentum", fused_net.params, weight_decay)
    composed_opt = make_optimizer("momentum", composed_net.params, weight_decay)
    for _ in range(3):
        X, y = batch(rng, n_rows, layer_sizes)
        assert_step_within_bound((fused_net, fused_opt), (composed_net, composed_opt), X=X.astype(dtype), y=y)


# the fused step against the composed one, bit for bit: small networks, edge tiles (a first layer of 33
# columns: one whole column tile and an edge one), the CLI's default network at batches 1, 8 and 128,
# and a batch above KC
EXACT_CASES = [
    ([12, 8, 3], 1), ([12, 8, 3], 5), ([9, 7, 6, 5, 3], 17),
    *[([784, 33, 10], rows) for rows in (1, 5, 40)],
    *[([784, 512, 10], rows) for rows in (1, 8, 128)], ([40, 24, 10], KC + 44),
]  # fmt: skip


def flushed(state: np.ndarray) -> np.ndarray:
    """An optimizer's state as the fused rules store it: zero below the dtype's smallest normal."""
    if state.dtype.kind != "f":
        return state
    return np.where(np.abs(state) < np.finfo(state.dtype).tiny, state.dtype.type(0), state)


def assert_fused_is_composed(fused: tuple[MLP, Optimizer], composed: tuple[MLP, Optimizer], batches) -> None:
    """The fused and the composed step, from one state, leave the same loss, parameters and optimizer
    state (flushed, as the fused rules store it), bit for bit, step after step."""
    (fused_net, fused_opt), (composed_net, composed_opt) = fused, composed
    for step, (X, y) in enumerate(batches):
        losses = [net.train_step(X, y, opt, 0.01) for net, opt in (fused, composed)]
        assert losses[0] == losses[1], f"step {step}: loss"
        for i, (a, b) in enumerate(zip(flat_params(fused_net), flat_params(composed_net))):
            np.testing.assert_array_equal(a, b, err_msg=f"step {step}: parameter {i}")
        for key, value in composed_opt.state().items():
            fused_value = fused_opt.state()[key]
            np.testing.assert_array_equal(fused_value, flushed(value), err_msg=f"step {step}: {key}")


def fused_and_composed(backend_name, rule, layer_sizes, dtype, weight_decay):
    runs = []
    for fused in (True, False):
        net = MLP(layer_sizes, backend=backend_name, dtype=dtype, seed=4, fused=fused)
        runs.append((net, make_optimizer(rule, net.params, weight_decay)))
    return runs


@pytest.mark.parametrize(("backend_name", "rule"), fused_rules())
@pytest.mark.parametrize(("layer_sizes", "n_rows"), EXACT_CASES, ids=lambda case: str(case))
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_fused_step_is_the_composed_step(backend_name, rule, dtype, rng, layer_sizes, n_rows, weight_decay):
    """Every rule a backend fuses computes what loss_and_grads + the NumPy optimizer compute, exactly:
    three steps, so that the optimizer's state (velocity, moments, Adam's step count) matters."""
    batches = [(x.astype(dtype), y) for x, y in (batch(rng, n_rows, layer_sizes) for _ in range(3))]
    fused, composed = fused_and_composed(backend_name, rule, layer_sizes, dtype, weight_decay)
    assert_fused_is_composed(fused, composed, batches)


def keeps_state(rule: str) -> bool:
    return bool(make_optimizer(rule, [(np.zeros((1, 1)), np.zeros(1))]).state())


@pytest.mark.parametrize(("backend_name", "rule"), [(name, r) for name, r in fused_rules() if keeps_state(r)])
@pytest.mark.parametrize("n_rows", [1, 40])
def test_fused_rules_flush_a_subnormal_state(backend_name, rule, dtype, rng, n_rows):
    """Where a gradient stays zero (inputs that are zero in every row), a state that has decayed into the
    subnormals stays there in NumPy's optimizer (0.9 or 0.999 times 4 units of the last place rounds to 4),
    while the fused rules store it as zero; the parameters stay the composed step's, bit for bit."""
    layer_sizes, dead = [784, 33, 10], 300  # the first `dead` inputs are zero: their W1 rows get no gradient
    fused, composed = fused_and_composed(backend_name, rule, layer_sizes, dtype, 0.0)
    stuck = 4 * np.finfo(dtype).smallest_subnormal
    for _, optimizer in (fused, composed):
        for value in optimizer.state().values():
            if value.shape[0] == layer_sizes[0]:
                value[:dead] = stuck
    batches = []
    for _ in range(2):
        X, y = batch(rng, n_rows, layer_sizes)
        X[:, :dead] = 0
        batches.append((X.astype(dtype), y))
    assert_fused_is_composed(fused, composed, batches)
    for key, value in composed[1].state().items():
        if value.shape[0] == layer_sizes[0]:
            assert np.all(value[:dead] == stuck), key  # NumPy's rule kept the subnormal
            assert np.all(fused[1].state()[key][:dead] == 0), key


PLANTED_RULE_BUGS = [
    ("weight decay ignored", {"weight_decay": 0.0}),
    ("a larger step", {"lr": 0.0101}),
    ("momentum or beta1 off", {"momentum": 0.8, "beta1": 0.8}),
    ("beta2 off", {"beta2": 0.99}),
    ("eps off", {"eps": 1e-4}),
]


def coefficient_names(rule: str) -> set[str]:
    return set(make_optimizer(rule, [(np.zeros((1, 1)), np.zeros(1))]).fused_update(0.1).coefficients)


@pytest.mark.parametrize(
    ("backend_name", "rule", "bug", "changed"),
    [
        (name, rule, bug, changed)
        for name, rule in fused_rules()
        for bug, changed in PLANTED_RULE_BUGS
        if set(changed) & coefficient_names(rule)  # only the rule's own coefficients
    ],
)
def test_the_exact_check_catches_planted_bugs(backend_name, rule, dtype, rng, bug, changed):
    """A fused rule with one coefficient wrong fails ``assert_fused_is_composed``."""
    real_step = kernels.get_backend(backend_name).fused_step
    fused, composed = fused_and_composed(backend_name, rule, [30, 17, 9, 4], dtype, 0.01)

    def wrong_step(update, *args):
        coefficients = update.coefficients | {k: v for k, v in changed.items() if k in update.coefficients}
        return real_step(FusedUpdate(update.rule, update.state, coefficients), *args)

    fused[0].backend = mutant(backend_name, fused_step=wrong_step)
    batches = [(x.astype(dtype), y) for x, y in (batch(rng, 17, [30, 17, 9, 4]) for _ in range(2))]
    with pytest.raises(AssertionError):
        assert_fused_is_composed(fused, composed, batches)


@pytest.mark.parametrize(("backend_name", "rule"), fused_rules())
@pytest.mark.parametrize("n_rows", [1, 40])
def test_fused_step_does_not_update_when_the_loss_is_not_finite(backend_name, rule, rng, n_rows):
    net = MLP([6, 5, 3], backend=backend_name)
    optimizer = make_optimizer(rule, net.params)
    net.params[1][0][0, 0] = np.inf  # the logits become inf - inf = NaN
    before = [p.copy() for p in flat_params(net)] + [v.copy() for v in optimizer.state().values()]
    X, y = batch(rng, n_rows, net.layer_sizes)
    loss = net.train_step(X.astype(np.float32), y, optimizer, 0.1)
    assert not np.isfinite(loss)
    after = [p for pair in net.params for p in pair] + list(optimizer.state().values())
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


# --- the tests of the tests: a planted bug must fail the checks above --------------------------------------


def mutant(backend_name: str, **wrong) -> types.ModuleType:
    """A copy of a backend module with some of its operations replaced by wrong ones."""
    module = types.ModuleType(f"mutant of {backend_name}")
    module.__dict__.update(vars(kernels.get_backend(backend_name)))
    module.__dict__.update(wrong)
    return module


def _softmax_xent_without_max_shift(logits, labels, out=None):
    e = np.exp(logits)  # overflows for logits above ~89 (float32) or ~709 (float64)
    total = e.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = float((np.log(total[:, 0]) - logits[rows, labels]).mean())
    grad = e / total
    grad[rows, labels] -= 1
    grad /= len(labels)
    if out is not None:
        out[...] = grad
    return grad if out is None else out, loss


# name -> (the wrong operations, the architecture, the input scale that exposes them)
PLANTED_BUGS = {
    "relu mask shifted by one element": (
        {"relu_backward": lambda grad, a, out=None: np.multiply(grad, np.roll(a > 0, 1), out=out)},
        [12, 8, 6, 3],
        1.0,
    ),
    "input gradient without the transpose": (  # square weights, so that the shapes still fit
        {"matmul_nt": lambda a, b, out=None: np.matmul(a, b, out=out)},
        [7, 7, 7],
        1.0,
    ),
    "softmax without the max shift": (
        {"softmax_xent": _softmax_xent_without_max_shift},
        [12, 8, 3],
        1e3,  # logits of thousands: far inside every check's range, beyond exp's
    ),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("bug", PLANTED_BUGS)
@pytest.mark.parametrize("case_seed", range(5))
def test_gradient_check_catches_planted_bugs(dtype, bug, case_seed):
    wrong, layer_sizes, scale = PLANTED_BUGS[bug]
    rng = np.random.default_rng(case_seed)
    net = MLP(layer_sizes, dtype=dtype, seed=case_seed)
    X, y = batch(rng, 13, layer_sizes)
    X *= scale
    assert_agrees_with_reference(net, X, y)  # the correct backend passes this very case
    net.backend = mutant("numpy", **wrong)
    with pytest.raises(AssertionError):
        assert_agrees_with_reference(net, X, y)


@pytest.mark.parametrize("backend_name", fused_backends())
@pytest.mark.parametrize(
    ("bug", "changed"),
    [
        ("momentum not applied to the velocity", {"momentum": 1.0}),
        ("weight decay ignored", {"weight_decay": 0.0}),
    ],
)
def test_step_check_catches_planted_bugs(backend_name, dtype, rng, bug, changed):
    real_step = kernels.get_backend(backend_name).fused_step

    def wrong_step(update, *args):
        return real_step(FusedUpdate(update.rule, update.state, update.coefficients | changed), *args)

    net = MLP([784, 33, 10], backend=backend_name, dtype=dtype, seed=4)
    opt = make_optimizer("momentum", net.params, weight_decay=0.01)
    for _ in range(2):  # the first step makes a velocity, the second decays it
        X, y = batch(rng, 16, net.layer_sizes)
        assert_step_within_bound((net, opt), X=X.astype(dtype), y=y)
    net.backend = mutant(backend_name, fused_step=wrong_step)
    with pytest.raises(AssertionError):
        assert_step_within_bound((net, opt), X=X.astype(dtype), y=y)


@pytest.mark.parametrize("rule", OPTIMIZERS)
def test_what_threads_write_starts_on_a_cache_line(rule):
    """Weights, gradients, optimizer state and the step's buffers start on a cache line, so that threads
    splitting their columns at whole tiles never write one line together."""
    net = MLP([20, 48, 3], dtype="float64")
    optimizer = make_optimizer(rule, net.params)
    net.train_step(np.zeros((5, 20)), np.zeros(5, np.int64), optimizer, 0.1)
    ws = net._workspace(5)
    state = [a for key, a in optimizer.state().items() if key != "t"]  # Adam's step count is no matrix
    arrays = [*flat_params(net), *(g for pair in net.grads for g in pair), *state]
    arrays += [*ws.hidden, *ws.hidden_grads, ws.logits, ws.probs]
    assert all(a.ctypes.data % aligned.CACHE_LINE == 0 for a in arrays)


@pytest.mark.parametrize("shape", [0, 7, (3, 5), (2, 0, 4)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_aligned_arrays_are_ordinary_arrays(shape, dtype):
    a = aligned.copy(np.arange(np.prod(shape)).reshape(shape), dtype)
    assert a.size == 0 or a.ctypes.data % aligned.CACHE_LINE == 0  # an empty array has no line to share
    assert a.flags.c_contiguous and a.flags.writeable
    assert a.shape == np.shape(np.empty(shape)) and a.dtype == dtype
    np.testing.assert_array_equal(a, np.arange(np.prod(shape)).reshape(shape))
    assert not aligned.zeros_like(a).any()
