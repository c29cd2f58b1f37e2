"""A training run keeps the user's files whole: outputs checked before the first epoch, an existing
checkpoint never replaced by accident, the checkpoint written before the metrics, a resume that would
change the run refused, SIGTERM and SIGHUP saving like Ctrl-C, and one run at a time per output file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from test_train import FAST, run_cli, temp_files

from network import train
from network.checkpoint import load_checkpoint
from network.files import output_lock
from network.stopping import stop_on_signals
from network.train import main as train_main


def refused_in_one_line(capsys, args: list[str], message: str) -> None:
    """Exit status 2, one line naming the problem, and no training started."""
    with pytest.raises(SystemExit) as exit_info:
        train_main(args)
    captured = capsys.readouterr()
    assert exit_info.value.code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err, captured.err


def test_an_existing_checkpoint_is_replaced_only_with_overwrite(capsys, tiny_mnist, tmp_path):
    ckpt = tmp_path / "c.npz"
    common = ["--data-dir", str(tiny_mnist), "--epochs", "1", "--save", str(ckpt), *FAST]
    assert run_cli(capsys, *common)[0] == 0
    before = ckpt.read_bytes()
    refused_in_one_line(
        capsys,
        common,
        f"--save {ckpt} exists already: continue its run with --resume {ckpt}, or pass --overwrite",
    )
    assert ckpt.read_bytes() == before
    assert run_cli(capsys, *common, "--seed", "1", "--overwrite")[0] == 0
    assert ckpt.read_bytes() != before


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (
            lambda d: ["--metrics", str(d / "folder.csv")],
            "--metrics: {d}/folder.csv is a folder, not a regular file",
        ),
        (lambda d: ["--save", str(d / "fifo.npz")], "--save: {d}/fifo.npz is a fifo, not a regular file"),
        (
            lambda d: ["--save", str(d / "plain" / "c.npz")],
            "--save: {d}/plain/c.npz: {d}/plain is not a folder",
        ),
        (lambda d: ["--save", str(d / "m.json"), "--metrics", str(d / "m.json")], "both name {d}/m.json"),
        (
            lambda d: ["--resume", str(d / "r.csv"), "--metrics", str(d / "r.csv")],
            "is the checkpoint --resume reads",
        ),
    ],
    ids=["metrics folder", "save fifo", "folder is a file", "one file for both", "metrics over resume"],
)
def test_outputs_are_checked_before_training(capsys, tiny_mnist, tmp_path, outputs, message):
    (tmp_path / "folder.csv").mkdir()
    os.mkfifo(tmp_path / "fifo.npz")
    (tmp_path / "plain").write_text("a file")
    (tmp_path / "r.csv").write_text("not read: refused first")
    before = sorted(os.listdir(tmp_path))
    args = ["--data-dir", str(tiny_mnist), "--epochs", "1", *FAST, *outputs(tmp_path)]
    refused_in_one_line(capsys, args, message.format(d=tmp_path))
    assert sorted(os.listdir(tmp_path)) == before


def test_the_checkpoint_is_written_before_the_metrics(capsys, tiny_mnist, tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train, "write_metrics", full_disk)
    ckpt = tmp_path / "c.npz"
    args = [
        "--data-dir",
        str(tiny_mnist),
        "--epochs",
        "2",
        "--save",
        str(ckpt),
        "--metrics",
        str(tmp_path / "m.csv"),
    ]
    code, _, err = run_cli(capsys, *args, *FAST)
    assert code == 1 and err == "error: [Errno 28] No space left on device\n"
    assert load_checkpoint(ckpt).trainer_state["epoch"] == 1


def test_a_resume_that_would_change_the_run_is_refused_naming_each_change(capsys, tiny_mnist, tmp_path):
    ckpt = tmp_path / "c.npz"
    common = ["--data-dir", str(tiny_mnist), *FAST]
    assert run_cli(capsys, *common, "--epochs", "1", "--save", str(ckpt))[0] == 0
    before = ckpt.read_bytes()
    resumed = [*common, "--resume", str(ckpt), "--save", str(ckpt)]
    changed = [
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--weight-decay",
        "0.001",
        "--limit",
        "300",
        "--seed",
        "3",
    ]
    code, out, err = run_cli(capsys, *resumed, *changed)
    assert code == 1 and out == ""
    assert err == (
        f"error: {ckpt}: resuming with other settings would change the run (--limit not given -> 300; "
        "--seed 0 -> 3; --batch-size 32 -> 16; --weight-decay 0.0 -> 0.001; --epochs 1 -> 2): give the "
        "checkpoint's, or pass --accept-changed-settings to continue with these\n"
    )
    assert ckpt.read_bytes() == before
    code, out, _ = run_cli(capsys, *resumed, *changed, "--accept-changed-settings")
    assert code == 0 and "resumed from" in out
    assert load_checkpoint(ckpt).trainer_state["epoch"] == 2


def test_a_second_run_on_the_same_output_is_refused(capsys, tiny_mnist, tmp_path):
    metrics = tmp_path / "m.csv"
    with output_lock(metrics):  # as a running training would hold it
        code, out, err = run_cli(capsys, "--data-dir", str(tiny_mnist), "--metrics", str(metrics), *FAST)
    assert code == 1 and out == ""
    assert err.startswith(f"error: {metrics} is being written by another run (process {os.getpid()});")
    assert err.count("\n") == 1 and not metrics.exists()


def test_existing_metrics_are_replaced_only_by_their_resumed_run_or_with_overwrite(
    capsys, tiny_mnist, tmp_path
):
    metrics, ckpt = tmp_path / "m.json", tmp_path / "c.npz"
    common = ["--data-dir", str(tiny_mnist), "--metrics", str(metrics), *FAST]
    assert run_cli(capsys, *common, "--epochs", "1", "--save", str(ckpt))[0] == 0
    before = metrics.read_bytes()
    refused_in_one_line(
        capsys,
        [*common, "--epochs", "1"],
        f"--metrics {metrics} exists already: continue the run it records with --resume CHECKPOINT, or pass "
        "--overwrite to replace it",
    )
    assert metrics.read_bytes() == before
    assert run_cli(capsys, *common, "--epochs", "1", "--seed", "1", "--overwrite")[0] == 0
    assert metrics.read_bytes() != before
    resumed = [
        *common,
        "--epochs",
        "2",
        "--resume",
        str(ckpt),
        "--save",
        str(ckpt),
        "--accept-changed-settings",
    ]
    assert run_cli(capsys, *resumed)[0] == 0
    assert '"epoch": 2' in metrics.read_text()


def test_a_run_whose_data_fails_to_load_leaves_no_folders(capsys, tmp_path):
    outputs = ["--metrics", str(tmp_path / "new" / "m.csv"), "--save", str(tmp_path / "other" / "c.npz")]
    code, out, err = run_cli(capsys, "--data-dir", str(tmp_path / "nowhere"), *outputs, *FAST)
    assert code == 1 and err == f"error: {tmp_path / 'nowhere'}: no such folder\n"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_the_first_signal_requests_a_stop_and_a_second_stops_at_once(signum):
    requests = []
    previous = signal.getsignal(signum)
    with stop_on_signals(lambda: requests.append(True)) as received:
        os.kill(os.getpid(), signum)
        assert requests == [True] and received.exit_code == 128 + signum
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signum)
    assert signal.getsignal(signum) is previous


def test_an_ignored_sighup_stays_ignored():
    """Under nohup a run must survive its terminal closing."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_on_signals(lambda: pytest.fail("SIGHUP was ignored")):
            os.kill(os.getpid(), signal.SIGHUP)
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.slow
def test_sigterm_saves_mid_epoch_and_the_run_resumes(tiny_mnist, tmp_path):
    ckpt = tmp_path / "c.npz"
    common = [sys.executable, "-m", "network.train", "--data-dir", str(tiny_mnist), "--backend", "loops"]
    common += ["--limit", "300", "--epochs", "3", "--hidden", "32", "--batch-size", "8"]
    common += ["--lr", "0.05", "--optimizer", "momentum"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen(
        [*common, "--save", str(ckpt)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    next(line for line in run.stdout if line.startswith("epoch 1/3"))  # StopIteration: it ended before
    run.send_signal(signal.SIGTERM)  # during epoch 2, or its first step if epoch 1 is still being saved
    out, err = run.communicate(timeout=60)
    assert run.returncode == 143, err
    assert f"interrupted in epoch 2 by SIGTERM: saved {ckpt}; continue with --resume {ckpt}" in out
    state = load_checkpoint(ckpt).trainer_state
    assert state["epoch"] == 1 and state["step_in_epoch"] > 0 and state["order"] is not None
    assert temp_files(tmp_path) == []
    resumed = subprocess.run(
        [*common, "--resume", str(ckpt), "--save", str(ckpt)], capture_output=True, text=True, timeout=60
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 3/3" in resumed.stdout and load_checkpoint(ckpt).trainer_state["epoch"] == 3


def test_a_negative_seed_is_one_line(capsys):
    refused_in_one_line(capsys, ["--seed", "-5"], "argument --seed: must be at least 0, got -5")


def test_a_network_larger_than_memory_is_refused_before_it_is_built(capsys, tiny_mnist):
    code, out, err = run_cli(capsys, "--data-dir", str(tiny_mnist), "--hidden", "1000000000")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(
        "error: a 784-1000000000-10 network of 795,000,000,010 float32 parameters needs at least"
    )
    assert "give smaller --hidden widths" in err


def test_ctrl_c_outside_training_is_one_line(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "load_dataset", interrupted)  # Ctrl-C while the data loads
    assert train_main(["--epochs", "1"]) == 130
    assert capsys.readouterr().err == "interrupted (Ctrl-C) outside training: nothing to save\n"


def test_a_mid_epoch_checkpoint_continues_only_in_its_batch_size(capsys, tiny_mnist, tmp_path, monkeypatch):
    """Even with --accept-changed-settings: its position counts steps of its own batch size."""
    ckpt = tmp_path / "c.npz"
    real_train_epoch = train.Trainer.train_epoch

    def ctrl_c_after_two_steps(self, on_batch=None):
        steps = []

        def count(rows: int) -> None:
            steps.append(rows)
            if len(steps) == 2:
                os.kill(os.getpid(), signal.SIGINT)

        return real_train_epoch(self, count)

    monkeypatch.setattr(train.Trainer, "train_epoch", ctrl_c_after_two_steps)
    common = ["--data-dir", str(tiny_mnist), "--epochs", "1", *FAST]
    assert run_cli(capsys, *common, "--save", str(ckpt))[0] == 130
    assert load_checkpoint(ckpt).trainer_state["step_in_epoch"] == 2
    monkeypatch.undo()
    resumed = [*common, "--resume", str(ckpt), "--save", str(ckpt), "--accept-changed-settings"]
    code, _, err = run_cli(capsys, *resumed, "--batch-size", "16")
    assert code == 1
    assert err == (
        f"error: {ckpt}: saved mid-epoch in batches of 32, it continues only in those "
        "(this run asks for --batch-size 16)\n"
    )
    assert run_cli(capsys, *resumed)[0] == 0


def test_an_output_that_cannot_even_be_looked_at_is_one_line(capsys, monkeypatch):
    def denied(*args) -> None:  # as stat() in a folder of another user's raises
        raise PermissionError(13, "Permission denied", "/private/c.npz")

    monkeypatch.setattr(train, "check_outputs", denied)
    refused_in_one_line(
        capsys, ["--save", "/private/c.npz"], "[Errno 13] Permission denied: '/private/c.npz'"
    )
