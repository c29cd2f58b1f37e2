"""Kaggle's CSV files, the digit recognizer's and Fashion-MNIST's: reading, the layouts' recognition, and
one-line errors that name the file, the line and the column."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
from conftest import QUICK_TRAINING

from network.data import DataError, load_dataset
from network.kaggle import DIGIT_RECOGNIZER, FASHION_MNIST, N_PIXELS, read_kaggle_csv, write_kaggle_csv
from network.train import main as train_main
from reports import kaggle_speed


def random_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, N_PIXELS), dtype=np.uint8)
    images[0, 0] = 255  # the top of the range, which the parser must take
    return images, rng.integers(0, 10, n)


def test_train_csv_round_trip(tmp_path):
    images, labels = random_images(5)
    path = write_kaggle_csv(tmp_path / "train.csv", images, labels)
    assert path.read_text().splitlines()[1] == ",".join(map(str, [labels[0], *images[0]]))  # Kaggle's order
    got_images, got_labels = read_kaggle_csv(path, True)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.dtype == np.uint8 and got_images.flags.c_contiguous and got_labels.dtype == np.int64


def test_test_csv_has_no_labels(tmp_path):
    images, _ = random_images(3)
    got_images, got_labels = read_kaggle_csv(write_kaggle_csv(tmp_path / "test.csv", images), False)
    np.testing.assert_array_equal(got_images, images)
    assert got_labels is None


def test_fashion_mnist_files_round_trip_with_pixels_numbered_from_1(tmp_path):
    images, labels = random_images(5)
    path = write_kaggle_csv(tmp_path / FASHION_MNIST.test_csv, images, labels, FASHION_MNIST)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:2] == ["label", "pixel1"] and header[-1] == "pixel784" and len(header) == 785
    got_images, got_labels = read_kaggle_csv(path, True, FASHION_MNIST)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_a_fashion_mnist_folder_is_read_with_its_labelled_test_set(tmp_path):
    (train_images, train_labels), (test_images, test_labels) = random_images(4), random_images(3, seed=1)
    write_kaggle_csv(tmp_path / FASHION_MNIST.train_csv, train_images, train_labels, FASHION_MNIST)
    write_kaggle_csv(tmp_path / FASHION_MNIST.test_csv, test_images, test_labels, FASHION_MNIST)
    data = load_dataset("fashion-mnist", tmp_path, download=False)
    np.testing.assert_array_equal(data.train_images, train_images)
    np.testing.assert_array_equal(data.train_labels, train_labels)
    np.testing.assert_array_equal(data.test_images, test_images)
    np.testing.assert_array_equal(data.test_labels, test_labels)
    assert data.source == tmp_path / FASHION_MNIST.train_csv and data.test_images.dtype == np.uint8


def test_a_fashion_mnist_folder_without_its_test_file_is_refused(tmp_path):
    write_kaggle_csv(tmp_path / FASHION_MNIST.train_csv, *random_images(3), layout=FASHION_MNIST)
    path = tmp_path / FASHION_MNIST.test_csv
    message = f"{path}: no such file (Kaggle's Fashion-MNIST test set: a header label,pixel1,...,pixel784)"
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        load_dataset("fashion-mnist", tmp_path, download=False)


@pytest.mark.parametrize(("layout", "asked"), [(DIGIT_RECOGNIZER, "fashion-mnist"), (FASHION_MNIST, "mnist")])
def test_a_kaggle_folder_of_another_data_set_is_refused(tmp_path, layout, asked):
    write_kaggle_csv(tmp_path / layout.train_csv, *random_images(3), layout=layout)
    with pytest.raises(DataError, match=f"not {asked} \\(pass --dataset {layout.dataset}\\)$"):
        load_dataset(asked, tmp_path, download=False)


def test_a_digit_recognizer_header_in_a_fashion_mnist_file_names_the_column(tmp_path):
    path = write_kaggle_csv(tmp_path / FASHION_MNIST.train_csv, *random_images(3))
    with pytest.raises(
        DataError, match=re.escape(f"{path}: the header's column 2 is 'pixel0', expected 'pixel1'")
    ):
        read_kaggle_csv(path, True, FASHION_MNIST)


def test_a_folder_with_train_csv_is_read_as_kaggle_with_no_test_set(tmp_path):
    images, labels = random_images(4)
    write_kaggle_csv(tmp_path / "train.csv", images, labels)
    data = load_dataset("mnist", tmp_path, download=False)
    np.testing.assert_array_equal(data.train_images, images)
    np.testing.assert_array_equal(data.train_labels, labels)
    assert data.train_images[0, 0] == 255 and data.n_test == 0 and data.n_features == N_PIXELS
    assert data.source == tmp_path / "train.csv"


def test_windows_line_ends_a_byte_order_mark_and_blank_lines_are_read(tmp_path):
    images, labels = random_images(2)
    path = write_kaggle_csv(tmp_path / "train.csv", images, labels)
    lines = path.read_text().splitlines()
    path.write_bytes(("\ufeff" + "\r\n".join([lines[0], lines[1], "", lines[2]]) + "\r\n").encode())
    got_images, got_labels = read_kaggle_csv(path, True)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


Lines = list[str]


def set_cell(line: int, column: int, value: str) -> Callable[[Lines], Lines]:
    """A spoiler of a file's lines: the cell at ``line`` (1 = the header) and ``column`` (1 = the first)."""

    def spoil(lines: Lines) -> Lines:
        cells = lines[line - 1].split(",")
        cells[column - 1] = value
        return lines[: line - 1] + [",".join(cells)] + lines[line:]

    return spoil


def blank_line_then(spoil: Callable[[Lines], Lines]) -> Callable[[Lines], Lines]:
    """A blank line inserted as line 3, then ``spoil`` (whose line numbers count it)."""
    return lambda lines: spoil(lines[:2] + [""] + lines[2:])


BAD_TRAIN_FILES = [
    (set_cell(3, 1, "10"), r"line 3, column 1 \(label\): '10' is outside 0-9"),
    (set_cell(4, 1, "-1"), r"line 4, column 1 \(label\): '-1' is not a whole number 0-9"),
    (set_cell(2, 302, "256"), r"line 2, column 302 \(pixel300\): '256' is outside 0-255"),
    (set_cell(4, 2, "-3"), r"line 4, column 2 \(pixel0\): '-3' is not a whole number 0-255"),
    (set_cell(3, 785, "abc"), r"line 3, column 785 \(pixel783\): 'abc' is not a whole number 0-255"),
    (set_cell(2, 9, "1.5"), r"line 2, column 9 \(pixel7\): '1.5' is not a whole number 0-255"),
    (set_cell(3, 9, ""), r"line 3, column 9 \(pixel7\): '' is not a whole number 0-255"),
    (lambda lines: lines[:2] + [lines[2].rsplit(",", 1)[0]] + lines[3:], r"line 3, 784 values where the"),
    (lambda lines: lines + [lines[-1] + ",7"], r"line 5, 786 values where the header names 785 columns"),
    (set_cell(1, 5, "pixel_3"), r"the header's column 5 is 'pixel_3', expected 'pixel3'"),
    (lambda lines: lines[1:], r"line 1 is data, not the header label,pixel0,...,pixel783"),
    (lambda lines: [], r"empty file"),
    (lambda lines: lines[:1], r"no data lines after the header"),
    # Kaggle's test.csv given as train.csv.
    (lambda lines: [line.split(",", 1)[1] for line in lines], r"the header has 784 columns, expected 785"),
    # The parser skips a blank line; the message counts it, so its line number is the one an editor shows.
    (blank_line_then(set_cell(4, 1, "12")), r"line 4, column 1 \(label\): '12' is outside 0-9"),
]


@pytest.mark.parametrize(("spoil", "message"), BAD_TRAIN_FILES)
def test_a_bad_train_csv_is_one_line_naming_file_line_and_column(tmp_path, spoil, message):
    path = write_kaggle_csv(tmp_path / "train.csv", *random_images(3))
    path.write_text("".join(line + "\n" for line in spoil(path.read_text().splitlines())))
    with pytest.raises(DataError) as error:
        read_kaggle_csv(path, True)
    text = str(error.value)
    assert re.match(f"^{re.escape(str(path))}: {message}", text) and "\n" not in text, text


def test_a_bad_csv_from_the_command_line_is_one_line_and_exit_1(capsys, tmp_path):
    path = write_kaggle_csv(tmp_path / "train.csv", *random_images(3))
    path.write_text("\n".join(set_cell(3, 100, "x")(path.read_text().splitlines())))
    assert train_main(["--data-dir", str(tmp_path), "--epochs", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {path}: line 3, column 100 (pixel98): 'x' is not a whole number 0-255\n"


def test_a_kaggle_folder_trains_and_says_it_has_no_test_set(capsys, tiny_kaggle):
    fast = ["--hidden", "16", *QUICK_TRAINING, "--epochs", "1"]
    assert train_main(["--data-dir", str(tiny_kaggle), *fast]) == 0
    out = capsys.readouterr().out
    source = tiny_kaggle / "train.csv"
    assert f"(540 train / 60 validation / 0 test images from {source}; no labelled" in out.splitlines()[0]
    assert "test (measured once" not in out


def test_the_speed_sentence_is_measured_into_the_readme(monkeypatch, tiny_mnist, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- kaggle-speed:start -->\nold\n<!-- kaggle-speed:end -->\nafter\n")
    monkeypatch.setattr(kaggle_speed, "README", readme)
    monkeypatch.setattr(kaggle_speed, "KAGGLE_TRAIN_ROWS", 700)
    monkeypatch.setenv("SCRATCHNET_DATA", str(tiny_mnist.parent))
    assert kaggle_speed.main() == 0
    text = readme.read_text()
    assert text.startswith("before\n<!-- kaggle-speed:start -->\nLoading a 700-row `train.csv`")
    assert "the 600 MNIST training images found, repeated) takes " in text and "old" not in text
    assert text.endswith("\n<!-- kaggle-speed:end -->\nafter\n")


def test_a_fashion_mnist_folder_trains_and_measures_its_test_set_once(capsys, tiny_fashion_kaggle):
    fast = ["--hidden", "16", *QUICK_TRAINING, "--epochs", "2"]
    assert train_main(["--data-dir", str(tiny_fashion_kaggle), "--dataset", "fashion-mnist", *fast]) == 0
    lines = capsys.readouterr().out.splitlines()
    source = tiny_fashion_kaggle / FASHION_MNIST.train_csv
    assert f"fashion-mnist (540 train / 60 validation / 200 test images from {source})," in lines[0]
    assert [line for line in lines if line.startswith("test")] == [lines[-1]]
    assert lines[-1].startswith("test (measured once, after epoch 2): ") and "on 200 images" in lines[-1]
