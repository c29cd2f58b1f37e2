"""Kaggle's CSV layouts of MNIST-style data: the digit recognizer's and Fashion-MNIST's, and the submission
format.

digit recognizer (competition "digit-recognizer"):
    train.csv   a header ``label,pixel0,...,pixel783``, then one image a line: its label (0-9) and its
                28 x 28 pixels (0-255) row by row
    test.csv    the same without the label column; Kaggle keeps the test labels, so this set is unlabelled
Fashion-MNIST (data set "zalando-research/fashionmnist"):
    fashion-mnist_train.csv, fashion-mnist_test.csv
                both a header ``label,pixel1,...,pixel784`` and labelled lines as above
submission      ``ImageId,Label``, one line per image of the test file in its order, ids counted from 1

A folder holding either file of a layout is read as that layout. The digit recognizer has no labelled test
set, so its test arrays are empty and ``network.predict`` labels test.csv; Fashion-MNIST's test file is its
test set, measured as the IDX files' is, and ``network.predict`` can label it too.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from network.dataset import N_CLASSES, DataError, Dataset
from network.files import atomic_write

N_PIXELS = 28 * 28
MAX_PIXEL = 255
LABEL_COLUMN = "label"
SUBMISSION_HEADER = ("ImageId", "Label")


@dataclass(frozen=True)
class KaggleLayout:
    """How one of Kaggle's data sets lays out its CSV files."""

    title: str  # as Kaggle names it, for messages
    dataset: str  # the data set (network.sources.DATASETS) its images are drawn from
    train_csv: str
    test_csv: str
    first_pixel: int  # the pixel columns are numbered from it: pixel0... or pixel1...
    test_labelled: bool

    def columns(self, labelled: bool) -> tuple[str, ...]:
        """The header of a file of this layout, with or without the label column."""
        pixels = tuple(f"pixel{self.first_pixel + i}" for i in range(N_PIXELS))
        return ((LABEL_COLUMN,) if labelled else ()) + pixels

    def describe(self, labelled: bool) -> str:
        """The header, shortened for a message: ``label,pixel0,...,pixel783``."""
        columns = self.columns(labelled)
        return ",".join(columns[:2]) + ",...," + columns[-1]


DIGIT_RECOGNIZER = KaggleLayout(
    title="digit recognizer",
    dataset="mnist",
    train_csv="train.csv",
    test_csv="test.csv",
    first_pixel=0,
    test_labelled=False,
)
FASHION_MNIST = KaggleLayout(
    title="Fashion-MNIST",
    dataset="fashion-mnist",
    train_csv="fashion-mnist_train.csv",
    test_csv="fashion-mnist_test.csv",
    first_pixel=1,
    test_labelled=True,
)
KAGGLE_LAYOUTS = (DIGIT_RECOGNIZER, FASHION_MNIST)

# One cell: a whole number in range, leading zeros allowed. A line's pattern is made of these, so a line
# fails it exactly when one of its cells fails its own pattern or the count is wrong (_explain).
_LABEL = rf"0*[0-{N_CLASSES - 1}]"
_PIXEL = r"0*(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"


def kaggle_layout(folder: str | Path) -> KaggleLayout | None:
    """The Kaggle layout whose training or test file ``folder`` holds, or None."""
    folder = Path(folder).expanduser()
    return next(
        (
            layout
            for layout in KAGGLE_LAYOUTS
            if (folder / layout.train_csv).is_file() or (folder / layout.test_csv).is_file()
        ),
        None,
    )


def read_kaggle_csv(
    path: str | Path, labelled: bool, layout: KaggleLayout = DIGIT_RECOGNIZER
) -> tuple[np.ndarray, np.ndarray | None]:
    """Images as uint8 (n, 784) and, if ``labelled``, labels as int64; else labels are None.

    NumPy's C parser reads the file. If it refuses the file, or a label is out of range, a stricter scan
    finds the first bad line, so that the DataError names the file, the line and the column.
    """
    path = Path(path)
    columns = layout.columns(labelled)
    _check_header(path, layout, labelled)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "loadtxt: input contained no data")
            # uint8 makes the parser refuse pixels outside 0-255; comments=None: '#' is not a comment here.
            table = np.loadtxt(
                path, dtype=np.uint8, delimiter=",", skiprows=1, comments=None, ndmin=2, encoding="utf-8-sig"
            )
    except ValueError as error:  # UnicodeDecodeError included
        raise DataError(_first_bad_line(path, columns) or f"{path}: {error}") from None
    if len(table) == 0:
        raise DataError(f"{path}: no data lines after the header")
    if table.shape[1] != len(columns) or (labelled and table[:, 0].max() >= N_CLASSES):
        raise DataError(_first_bad_line(path, columns) or f"{path}: a table of shape {table.shape}")
    if not labelled:
        return table, None
    # Copied so that the images are one contiguous array rather than a view skipping the label column.
    return table[:, 1:].copy(), table[:, 0].astype(np.int64)


def _check_header(path: Path, layout: KaggleLayout, labelled: bool) -> None:
    columns, expected = layout.columns(labelled), layout.describe(labelled)
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as file:
            header = file.readline().rstrip("\r\n").split(",")
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or error})") from error
    if header == [""]:
        raise DataError(f"{path}: empty file (expected the header {expected})")
    if header[0].strip().isdigit():
        raise DataError(f"{path}: line 1 is data, not the header {expected}")
    if len(header) != len(columns):
        raise DataError(f"{path}: the header has {len(header)} columns, expected {len(columns)}: {expected}")
    for number, (name, wanted) in enumerate(zip(header, columns), 1):
        if name.strip() != wanted:
            raise DataError(f"{path}: the header's column {number} is {name!r}, expected {wanted!r}")


def _first_bad_line(path: Path, columns: tuple[str, ...]) -> str | None:
    """The message for the first data line that is not a row of ``columns`` in range, or None."""
    # Written as a repeated group, not as 784 cells one after the other: that pattern would be slow to build.
    line_pattern = re.compile(
        (f"{_LABEL}," if columns[0] == LABEL_COLUMN else "") + rf"{_PIXEL}(?:,{_PIXEL}){{{N_PIXELS - 1}}}",
        re.ASCII,
    )
    with path.open(encoding="utf-8-sig", errors="replace") as file:
        next(file)
        for number, line in enumerate(file, 2):
            line = line.rstrip("\r\n")
            # The parser skips blank lines, and so does this scan.
            if line.strip() and not line_pattern.fullmatch(line):
                return f"{path}: line {number}, " + _explain(line.split(","), columns)
    return None


def _explain(values: list[str], columns: tuple[str, ...]) -> str:
    """What is wrong with a line that fails the line pattern: a cell that fails its own, or the count."""
    if len(values) != len(columns):
        return f"{len(values)} values where the header names {len(columns)} columns"
    for number, (value, name) in enumerate(zip(values, columns), 1):
        cell, top = (_LABEL, N_CLASSES - 1) if name == LABEL_COLUMN else (_PIXEL, MAX_PIXEL)
        if not re.fullmatch(cell, value, re.ASCII):
            problem = "is outside" if value.isascii() and value.isdigit() else "is not a whole number"
            return f"column {number} ({name}): {value!r} {problem} 0-{top}"
    raise AssertionError("the line pattern is made of the cell patterns, so one of the cells fails")


def load_kaggle(name: str, folder: str | Path, layout: KaggleLayout) -> Dataset:
    """Dataset ``name`` from the files of ``layout`` in ``folder``: its test set is the test file if that is
    labelled, else empty (the digit recognizer's test.csv has no labels). Refused unless ``name`` is the data
    set the layout holds: that data set's tuned settings and class names are the ones that fit."""
    if name != layout.dataset:
        raise DataError(
            f"{folder}: holds Kaggle's {layout.title} files, which are {layout.dataset}, not {name} "
            f"(pass --dataset {layout.dataset})"
        )
    train_path, (train_images, train_labels) = _read_layout_file(folder, layout, test=False)
    if layout.test_labelled:
        _, (test_images, test_labels) = _read_layout_file(folder, layout, test=True)
    else:
        test_images, test_labels = np.empty((0, N_PIXELS), np.uint8), np.empty(0, np.int64)
    return Dataset(
        name=name,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        source=train_path,
    )


def load_kaggle_test(folder: str | Path, layout: KaggleLayout) -> tuple[np.ndarray, Path]:
    """The images of ``layout``'s test file in ``folder`` as (n, 784) uint8 pixels (its labels, if it has
    any, left out: they are what a submission predicts), and the file's path."""
    path, (images, _) = _read_layout_file(folder, layout, test=True)
    return images, path


def _read_layout_file(
    folder: str | Path, layout: KaggleLayout, test: bool
) -> tuple[Path, tuple[np.ndarray, np.ndarray | None]]:
    """The path of ``layout``'s training or test file in ``folder``, and what :func:`read_kaggle_csv` reads
    from it; a missing file is a DataError that says what it should hold."""
    path = Path(folder).expanduser() / (layout.test_csv if test else layout.train_csv)
    labelled = layout.test_labelled or not test
    if not path.is_file():
        kind = "test" if test else "training"
        raise DataError(
            f"{path}: no such file (Kaggle's {layout.title} {kind} set: a header {layout.describe(labelled)})"
        )
    return path, read_kaggle_csv(path, labelled, layout)


def write_kaggle_csv(
    path: str | Path,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    layout: KaggleLayout = DIGIT_RECOGNIZER,
) -> Path:
    """Write ``images`` (n, 784) or (n, 28, 28) of uint8 in ``layout``'s columns, with the label column if
    ``labels`` are given, atomically; return the path."""
    images = images.reshape(len(images), -1)
    table = images if labels is None else np.column_stack([labels, images])
    _write_table(path, table, layout.columns(labels is not None))
    return Path(path)


def write_submission(path: str | Path, labels: np.ndarray) -> None:
    """Write ``ImageId,Label`` lines, ids from 1 in the order of the test file, atomically."""
    _write_table(path, np.column_stack([np.arange(1, len(labels) + 1), labels]), SUBMISSION_HEADER)


def _write_table(path: str | Path, table: np.ndarray, header: tuple[str, ...]) -> None:
    with atomic_write(path, "w") as file:
        np.savetxt(file, table, fmt="%d", delimiter=",", header=",".join(header), comments="")
