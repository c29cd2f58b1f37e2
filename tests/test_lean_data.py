"""The data held lean: the pixels stay uint8, every backend's batch gather scales them to the network's
dtype bit for bit as the loaders used to scale the whole set, the validation split is an index into the
training images rather than a copy."""

from __future__ import annotations

import numpy as np
import pytest

from network import MLP
from network.data import split_validation
from network.dataset import Subset
from network.optim import make_optimizer
from network.trainer import Trainer, loss_and_accuracy

N_PIXELS = 784


def old_features(pixels: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """How the loaders scaled a data set before it was held as pixels (``to_features``, commit 9372e00):
    the reference every new path is held to, bit for bit."""
    return np.divide(pixels.reshape(len(pixels), -1), dtype.type(255), dtype=dtype)


def bits(x: np.ndarray) -> np.ndarray:
    """The floats' bit patterns: equal bits, not merely equal values (0.0 == -0.0)."""
    return x.view(np.uint32 if x.dtype == np.float32 else np.uint64)


def every_pixel_value(n: int, seed: int = 0) -> np.ndarray:
    """``n`` rows of 784 pixels in which each of the 256 values appears, shuffled over the rows."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n * N_PIXELS) % 256).astype(np.uint8).reshape(n, N_PIXELS)


def trainer_of(backend: str, dtype: np.dtype, train: tuple, batch: int, hidden: int = 8) -> Trainer:
    net = MLP([N_PIXELS, hidden, 10], backend=backend, dtype=dtype, seed=3)
    optimizer = make_optimizer("momentum", net.params)
    return Trainer(net, optimizer, train, epochs=1, batch_size=batch, lr=0.05, seed=4)


# --- the batch gather: every backend, both dtypes, against the old float path ------------------------------


# 1 and 8 rows take the numba backend's NumPy route in float32, 64 its parallel gather; the numpy and loops
# backends gather with NumPy's take and kernels.pixels' division (the trainer's own route)
@pytest.mark.parametrize("batch", [1, 8, 64])
@pytest.mark.parametrize("indexed", [False, True], ids=["whole set", "validation split"])
def test_every_batch_of_pixels_is_the_old_float_batch_bit_for_bit(backend, dtype, batch, indexed):
    """An epoch's batches, gathered from uint8 pixels and scaled on the way, against the same rows of the
    set scaled whole as the loaders did; through the validation split's index too."""
    pixels, labels = every_pixel_value(300), np.arange(300) % 10
    if indexed:
        train, _ = split_validation(pixels, labels, 0.2, seed=1)
        old_X, old_y = old_features(pixels, dtype)[train.rows], labels[train.rows]
    else:
        train, old_X, old_y = (pixels, labels), old_features(pixels, dtype), labels
    trainer = trainer_of(backend.name, dtype, train, batch)
    trainer.order = trainer.rng.permutation(trainer.n_train)
    for step in range(trainer.steps_per_epoch):
        X, y = trainer.batch(step)
        rows = trainer.order[step * batch : (step + 1) * batch]
        assert X.dtype == dtype
        np.testing.assert_array_equal(bits(X), bits(old_X[rows]))
        np.testing.assert_array_equal(y, old_y[rows])


@pytest.mark.parametrize("indexed", [False, True], ids=["whole set", "validation split"])
def test_an_epoch_on_pixels_trains_the_weights_an_epoch_on_floats_did(backend, dtype, indexed):
    """The whole trainer: the same weights, bit for bit, as training on the old float set, and the same
    training and validation measurements."""
    n = 48 if backend.full_size else 24  # the loops backend: a few hundred microseconds a row
    pixels, labels = every_pixel_value(n, seed=2), np.random.default_rng(5).integers(0, 10, n)
    train, val = split_validation(pixels, labels, 0.25 if indexed else 0, seed=1)
    old_X = old_features(pixels, dtype)
    old_train = (old_X, labels) if train.rows is None else (old_X[train.rows], labels[train.rows])
    new, old = (trainer_of(backend.name, dtype, t, batch=8, hidden=4) for t in (train, old_train))
    new.run_epoch()
    old.run_epoch()
    for (W_new, b_new), (W_old, b_old) in zip(new.net.params, old.net.params):
        np.testing.assert_array_equal(bits(W_new), bits(W_old))
        np.testing.assert_array_equal(bits(b_new), bits(b_old))
    assert loss_and_accuracy(new.net, *new.train) == loss_and_accuracy(old.net, *old.train)
    if indexed:
        assert loss_and_accuracy(new.net, *val) == loss_and_accuracy(old.net, old_X[val.rows], val.labels)


def test_the_network_takes_pixels_as_the_loaders_scaled_them(dtype):
    pixels = every_pixel_value(40)
    net = MLP([N_PIXELS, 8, 10], dtype=dtype)
    np.testing.assert_array_equal(bits(net.forward(pixels)), bits(net.forward(old_features(pixels, dtype))))


def test_a_trainer_holds_pixels_as_they_are_and_floats_in_its_dtype():
    pixels, labels = every_pixel_value(40), np.arange(40) % 10
    assert trainer_of("numpy", np.dtype(np.float32), (pixels, labels), 8).train.images is pixels
    floats = old_features(pixels, np.dtype(np.float64))
    converted = trainer_of("numpy", np.dtype(np.float32), (floats, labels), 8).train.images
    assert converted.dtype == np.float32  # converted once, as before


def test_rows_outside_the_images_are_refused_when_the_trainer_is_made():
    pixels, labels = every_pixel_value(40), np.arange(40) % 10
    rows = np.arange(10)
    rows[3] = 40
    with pytest.raises(ValueError, match=r"^training set: rows must be in 0\.\.39, got 40$"):
        trainer_of("numpy", np.dtype(np.float32), Subset(pixels, labels[:10], rows), 8)


# --- the validation split: an index ------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "n_val"), [(150, 150), (0.1, 60), (0, 0)])
def test_the_validation_split_is_an_index_into_the_images_not_a_copy(size, n_val):
    pixels, labels = every_pixel_value(600), np.arange(600) % 10
    train, val = split_validation(pixels, labels, size, seed=5)
    assert train.images is pixels and val.images is pixels
    assert len(val.rows) == n_val and len(val.labels) == n_val
    # the rows the split held out before it was an index (a boolean mask over the rows, then copies)
    held_out = np.zeros(600, dtype=bool)
    held_out[np.random.default_rng((5, 2)).choice(600, n_val, replace=False)] = True
    np.testing.assert_array_equal(val.rows, np.flatnonzero(held_out))
    np.testing.assert_array_equal(val.labels, labels[held_out])
    train_rows = np.arange(600) if train.rows is None else train.rows
    np.testing.assert_array_equal(train_rows, np.flatnonzero(~held_out))
    np.testing.assert_array_equal(train.labels, labels[~held_out])

