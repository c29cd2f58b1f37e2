"""How long a Kaggle-sized train.csv takes to load: ``python -m reports.kaggle_speed``.

It writes a 42,000-row train.csv (the size of Kaggle's) into a temporary folder from the MNIST images that
``network.train`` would find (cycled if there are fewer), times ``load_dataset`` on that folder, and writes
the result into the README's ``kaggle-speed`` section, so that the number there is never typed by hand.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from network.data import DataError, load_dataset
from network.kaggle import DIGIT_RECOGNIZER, write_kaggle_csv
from reports.accuracy import machine
from reports.readme import README, update_section

KAGGLE_TRAIN_ROWS = 42_000
REPEATS = 3


def load_seconds(folder: Path, repeats: int = REPEATS) -> list[float]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        load_dataset("mnist", folder)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> int:
    try:
        mnist = load_dataset("mnist", download=False)
    except DataError as err:
        print(f"python -m reports.kaggle_speed: error: {err}", file=sys.stderr)
        return 1
    rows = np.arange(KAGGLE_TRAIN_ROWS) % mnist.n_train
    with tempfile.TemporaryDirectory() as folder:
        path = write_kaggle_csv(
            Path(folder) / DIGIT_RECOGNIZER.train_csv, mnist.train_images[rows], mnist.train_labels[rows]
        )
        megabytes = path.stat().st_size / 1e6
        seconds = load_seconds(Path(folder))
    load = os.getloadavg()[0]  # other processes' share of the cores, which the time includes
    text = (
        f"Loading a {KAGGLE_TRAIN_ROWS:,}-row `train.csv` (Kaggle's size, {megabytes:.0f} MB; the "
        f"{mnist.n_train:,} MNIST training images found, repeated) takes "
        f"{statistics.median(seconds):.2f} s (median of {REPEATS}, parsing into uint8 pixels), measured "
        f"by `python -m reports.kaggle_speed` on {datetime.now(timezone.utc):%Y-%m-%d} ({machine()}, "
        f"NumPy {np.__version__}; load average {load:.1f} at the end)."
    )
    update_section(README, "kaggle-speed", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
