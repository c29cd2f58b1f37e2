"""Pictures: the grid marks exactly the mistakes, names Fashion-MNIST's classes, and evaluate draws the
network's own predictions of the test images it names; both images are written, bad paths are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import QUICK_TRAINING
from matplotlib.colors import to_rgba

from network import evaluate, pictures
from network.checkpoint import load_checkpoint
from network.data import load_dataset
from network.evaluate import confusion_matrix
from network.evaluate import main as evaluate_main
from network.pictures import CLASS_NAMES, MISTAKE, class_names, confusion_figure, prediction_grid
from network.predict import predicted_classes, restored_network
from network.train import main as train_main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def titles(figure) -> list[tuple[str, tuple]]:
    """(text, colour) of the title of every image in a grid, in reading order."""
    return [(ax.title.get_text(), ax.title.get_color()) for ax in figure.axes if ax.title.get_text()]


def test_the_grid_marks_exactly_the_mistakes_in_red():
    true, predicted = np.array([3, 1, 4, 1, 5]), np.array([3, 7, 4, 1, 9])
    names = class_names("fashion-mnist", 10)
    figure = prediction_grid(np.zeros((5, 16)), true, predicted, names, "five")
    expected = [names[p] if t == p else f"{names[p]}\n(true: {names[t]})" for t, p in zip(true, predicted)]
    assert [text for text, _ in titles(figure)] == expected
    red = [to_rgba(colour) == to_rgba(MISTAKE) for _, colour in titles(figure)]
    assert red == [False, True, False, False, True]
    assert "red: wrong (2 of 5)" in figure.get_suptitle()
    assert len(figure.axes) == 6  # 2 rows of 3, the last cell blank


def test_class_names_are_fashions_for_fashion_mnist_and_digits_otherwise():
    assert class_names("fashion-mnist", 10)[9] == CLASS_NAMES["fashion-mnist"][9] == "Ankle boot"
    assert class_names("mnist", 10) == tuple("0123456789")


def test_the_confusion_image_writes_every_nonzero_count():
    counts = np.array([[5, 0, 1], [0, 7, 0], [2, 0, 9]])
    figure = confusion_figure(counts, ("a", "b", "c"), "three")
    ax = figure.axes[0]
    assert sorted(int(text.get_text()) for text in ax.texts) == sorted(counts[counts > 0].tolist())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")


@pytest.fixture(scope="module")
def checkpoint(tiny_mnist, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("checkpoint") / "net.npz"
    fast = ["--hidden", "16", *QUICK_TRAINING, "--epochs", "1"]
    assert train_main(["--data-dir", str(tiny_mnist), *fast, "--save", str(path)]) == 0
    return path


def test_evaluate_draws_the_networks_predictions(capsys, monkeypatch, tiny_mnist, checkpoint, tmp_path):
    drawn = {}

    def spy(name, draw):
        def recording(*args):
            drawn[name] = args
            return draw(*args)

        monkeypatch.setattr(evaluate, name, recording)

    spy("prediction_grid", pictures.prediction_grid)
    spy("confusion_figure", pictures.confusion_figure)
    grid, confusion = tmp_path / "grid.png", tmp_path / "confusion.png"
    args = [
        "--data-dir",
        str(tiny_mnist),
        "--show",
        "7",
        "--out",
        str(grid),
        "--confusion-image",
        str(confusion),
    ]
    assert evaluate_main([str(checkpoint), *args]) == 0
    out = capsys.readouterr().out
    assert f"{grid}: test images 1-7 with their predicted classes" in out and f"{confusion}: " in out
    assert grid.read_bytes().startswith(PNG_MAGIC) and confusion.read_bytes().startswith(PNG_MAGIC)

    data = load_dataset("mnist", tiny_mnist, download=False)
    saved = load_checkpoint(checkpoint)
    net = restored_network(saved, checkpoint, "numpy", data.n_features, "mnist")
    predictions = predicted_classes(net, data.test_images)
    images, true, predicted, names, _ = drawn["prediction_grid"]
    np.testing.assert_array_equal(images, data.test_images[:7])
    np.testing.assert_array_equal(true, data.test_labels[:7])
    np.testing.assert_array_equal(predicted, predictions[:7])
    assert names == tuple("0123456789")
    counts = drawn["confusion_figure"][0]
    np.testing.assert_array_equal(counts, confusion_matrix(data.test_labels, predictions, 10))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--show", "5"], "--show needs --out IMAGE"),
        (["--out", "grid.txt"], "--out: grid.txt needs an image suffix: one of .avif, "),
        (["--confusion-image", "confusion"], "--confusion-image: confusion needs an image suffix"),
    ],
)
def test_bad_picture_options_are_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        evaluate_main(["ckpt.npz", *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and err.count("\n") == 1


def test_a_kaggle_folder_has_no_test_set_to_evaluate(capsys, tiny_kaggle, checkpoint):
    assert evaluate_main([str(checkpoint), "--data-dir", str(tiny_kaggle)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: {tiny_kaggle / 'train.csv'}: no labelled test set to evaluate on (Kaggle's test.csv has no "
        "labels; python -m network.predict labels it)\n"
    )
