"""The trainer and its command line: real learning, reproducibility, checkpoints and resume,
divergence, Ctrl-C, and one-line errors for every user mistake."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import QUICK_TRAINING, change_spec, gz_file, make_dataset, write_idx

from kernels import available_backends
from network import MLP
from network.checkpoint import load_checkpoint, save_checkpoint
from network.data import load_dataset, split_validation
from network.evaluate import main as evaluate_main
from network.files import TEMP_SUFFIX
from network.optim import make_optimizer
from network.train import main as train_main
from network.trainer import NOT_LEARNING_FRACTION, NotLearning, Trainer, guess_loss
from network.tuned import TUNED

EPOCH_LINE = re.compile(
    r"^epoch +(?P<epoch>\d+)/\d+  loss (?P<loss>\S+)  train acc (?P<train>\S+)%  "
    r"(?:val loss (?P<val_loss>\S+)  val acc (?P<val>\S+)%  )?(?:test acc (?P<test>\S+)%  )?"
    r"\S+ s  [\d,]+ samples/s$",
    re.M,
)
FINAL_TEST = re.compile(
    r"^test \(measured once, after epoch (\d+)\): loss \S+  accuracy (\S+)% on ([\d,]+) images$", re.M
)
FAST = ["--hidden", "32", *QUICK_TRAINING]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = train_main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def epoch_lines(out: str) -> list[dict[str, str | None]]:
    return [m.groupdict() for m in EPOCH_LINE.finditer(out)]


def final_test_accuracy(out: str) -> float:
    """The test accuracy the run printed once, after its last epoch, as a fraction."""
    (line,) = FINAL_TEST.findall(out)
    return float(line[1]) / 100


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)]


# --- learning on real data ------------------------------------------------------------------------------

# (backend, training samples, test samples, epochs, accuracy it must reach). The loops backend gets a
# few hundred samples: it does ~10 million multiply-adds a second.
REAL_RUNS = [("numpy", 6000, 2000, 3, 0.88), ("numba", 6000, 2000, 3, 0.88), ("loops", 320, 100, 2, 0.55)]


@pytest.mark.parametrize(("backend", "n_train", "n_test", "epochs", "bar"), REAL_RUNS, ids=lambda v: str(v))
def test_short_real_run_learns(capsys, real_data, backend, n_train, n_test, epochs, bar):
    code, out, err = run_cli(
        capsys,
        "--backend",
        backend,
        "--data-dir",
        real_data,
        "--limit",
        str(n_train),
        "--test-limit",
        str(n_test),
        "--epochs",
        str(epochs),
        *FAST,
    )
    assert code == 0, err
    header = out.splitlines()[0]
    n_val = round(n_train / 10)
    assert f"backend {backend}, float32" in header
    assert f"mnist ({n_train - n_val:,} train / {n_val:,} validation / {n_test:,} test" in header
    lines = epoch_lines(out)
    assert [int(line["epoch"]) for line in lines] == list(range(1, epochs + 1))
    assert final_test_accuracy(out) >= bar, out


def test_numba_compile_time_is_reported_apart(capsys, tiny_mnist):
    code, out, _ = run_cli(
        capsys, "--backend", "numba", "--data-dir", str(tiny_mnist), "--epochs", "1", *FAST
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("numba: kernels compiled or loaded from cache in ")
    assert "(not counted in any epoch)" in lines[1]
    assert EPOCH_LINE.match(lines[2])


def test_learns_the_tiny_dataset(capsys, tiny_mnist, backend):
    args = ["--backend", backend.name, "--data-dir", str(tiny_mnist), "--epochs", "3", *FAST]
    if backend.name == "loops":
        args += ["--limit", "200", "--test-limit", "50"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert final_test_accuracy(out) > 0.8
    if hasattr(backend, "describe"):  # how the backend runs on this CPU (numba: its blocking), first line
        assert backend.describe(np.dtype("float32")) in out.splitlines()[0]


# --- reproducibility, metrics, checkpoints ----------------------------------------------------------------


def metrics_without_times(path: Path) -> list[dict]:
    return [
        {k: v for k, v in row.items() if k not in ("seconds", "samples_per_second", "eval_seconds")}
        for row in json.loads(path.read_text())["epochs"]
    ]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_same_seed_same_metrics(capsys, tiny_mnist, tmp_path, backend):
    for name in ("a.json", "b.json"):
        args = ["--backend", backend, "--data-dir", str(tiny_mnist), "--epochs", "2", "--seed", "7", *FAST]
        assert run_cli(capsys, *args, "--metrics", str(tmp_path / name))[0] == 0
    a, b = metrics_without_times(tmp_path / "a.json"), metrics_without_times(tmp_path / "b.json")
    assert len(a) == 2 and a == b
    args = [
        "--data-dir",
        str(tiny_mnist),
        "--epochs",
        "2",
        "--seed",
        "8",
        "--metrics",
        str(tmp_path / "c.json"),
    ]
    run_cli(capsys, *args, *FAST)
    assert metrics_without_times(tmp_path / "c.json") != a


def test_metrics_csv(capsys, tiny_mnist, tmp_path):
    path = tmp_path / "m.csv"
    args = ["--data-dir", str(tiny_mnist), "--epochs", "2", "--val-size", "100", "--metrics", str(path)]
    code, out, _ = run_cli(capsys, *args, *FAST)
    assert code == 0
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# run: {") and lines[1].startswith("# test: {")
    run, test = json.loads(lines[0][len("# run: ") :]), json.loads(lines[1][len("# test: ") :])
    assert run["data"] == {
        "name": "mnist",
        "source": str(tiny_mnist),
        "train": 500,
        "validation": 100,
        "test": 200,
    }
    assert run["settings"]["val_size"] == 100 and run["settings"]["backend"] == "numpy"
    assert set(run["versions"]) == {"python", "numpy", "numba"}
    assert test["accuracy"] == pytest.approx(final_test_accuracy(out), abs=5e-5) and test["images"] == 200
    rows = pd.read_csv(path, comment="#")
    assert list(rows.epoch) == [1, 2]
    assert rows.val_accuracy.between(0, 1).all() and rows.test_accuracy.isna().all()  # test: once, at the end
    assert list(rows.val_accuracy.map("{:.2%}".format)) == [f"{line['val']}%" for line in epoch_lines(out)]
    assert temp_files(tmp_path) == []


def make_trainer(tiny, epochs=3, seed=0, optimizer="momentum"):
    data = load_dataset("mnist", tiny)
    net = MLP([784, 24, 10], seed=seed)
    opt = make_optimizer(optimizer, net.params)
    return Trainer(
        net,
        opt,
        (data.train_images, data.train_labels),
        (data.test_images, data.test_labels),
        epochs=epochs,
        batch_size=32,
        lr=0.05,
        seed=seed,
        warmup_epochs=0.5,
    )


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
# 600 samples in batches of 32: 19 steps an epoch. Stop inside epoch 1, right after its last step, and
# inside epoch 2.
@pytest.mark.parametrize("stop_after_steps", [7, 19, 30])
def test_resume_mid_epoch_equals_uninterrupted(tiny_mnist, tmp_path, optimizer, stop_after_steps):
    straight = make_trainer(tiny_mnist, optimizer=optimizer)
    while not straight.finished:
        straight.train_epoch()

    interrupted = make_trainer(tiny_mnist, optimizer=optimizer)
    steps = 0

    def stop_at(rows):
        nonlocal steps
        steps += 1
        interrupted.stop_requested = steps == stop_after_steps

    while interrupted.train_epoch(on_batch=stop_at) is not None:
        pass
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, interrupted.net, interrupted.optimizer, interrupted.state(), {})

    resumed = make_trainer(tiny_mnist, optimizer=optimizer, seed=99)  # everything must come from the file
    checkpoint = load_checkpoint(path)
    for (W, b), (W_saved, b_saved) in zip(resumed.net.params, checkpoint.params):
        W[...], b[...] = W_saved, b_saved
    resumed.optimizer.load_state(checkpoint.optimizer_state)
    resumed.load_state(checkpoint.trainer_state)
    while not resumed.finished:
        resumed.train_epoch()

    for (W, b), (W2, b2) in zip(straight.net.params, resumed.net.params):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    assert [m.train_loss for m in straight.history] == [m.train_loss for m in resumed.history]
    assert [m.test_accuracy for m in straight.history] == [m.test_accuracy for m in resumed.history]


@pytest.mark.slow
def test_interrupted_run_saves_and_resumes(tiny_mnist, tmp_path):
    """Ctrl-C (SIGINT) in the middle of an epoch: a checkpoint, a clean exit, and a run that resumes
    from it and ends with the weights of a run that was never interrupted."""
    ckpt = tmp_path / "ckpt.npz"
    common = [
        "--data-dir",
        str(tiny_mnist),
        "--epochs",
        "2",
        "--hidden",
        "32",
        "--batch-size",
        "8",
        "--threads",
        "1",
        "--backend",
        "loops",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "network.train", *common, "--save", str(ckpt)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline().startswith("scratchnet: backend loops")
    time.sleep(1.0)  # well inside epoch 1 (the loops backend takes seconds per epoch here)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted in epoch" in out and f"--resume {ckpt}" in out
    assert "Traceback" not in err
    state = load_checkpoint(ckpt).trainer_state
    assert state["order"] is not None and state["step_in_epoch"] > 0
    assert temp_files(tmp_path) == []

    resumed = subprocess.run(
        [sys.executable, "-m", "network.train", *common, "--resume", str(ckpt), "--save", str(ckpt)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    straight_path = tmp_path / "straight.npz"
    straight = subprocess.run(
        [sys.executable, "-m", "network.train", *common, "--save", str(straight_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert straight.returncode == 0
    for (W, b), (W2, b2) in zip(load_checkpoint(ckpt).params, load_checkpoint(straight_path).params):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)


def test_divergence_stops_with_advice_and_keeps_the_last_good_checkpoint(capsys, tiny_mnist, tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    common = ["--data-dir", str(tiny_mnist), *FAST]
    assert run_cli(capsys, *common, "--epochs", "1", "--save", str(ckpt))[0] == 0
    good = load_checkpoint(ckpt)
    code, out, err = run_cli(
        capsys,
        *common,
        *("--epochs", "3", "--lr", "1e30", "--accept-changed-settings"),
        *("--resume", str(ckpt), "--save", str(ckpt)),
    )
    assert code == 1
    assert re.search(r"training diverged in epoch 2 \(step \d+\): the loss became (nan|inf)", err)
    assert "try a lower --lr (this run used 1e+30)" in err and f"last good checkpoint is {ckpt}" in err
    assert len(err.strip().splitlines()) == 1
    kept = load_checkpoint(ckpt)
    assert kept.trainer_state["epoch"] == 1
    np.testing.assert_array_equal(kept.params[0][0], good.params[0][0])
    assert temp_files(tmp_path) == []


def test_checkpoint_of_another_architecture_is_refused(capsys, tiny_mnist, tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    assert run_cli(capsys, "--data-dir", str(tiny_mnist), "--epochs", "1", "--save", str(ckpt), *FAST)[0] == 0
    same = ["--data-dir", str(tiny_mnist), "--epochs", "1", "--resume", str(ckpt), *FAST]
    code, _, err = run_cli(capsys, *same, "--hidden", "16")
    assert code == 1
    assert err == f"error: {ckpt}: the checkpoint is a 784-32-10 network, this run asks for 784-16-10\n"
    code, _, err = run_cli(capsys, *same, "--optimizer", "adam")
    assert code == 1 and "trained with --optimizer momentum, this run asks for adam" in err


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04broken"])
def test_bad_checkpoint_file(capsys, tiny_mnist, tmp_path, content):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    code, _, err = run_cli(capsys, "--data-dir", str(tiny_mnist), "--resume", str(bad), *FAST)
    assert code == 1
    assert err.startswith(f"error: {bad}: not a scratchnet checkpoint") and err.count("\n") == 1


def test_evaluate_reports_accuracy_and_confusion(capsys, tiny_mnist, tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    assert run_cli(capsys, "--data-dir", str(tiny_mnist), "--epochs", "2", "--save", str(ckpt), *FAST)[0] == 0
    capsys.readouterr()
    assert evaluate_main([str(ckpt), "--data-dir", str(tiny_mnist)]) == 0
    out = capsys.readouterr().out
    match = re.search(r"test accuracy on mnist: (\S+)% \(([\d,]+) / 200\)", out)
    assert match
    rows = [line.split() for line in out.splitlines() if re.match(r"^ +\d ", line)]
    counts = np.array([[int(c) for c in row[1:11]] for row in rows])
    assert counts.shape == (10, 10) and counts.sum() == 200
    assert np.trace(counts) == int(match.group(2).replace(",", ""))


# --- a validation set chosen by the seed, the test set once, runs that do not learn -----------------------


@pytest.mark.parametrize(("size", "n_val"), [(150, 150), (0.1, 60), (0.001, 1), (0, 0)])
def test_validation_split_is_a_seeded_partition(size, n_val):
    rows = np.arange(600)
    X, y = rows[:, None] * np.ones((1, 3)), rows % 10
    train, val = split_validation(X, y, size, seed=5)
    assert len(val.labels) == n_val and len(train.labels) == 600 - n_val
    train_rows, val_rows = rows if train.rows is None else train.rows, val.rows
    assert np.array_equal(np.sort(np.concatenate([train_rows, val_rows])), rows)  # disjoint, nothing lost
    assert np.all(np.diff(train_rows) > 0) and np.array_equal(train.labels, train_rows % 10)  # in order
    assert np.array_equal(val.labels, val_rows % 10)
    again = split_validation(X, y, size, seed=5)[1].rows
    other = split_validation(X, y, size, seed=6)[1].rows
    assert np.array_equal(again, val_rows)
    assert n_val < 2 or not np.array_equal(other, val_rows)
    assert n_val == 0 or not np.array_equal(val_rows, np.arange(n_val))  # drawn, not the first rows


def test_a_validation_set_that_takes_everything_is_one_line(capsys, tiny_mnist):
    code, out, err = run_cli(capsys, "--data-dir", str(tiny_mnist), "--val-size", "600", *FAST)
    assert code == 1 and out == ""
    assert err == (
        "error: cannot hold out 600 of 600 training images for validation: none would be left to train\n"
    )


def test_epochs_show_validation_and_the_test_set_is_measured_once(capsys, tiny_mnist):
    common = ["--data-dir", str(tiny_mnist), "--epochs", "2", *FAST]
    code, out, _ = run_cli(capsys, *common)
    assert code == 0
    assert "(540 train / 60 validation / 200 test images" in out.splitlines()[0]
    lines = epoch_lines(out)
    assert len(lines) == 2 and all(line["val"] and line["test"] is None for line in lines)
    assert "test acc" not in out and len(FINAL_TEST.findall(out)) == 1
    assert out.rstrip().splitlines()[-1].startswith("test (measured once, after epoch 2)")

    code, out, _ = run_cli(capsys, *common, "--val-size", "0", "--test-every-epoch")
    assert code == 0 and "(600 train / 0 validation / 200 test images" in out.splitlines()[0]
    lines = epoch_lines(out)
    assert all(line["val"] is None and line["test"] for line in lines)
    assert f"accuracy {lines[-1]['test']}% on 200 images" in out  # the last epoch's test is the final one


def test_defaults_come_from_the_tuned_settings_and_a_small_batch_scales_the_lr(
    capsys, tiny_mnist, monkeypatch
):
    momentum = {"hidden": "16", "batch_size": 128, "lr": 0.2, "weight_decay": 0.0}
    tuned = {"optimizer": "momentum", "optimizers": {"momentum": momentum}}
    monkeypatch.setitem(TUNED, "mnist", tuned)
    common = ["--data-dir", str(tiny_mnist), "--epochs", "1", "--threads", "1"]
    first_line = run_cli(capsys, *common)[1].splitlines()[0]
    assert "network 784-16-10, momentum lr 0.2 (default; cosine), batch 128" in first_line
    first_line = run_cli(capsys, *common, "--batch-size", "8")[1].splitlines()[0]
    assert "momentum lr 0.0125 (default 0.2 x batch 8/128; cosine), batch 8" in first_line
    first_line = run_cli(capsys, *common, "--batch-size", "256")[1].splitlines()[0]
    assert "momentum lr 0.2 (default; cosine), batch 256" in first_line
    first_line = run_cli(capsys, *common, "--batch-size", "8", "--lr", "0.3")[1].splitlines()[0]
    assert "momentum lr 0.3 (given; cosine), batch 8" in first_line


def test_each_optimizer_takes_its_own_tuned_settings(capsys, tiny_mnist, monkeypatch):
    """--optimizer alone brings that optimizer's tuned lr (and width and batch), not the default's; an
    optimizer with no tuned settings asks for --lr in one line."""
    momentum = {"hidden": "16", "batch_size": 128, "lr": 0.2, "weight_decay": 0.0}
    adam = {"hidden": "8", "batch_size": 32, "lr": 0.001, "weight_decay": 0.0}
    tuned = {"optimizer": "momentum", "optimizers": {"momentum": momentum, "adam": adam}}
    monkeypatch.setitem(TUNED, "mnist", tuned)
    common = ["--data-dir", str(tiny_mnist), "--epochs", "1", "--threads", "1"]
    first_line = run_cli(capsys, *common, "--optimizer", "adam")[1].splitlines()[0]
    assert "network 784-8-10, adam lr 0.001 (default; cosine), batch 32" in first_line
    with pytest.raises(SystemExit) as exit_info:
        run_cli(capsys, *common, "--optimizer", "sgd")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.strip().endswith("no tuned settings for sgd on mnist: give --lr (see --help)")
    first_line = run_cli(capsys, *common, "--optimizer", "sgd", "--lr", "0.5")[1].splitlines()[0]
    assert "network 784-16-10, sgd lr 0.5 (given; cosine), batch 128" in first_line


def test_guess_loss_is_the_entropy_of_the_labels():
    assert guess_loss(np.arange(1000) % 10, 10) == pytest.approx(np.log(10))
    assert guess_loss(np.array([3, 3, 3]), 10) == 0.0
    assert guess_loss(np.array([0, 1, 1, 1]), 10) == pytest.approx(
        -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    )


def test_a_run_that_does_not_learn_stops_with_advice(capsys, tiny_mnist, tmp_path):
    """An lr far too small leaves the loss at that of guessing the class frequencies: the run stops after
    epoch 1 with a one-line advice and exit status 1, and saves no checkpoint of the useless epoch."""
    ckpt = tmp_path / "ckpt.npz"
    args = ["--data-dir", str(tiny_mnist), "--epochs", "3", "--save", str(ckpt), *FAST, "--lr", "1e-6"]
    code, out, err = run_cli(capsys, *args)
    assert code == 1 and not epoch_lines(out) and not ckpt.exists()
    assert re.fullmatch(
        r"error: training is not learning: the mean loss of epoch 1 is 2\.\d+, not below 90% of 2\.\d+ "
        r"\(the loss of guessing the class frequencies\); try another --lr \(this run used 1e-06; [^\n]+\)\n",
        err,
    )


def test_the_not_learning_check_spares_a_run_that_learns(tiny_mnist):
    """The same trainer with a working lr: every epoch recorded, the first already far below the bar."""
    trainer = make_trainer(tiny_mnist)
    while not trainer.finished:
        trainer.train_epoch()
    assert len(trainer.history) == 3
    assert trainer.history[0].train_loss < NOT_LEARNING_FRACTION * trainer.guess_loss
    trainer = make_trainer(tiny_mnist)
    trainer.lr = 1e-6
    with pytest.raises(NotLearning):
        trainer.train_epoch()


# --- the data set is checked once, before any step -------------------------------------------------------


def trainer_on(backend: str, train: tuple, test: tuple | None = None) -> Trainer:
    """A trainer of a 784-16-10 network on ``train``, tested on ``test`` (default: the same rows)."""
    net = MLP([784, 16, 10], backend=backend)
    optimizer = make_optimizer("momentum", net.params)
    return Trainer(net, optimizer, train, test or train, epochs=1, batch_size=8, lr=0.1, seed=0)


def small_set(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("bad", [-100_000_000, 10])
@pytest.mark.parametrize("which", ["training set", "test set"])
def test_labels_out_of_range_are_refused_before_any_step(backend, bad, which):
    """Such a label indexes the logits out of bounds; on the numba backend, inside a compiled kernel that
    does not check (the process died of a segmentation fault). The trainer refuses it when it is made."""
    if backend == "numba":
        pytest.importorskip("numba")
    X, y = small_set()
    wrong = y.copy()
    wrong[17] = bad
    train, test = ((X, wrong), (X, y)) if which == "training set" else ((X, y), (X, wrong))
    with pytest.raises(ValueError, match=f"^{which}: labels must be in 0..9, got {bad}$"):
        trainer_on(backend, train, test)


def nan_pixel(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = X.copy()
    X[3, 5] = np.nan
    return X, y


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda X, y: (X[:, :783], y), "X has 783 features per row, the network expects 784"),
        (nan_pixel, "X contains NaN or infinite values"),
        (lambda X, y: (X, y.astype(np.float64)), "labels must be integers, got dtype float64"),
        (lambda X, y: (X, y[:-1]), "X has 40 rows but y has 39 labels"),
    ],
    ids=["features", "nan", "float labels", "counts"],
)
def test_a_bad_training_set_is_named_in_one_line(spoil, message):
    with pytest.raises(ValueError, match=f"^training set: {re.escape(message)}$"):
        trainer_on("numpy", spoil(*small_set()), small_set())


def test_the_check_copies_only_to_convert():
    X, y = small_set()
    assert np.shares_memory(trainer_on("numpy", (X, y)).train.images, X)  # already float32: used as it is
    assert trainer_on("numpy", (X.astype(np.float64), y)).train.images.dtype == np.float32  # converted once


def test_a_label_file_out_of_range_is_one_line_from_the_command_line(capsys, tmp_path):
    """From the command line labels come from IDX files, which the loader checks: the trainer never sees
    a bad one, and the user gets one line and exit status 1, the status of every data error."""
    folder = tmp_path / "mnist"
    make_dataset(folder)
    labels = write_idx(gz_file(folder, "train_labels"), np.full(20, 200, dtype=np.uint8))
    code, out, err = run_cli(capsys, "--data-dir", str(folder), "--epochs", "1", *FAST)
    assert code == 1 and out == ""
    assert err == f"error: {labels}: label 200 at index 0 is outside 0-9 (20 such labels)\n"


# --- user mistakes: one line, the right exit status, nothing written --------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
        (["--epochs", "two"], "argument --epochs: expected a positive whole number, got 'two'"),
        (["--batch-size", "-4"], "argument --batch-size: must be at least 1, got -4"),
        (["--lr", "0"], "argument --lr: must be a positive finite number, got 0"),
        (["--lr", "nan"], "argument --lr: must be a positive finite number, got nan"),
        (["--backend", "gpu"], "argument --backend: invalid choice: 'gpu'"),
        (["--hidden", "128,"], "argument --hidden: expected comma-separated positive layer widths"),
        (["--hidden", "0"], "argument --hidden: expected comma-separated positive layer widths"),
        (["--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
        (["--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
        (["--metrics", "m.txt"], "--metrics: m.txt must end in .csv or .json"),
        (["--val-size", "-5"], "argument --val-size: must not be negative, got -5"),
        (["--val-size", "1.5"], "argument --val-size: expected a count of images such as 5000 or a fraction"),
        (["--val-size", "ten"], "argument --val-size: expected a count of images such as 5000 or a fraction"),
    ],
)
def test_invalid_options_exit_2_in_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        train_main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("python -m network.train: error: ")


def test_missing_data_without_network_is_one_clear_line(capsys, tmp_path, monkeypatch):
    # a mirror on a closed local port stands for "no internet"
    change_spec(monkeypatch, "mnist", mirrors=("http://127.0.0.1:9/",))
    code, out, err = run_cli(capsys, "--epochs", "1")
    assert code == 1 and out == ""
    assert err.startswith("error: could not download mnist") and err.count("\n") == 1
    assert "SCRATCHNET_DATA" in err and "--data-dir" in err
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "scratchnet" / "mnist"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_data_dir_without_the_files(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1 and "nowhere" in err and err.count("\n") == 1


NO_COMPILE_IN_AN_EPOCH = """
import numpy as np
from numba.core.registry import CPUDispatcher
from kernels import jit, jit_matmul, jit_rules, jit_tile
from network import MLP
from network.optim import make_optimizer
from network.trainer import Trainer, warm_up

dispatchers = [
    f for module in (jit, jit_matmul, jit_rules, jit_tile) for f in vars(module).values()
    if isinstance(f, CPUDispatcher)
]
rng = np.random.default_rng(0)
# batches of 64 x 784 float32, gathered from uint8 pixels as a data set's are: large enough for every kernel
# the numba backend has, the batch gather's on every core too; the last batch, 5 rows, gathers on one core
X, y = rng.integers(0, 256, (133, 784), dtype=np.uint8), rng.integers(0, 10, 133)
net = MLP([784, 8, 10], backend="numba", dtype="float32", seed=0)
optimizer = make_optimizer("momentum", net.params)
trainer = Trainer(net, optimizer, (X, y), (X[:9], y[:9]), epochs=1, batch_size=64, lr=0.01, seed=0)
warm_up(trainer)
before = {f: len(f.overloads) for f in dispatchers}
trainer.run_epoch()
print(" ".join(f.py_func.__name__ for f in dispatchers if len(f.overloads) > before[f]))
"""


@pytest.mark.skipif("numba" not in available_backends(), reason="numba is not installed")
def test_warm_up_compiles_all_that_an_epoch_runs():
    """No Numba kernel is compiled (or loaded from the cache) inside a timed epoch: after ``warm_up``, an
    epoch adds a signature to no dispatcher. In a fresh process: in this one, earlier tests compiled them."""
    done = subprocess.run([sys.executable, "-c", NO_COMPILE_IN_AN_EPOCH], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [], f"compiled inside the epoch: {done.stdout}"
