"""python -m network.predict: a Kaggle folder trains, and its test.csv becomes a valid submission of the
network's own predictions; a missing or bad test.csv is one line and leaves any earlier submission."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import gz_file

from network.checkpoint import load_checkpoint
from network.idx import read_idx
from network.kaggle import N_PIXELS, read_kaggle_csv
from network.predict import main as predict_main
from network.predict import predicted_classes, restored_network
from network.train import main as train_main

FAST = ["--hidden", "32", "--batch-size", "32", "--lr", "0.1", "--threads", "1"]


@pytest.fixture(scope="module")
def kaggle_checkpoint(tiny_kaggle, tmp_path_factory) -> Path:
    """A network trained for 2 epochs on the train.csv of ``tiny_kaggle``."""
    path = tmp_path_factory.mktemp("checkpoint") / "net.npz"
    assert train_main(["--data-dir", str(tiny_kaggle), "--epochs", "2", *FAST, "--save", str(path)]) == 0
    return path


def predict(capsys, checkpoint: Path, data_dir: Path, out: Path) -> tuple[int, str, str]:
    code = predict_main([str(checkpoint), "--data-dir", str(data_dir), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_submission_holds_the_networks_predictions(
    capsys, tiny_kaggle, tiny_mnist, kaggle_checkpoint, tmp_path
):
    out = tmp_path / "submission.csv"
    code, stdout, err = predict(capsys, kaggle_checkpoint, tiny_kaggle, out)
    assert code == 0 and err == ""
    assert stdout.startswith(f"{out}: 200 predictions for {tiny_kaggle / 'test.csv'}")
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 201
    submitted = np.array([[int(cell) for cell in line.split(",")] for line in lines[1:]])
    np.testing.assert_array_equal(submitted[:, 0], np.arange(1, 201))
    # The labels are the network's, image by image in the order of test.csv ...
    images, _ = read_kaggle_csv(tiny_kaggle / "test.csv", labelled=False)
    net = restored_network(load_checkpoint(kaggle_checkpoint), kaggle_checkpoint, "numpy", N_PIXELS, "test")
    np.testing.assert_array_equal(submitted[:, 1], predicted_classes(net, (images / 255).astype(np.float32)))
    # ... and the network learned from train.csv: they are mostly the true labels Kaggle keeps.
    assert (submitted[:, 1] == read_idx(gz_file(tiny_mnist, "test_labels"))).mean() > 0.9


def test_without_test_csv_it_is_one_line_and_writes_nothing(capsys, tiny_kaggle, kaggle_checkpoint, tmp_path):
    shutil.copy(tiny_kaggle / "train.csv", tmp_path)
    out = tmp_path / "submission.csv"
    code, stdout, err = predict(capsys, kaggle_checkpoint, tmp_path, out)
    assert code == 1 and stdout == ""
    assert err.startswith(f"error: {tmp_path / 'test.csv'}: no such file") and err.count("\n") == 1
    assert not out.exists()


def test_a_bad_test_csv_leaves_the_earlier_submission(capsys, tiny_kaggle, kaggle_checkpoint, tmp_path):
    lines = (tiny_kaggle / "test.csv").read_text().splitlines()
    lines[5] = lines[5].replace(",", ",300,", 1)  # one pixel more, and out of range
    (tmp_path / "test.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "submission.csv"
    out.write_text("earlier")
    code, stdout, err = predict(capsys, kaggle_checkpoint, tmp_path, out)
    assert code == 1 and stdout == ""
    assert err == f"error: {tmp_path / 'test.csv'}: line 6, 785 values where the header names 784 columns\n"
    assert out.read_text() == "earlier"
