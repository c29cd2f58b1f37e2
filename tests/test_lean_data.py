"""The data held lean: the pixels stay uint8, every backend's batch gather scales them to the network's
dtype bit for bit as the loaders used to scale the whole set, the validation split is an index into the
training images rather than a copy, and ``python -m reports.memory`` measures a run's peak memory."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import QUICK_TRAINING

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


# --- the memory command -----------------------------------------------------------------------------------


# Run from a small process: Linux counts the memory of the process a child was started from in the child's
# peak, and a pytest worker holds hundreds of MB.
MEASURE = """
import sys
from pathlib import Path
from reports import memory
sys.exit(memory.main(sys.argv[2:], readme=Path(sys.argv[1])))
"""


def measure(readme, *options: str) -> subprocess.CompletedProcess:
    """``reports.memory``'s main, in a process of its own, writing into ``readme``."""
    command = [sys.executable, "-c", MEASURE, str(readme), *options]
    return subprocess.run(command, capture_output=True, text=True)


def test_the_peak_is_the_childs_own_and_its_exit_status_is_kept():
    allocate = "import sys; data = b'x' * 100_000_000; sys.exit(3)"
    code = f"from reports import memory; print(*memory.peak_rss([{sys.executable!r}, '-c', {allocate!r}]))"
    status, peak = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True).stdout.split())
    assert status == 3 and 100e6 <= peak < 150e6


def test_a_run_on_another_backend_than_numba_leaves_numba_unimported():
    """Importing Numba costs 66 MB: more than a third of the bound on a run's peak."""
    code = (
        "import sys, network.train, network.evaluate, network.predict\n"
        "from kernels.threads import set_threads\n"
        "set_threads(None)\n"
        "print('numba' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"


@pytest.mark.slow
def test_the_memory_command_writes_the_peak_of_a_run_into_the_readme(tiny_mnist, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- memory:start -->\nold\n<!-- memory:end -->\nafter\n")
    fast = ["--hidden", "16", *QUICK_TRAINING]
    done = measure(readme, "--data-dir", str(tiny_mnist), "--dataset", "mnist", *fast)
    assert done.returncode in (0, 1), done.stderr  # 1: above the bound, which the machine decides
    section = readme.read_text().split("<!-- memory:start -->\n")[1].split("\n<!-- memory:end -->")[0]
    command = "python -m network.train --dataset fashion-mnist --epochs 1 --data-dir "
    assert section.startswith(f"One epoch of `{command}{tiny_mnist} --dataset mnist --hidden 16")
    assert re.search(r"peaked at \d+ MB resident \((within|above) the bound of 160 MB\)", section)
    assert section in done.stdout


@pytest.mark.slow
def test_a_failed_run_is_its_exit_status_and_leaves_the_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- memory:start -->\nold\n<!-- memory:end -->\n")
    done = measure(readme, "--data-dir", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "python -m reports.memory: error: the training exited with status 1" in done.stderr
    assert "old" in readme.read_text()
