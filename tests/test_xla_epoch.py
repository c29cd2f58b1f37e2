"""The jax backend's whole epoch in one compiled call (``kernels.xla.epoch_in_one_call``, the study's
technique) computes what the network's steps compute one call at a time, bit for bit: the same ``_step``
inside ``lax.scan``. Skipped, saying why, without the jax extra."""

from __future__ import annotations

import numpy as np
import pytest

from network import MLP
from network.optim import make_optimizer

pytest.importorskip("jax", reason='the jax backend is an optional extra: pip install -e ".[jax]"')
from kernels import xla  # noqa: E402  (after the skip: it raises ImportError without jax)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer_name", ["sgd", "momentum"])
def test_an_epoch_in_one_call_is_the_steps_one_by_one(dtype, optimizer_name):
    rng = np.random.default_rng(3)
    images = rng.random((48, 20)).astype(dtype)
    labels = rng.integers(0, 5, size=48)
    batches = rng.permutation(48).reshape(6, 8)
    lr = 0.1

    steps_net = MLP([20, 16, 5], backend="jax", dtype=dtype, seed=1)
    steps_optimizer = make_optimizer(optimizer_name, steps_net.params)
    losses = [steps_net.train_step(images[rows], labels[rows], steps_optimizer, lr) for rows in batches]

    net = MLP([20, 16, 5], backend="jax", dtype=dtype, seed=1)
    update = make_optimizer(optimizer_name, net.params).fused_update(lr)
    flat = [p.copy() for pair in net.params for p in pair]
    one_call_losses, params, _ = xla.epoch_in_one_call(update, flat, images, labels, batches)

    np.testing.assert_array_equal(one_call_losses, np.array(losses, dtype))
    for mine, theirs in zip(params, [p for pair in steps_net.params for p in pair]):
        np.testing.assert_array_equal(np.asarray(mine), theirs)
