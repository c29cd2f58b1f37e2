"""Kaggle's digit-recognizer files: ``train.csv``, ``test.csv`` and the submission format.

    train.csv   a header ``label,pixel0,...,pixel783``, then one image a line: its label (0-9) and its
                28 x 28 pixels (0-255) row by row
    test.csv    the same without the label column; Kaggle keeps the test labels, so this set is unlabelled
    submission  ``ImageId,Label``, one line per image of test.csv in its order, ids counted from 1

A folder holding ``train.csv`` is read as this layout. Its training set is train.csv; it has no labelled
test set (test.csv has no labels), so its test arrays are empty, and ``network.predict`` labels test.csv.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from network.dataset import N_CLASSES, DataError, Dataset, to_features
from network.files import atomic_write

TRAIN_CSV = "train.csv"
TEST_CSV = "test.csv"
N_PIXELS = 28 * 28
MAX_PIXEL = 255
PIXEL_COLUMNS = tuple(f"pixel{i}" for i in range(N_PIXELS))
LABEL_COLUMN = "label"
SUBMISSION_HEADER = ("ImageId", "Label")

# One cell: a whole number in range, leading zeros allowed. A line's pattern is made of these, so a line
# fails it exactly when one of its cells fails its own pattern or the count is wrong (_explain).
_LABEL = rf"0*[0-{N_CLASSES - 1}]"
_PIXEL = r"0*(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"


def holds_kaggle_csv(folder: str | Path) -> bool:
    """Whether ``folder`` is laid out as Kaggle's digit recognizer: it holds train.csv."""
    return (Path(folder).expanduser() / TRAIN_CSV).is_file()


def read_kaggle_csv(path: str | Path, labelled: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Images as uint8 (n, 784) and, if ``labelled`` (train.csv), labels as int64; else labels are None.

    NumPy's C parser reads the file. If it refuses the file, or a label is out of range, a stricter scan
    finds the first bad line, so that the DataError names the file, the line and the column.
    """
    path = Path(path)
    columns = _columns(labelled)
    _check_header(path, columns)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "loadtxt: input contained no data")
            # uint8 makes the parser refuse pixels outside 0-255; comments=None: '#' is not a comment here.
            table = np.loadtxt(
                path, dtype=np.uint8, delimiter=",", skiprows=1, comments=None, ndmin=2, encoding="utf-8-sig"
            )
    except ValueError as error:  # UnicodeDecodeError included
        raise DataError(_first_bad_line(path, labelled) or f"{path}: {error}") from None
    if len(table) == 0:
        raise DataError(f"{path}: no data lines after the header")
    if table.shape[1] != len(columns) or (labelled and table[:, 0].max() >= N_CLASSES):
        raise DataError(_first_bad_line(path, labelled) or f"{path}: a table of shape {table.shape}")
    if not labelled:
        return table, None
    # Copied so that the images are one contiguous array rather than a view skipping the label column.
    return table[:, 1:].copy(), table[:, 0].astype(np.int64)


def _columns(labelled: bool) -> tuple[str, ...]:
    return ((LABEL_COLUMN,) if labelled else ()) + PIXEL_COLUMNS


def _check_header(path: Path, columns: tuple[str, ...]) -> None:
    expected = ",".join(columns[:2]) + ",...," + columns[-1]
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


def _first_bad_line(path: Path, labelled: bool) -> str | None:
    """The message for the first data line that is not a row of whole numbers in range, or None."""
    # Written as a repeated group, not as 784 cells one after the other: that pattern would be slow to build.
    line_pattern = re.compile(
        (f"{_LABEL}," if labelled else "") + rf"{_PIXEL}(?:,{_PIXEL}){{{N_PIXELS - 1}}}", re.ASCII
    )
    with path.open(encoding="utf-8-sig", errors="replace") as file:
        next(file)
        for number, line in enumerate(file, 2):
            line = line.rstrip("\r\n")
            # The parser skips blank lines, and so does this scan.
            if line.strip() and not line_pattern.fullmatch(line):
                return f"{path}: line {number}, " + _explain(line.split(","), _columns(labelled))
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


def load_kaggle_train(name: str, folder: str | Path, dtype: np.dtype) -> Dataset:
    """Dataset ``name`` from ``folder``/train.csv, its test set empty (Kaggle's test.csv is unlabelled)."""
    path = Path(folder).expanduser() / TRAIN_CSV
    images, labels = read_kaggle_csv(path, labelled=True)
    return Dataset(
        name=name,
        train_images=to_features(images, dtype),
        train_labels=labels,
        test_images=np.empty((0, N_PIXELS), dtype),
        test_labels=np.empty(0, np.int64),
        source=path,
    )


def load_kaggle_test(folder: str | Path, dtype: np.dtype) -> np.ndarray:
    """The images of ``folder``/test.csv as (n, 784) features in [0, 1]."""
    path = Path(folder).expanduser() / TEST_CSV
    if not path.is_file():
        raise DataError(f"{path}: no such file (Kaggle's test.csv: a header pixel0,...,pixel783, no labels)")
    images, _ = read_kaggle_csv(path, labelled=False)
    return to_features(images, dtype)


def write_kaggle_csv(path: str | Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """Write ``images`` (n, 784) or (n, 28, 28) of uint8 as Kaggle's train.csv (with ``labels``) or test.csv
    (without), atomically; return the path."""
    header = ((LABEL_COLUMN,) if labels is not None else ()) + PIXEL_COLUMNS
    images = images.reshape(len(images), -1)
    _write_table(path, images if labels is None else np.column_stack([labels, images]), header)
    return Path(path)


def write_submission(path: str | Path, labels: np.ndarray) -> None:
    """Write ``ImageId,Label`` lines, ids from 1 in the order of test.csv, atomically."""
    _write_table(path, np.column_stack([np.arange(1, len(labels) + 1), labels]), SUBMISSION_HEADER)


def _write_table(path: str | Path, table: np.ndarray, header: tuple[str, ...]) -> None:
    with atomic_write(path, "w") as file:
        np.savetxt(file, table, fmt="%d", delimiter=",", header=",".join(header), comments="")
