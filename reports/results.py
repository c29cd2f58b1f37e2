"""Read a pytest-benchmark JSON into one flat table, one row per benchmark, with the derived numbers.

Every benchmark in ``bench/`` says what it measured in ``extra_info`` (``study``, ``backend``, sizes,
FLOPs or bytes, threads); this module turns those and the timing statistics into columns, and derives
what several sections share: seconds per sample, the epoch time scaled to a full epoch, GFLOP/s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

STAT_COLUMNS = ["median", "iqr", "q1", "q3", "min", "max", "mean", "stddev", "rounds", "iterations"]
INFO_COLUMNS = [
    "study", "backend", "kernel", "op", "shape", "variant", "batch", "hidden", "threads", "samples",
    "epoch_samples", "flops_per_sample", "flops", "bytes", "dataset", "torch_version", "fused", "technique",
    "expected_gain", "expected_why",
]  # fmt: skip


class ReportError(Exception):
    """The input cannot be made into a report; the message is one line that names the file."""


@dataclass
class Results:
    """The benchmarks as a table, plus the run's machine, commit and scratchnet information."""

    path: Path
    table: pd.DataFrame
    machine: dict
    commit: dict
    run: dict  # the "scratchnet" entry bench/conftest.py adds: versions, BLAS, threads, data, settings
    datetime: str
    pytest_benchmark_version: str
    curves: dict[str, dict]  # backend -> extra_info of its training-curve run (with "history")

    def study(self, name: str) -> pd.DataFrame:
        return self.table[self.table["study"] == name]

    @property
    def quick(self) -> bool:
        return bool(self.run.get("quick"))


def load_results(path: str | Path) -> Results:
    """Read and check ``path``; raises :class:`ReportError` with a one-line reason."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a folder, not a pytest-benchmark JSON file") from None
    except OSError as err:
        raise ReportError(f"{path}: cannot read it ({err.strerror or err})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ReportError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("benchmarks"), list):
        raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    rows, curves = [], {}
    for i, bench in enumerate(raw["benchmarks"]):
        if not isinstance(bench, dict) or not isinstance(bench.get("stats"), dict):
            raise ReportError(f"{path}: benchmark {i} has no 'stats'")
        info = bench.get("extra_info") or {}
        if info.get("study") == "curve":
            curves[info.get("backend", bench.get("name", str(i)))] = info
        row = {"name": bench.get("name"), "group": bench.get("group")}
        row |= {key: info.get(key) for key in INFO_COLUMNS}
        row |= {key: bench["stats"].get(key) for key in STAT_COLUMNS}
        rows.append(row)
    table = pd.DataFrame(rows, columns=["name", "group", *INFO_COLUMNS, *STAT_COLUMNS])
    return Results(
        path=path,
        table=_derive(table),
        machine=raw.get("machine_info") or {},
        commit=raw.get("commit_info") or {},
        run=raw.get("scratchnet") or {},
        datetime=raw.get("datetime", "unknown"),
        pytest_benchmark_version=raw.get("version", "unknown"),
        curves=curves,
    )


def _derive(table: pd.DataFrame) -> pd.DataFrame:
    """Per-sample and scaled-epoch times for the epoch studies, achieved rates for everything counted."""
    t = table.copy()
    numeric = [
        *STAT_COLUMNS,
        *"batch hidden threads samples epoch_samples flops_per_sample flops bytes".split(),
    ]
    for column in numeric:
        t[column] = pd.to_numeric(t[column], errors="coerce")
    t["seconds_per_sample"] = t["median"] / t["samples"]
    t["scale"] = t["epoch_samples"] / t["samples"]  # 1 where a round was a whole epoch
    t["scaled"] = t["scale"].gt(1)
    t["epoch_seconds"] = t["median"] * t["scale"]
    for stat in ("iqr", "min", "max"):
        t[f"epoch_{stat}"] = t[stat] * t["scale"]
    t["samples_per_second"] = t["samples"] / t["median"]
    t["epoch_flops"] = t["flops_per_sample"] * t["epoch_samples"]
    counted = t["flops"].where(t["flops"].gt(0), t["flops_per_sample"] * t["samples"])
    t["gflops"] = counted / t["median"] / 1e9
    t["gbytes_per_s"] = t["bytes"].where(t["bytes"].gt(0)) / t["median"] / 1e9
    t.replace([np.inf, -np.inf], np.nan, inplace=True)
    return t
