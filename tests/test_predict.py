"""python -m network.predict: a Kaggle folder of either layout trains, and its test file becomes a valid
submission of the network's own predictions; a missing or bad test file is one line and leaves any earlier
submission."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import QUICK_TRAINING, gz_file

from network.checkpoint import load_checkpoint
from network.evaluate import main as evaluate_main
from network.idx import read_idx
from network.kaggle import DIGIT_RECOGNIZER, FASHION_MNIST, N_PIXELS, read_kaggle_csv
from network.predict import main as predict_main
from network.predict import predicted_classes, restored_network
from network.train import main as train_main

FAST = ["--hidden", "32", *QUICK_TRAINING]


def trained(folder: Path, dataset: str, tmp_path_factory) -> Path:
    """The checkpoint of a network trained for 2 epochs on the Kaggle files in ``folder``."""
    path = tmp_path_factory.mktemp("checkpoint") / "net.npz"
    options = ["--data-dir", str(folder), "--dataset", dataset, "--epochs", "2", *FAST, "--save", str(path)]
    assert train_main(options) == 0
    return path


@pytest.fixture(scope="module")
def kaggle_checkpoint(tiny_kaggle, tmp_path_factory) -> Path:
    """A network trained on the train.csv of ``tiny_kaggle``."""
    return trained(tiny_kaggle, "mnist", tmp_path_factory)


@pytest.fixture(scope="module")
def fashion_checkpoint(tiny_fashion_kaggle, tmp_path_factory) -> Path:
    """A network trained on the fashion-mnist_train.csv of ``tiny_fashion_kaggle``."""
    return trained(tiny_fashion_kaggle, "fashion-mnist", tmp_path_factory)


def predict(capsys, checkpoint: Path, data_dir: Path, out: Path) -> tuple[int, str, str]:
    code = predict_main([str(checkpoint), "--data-dir", str(data_dir), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("layout", "folder", "checkpoint"),
    [
        (DIGIT_RECOGNIZER, "tiny_kaggle", "kaggle_checkpoint"),
        (FASHION_MNIST, "tiny_fashion_kaggle", "fashion_checkpoint"),
    ],
)
def test_submission_holds_the_networks_predictions(
    request, capsys, tiny_mnist, tmp_path, layout, folder, checkpoint
):
    folder, checkpoint = request.getfixturevalue(folder), request.getfixturevalue(checkpoint)
    capsys.readouterr()  # the training run's lines, when the checkpoint was made just now
    out = tmp_path / "submission.csv"
    code, stdout, err = predict(capsys, checkpoint, folder, out)
    assert code == 0 and err == ""
    assert stdout.startswith(f"{out}: 200 predictions for {folder / layout.test_csv}")
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 201
    submitted = np.array([[int(cell) for cell in line.split(",")] for line in lines[1:]])
    np.testing.assert_array_equal(submitted[:, 0], np.arange(1, 201))
    # The labels are the network's, image by image in the order of test.csv ...
    images, _ = read_kaggle_csv(folder / layout.test_csv, layout.test_labelled, layout)
    net = restored_network(load_checkpoint(checkpoint), checkpoint, "numpy", N_PIXELS, "test")
    np.testing.assert_array_equal(submitted[:, 1], predicted_classes(net, (images / 255).astype(np.float32)))
    # ... and the network learned from the training file: they are mostly the true labels.
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


def test_a_checkpoint_of_another_data_set_is_one_line(
    capsys, tiny_fashion_kaggle, kaggle_checkpoint, tmp_path
):
    out = tmp_path / "submission.csv"
    code, stdout, err = predict(capsys, kaggle_checkpoint, tiny_fashion_kaggle, out)
    assert code == 1 and stdout == "" and not out.exists()
    assert err == (
        f"error: {kaggle_checkpoint}: the network learned mnist; {tiny_fashion_kaggle} holds Kaggle's "
        "Fashion-MNIST files, which are fashion-mnist\n"
    )


def test_a_folder_without_kaggle_files_is_one_line(capsys, kaggle_checkpoint, tmp_path):
    code, stdout, err = predict(capsys, kaggle_checkpoint, tmp_path, tmp_path / "submission.csv")
    assert code == 1 and stdout == ""
    assert err == (
        f"error: {tmp_path}: holds none of Kaggle's test files, test.csv (digit recognizer) or "
        "fashion-mnist_test.csv (Fashion-MNIST)\n"
    )


def test_a_fashion_mnist_folder_evaluates_on_its_labelled_test_file(
    capsys, tiny_fashion_kaggle, fashion_checkpoint
):
    assert evaluate_main([str(fashion_checkpoint), "--data-dir", str(tiny_fashion_kaggle)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy on fashion-mnist: " in out and "/ 200)" in out
