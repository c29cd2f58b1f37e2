"""The ``--metrics`` file of a training run: what ran (settings, data and its sizes, versions) beside the
per-epoch numbers and, once measured, the test result.

- ``.json``: one object ``{"run": {...}, "epochs": [{...}, ...], "test": {...} or null}``.
- ``.csv``: the per-epoch rows under a header line, after comment lines ``# run: <JSON>`` and, once the
  test set has been measured, ``# test: <JSON>``; ``pandas.read_csv(path, comment="#")`` reads the rows.
  A number that was not measured (no validation set, say) is an empty field, ``null`` in JSON.

The file is rewritten whole after every epoch, never left half-written.
"""

from __future__ import annotations

import csv
import json
import platform
from importlib import metadata
from pathlib import Path

from network.files import atomic_write
from network.trainer import EpochMetrics

LIBRARIES = ("numpy", "numba")


def versions() -> dict[str, str | None]:
    """Python's version and those of the libraries the numbers depend on (None: not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def write_metrics(
    path: Path, description: dict, history: list[EpochMetrics], test: dict | None = None
) -> None:
    """Write ``description`` (of the run), the epochs of ``history`` and ``test`` to ``path``."""
    rows = [m.as_dict() for m in history]
    with atomic_write(path, "w") as f:
        if path.suffix == ".json":
            json.dump({"run": description, "epochs": rows, "test": test}, f, indent=1)
            return
        f.write(f"# run: {json.dumps(description)}\n")
        if test is not None:
            f.write(f"# test: {json.dumps(test)}\n")
        writer = csv.DictWriter(f, fieldnames=list(EpochMetrics.__dataclass_fields__), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
