"""Read a pytest-benchmark JSON of ``bench/`` into one flat table, one row per benchmark.

Every benchmark says what it measured in ``extra_info`` (``study``, ``backend``, sizes, dtype, FLOPs and
bytes, threads); this module turns those and the timing statistics into columns and derives what several
sections share: the time per sample, the epoch scaled to a full one, the achieved rates. The report reads
every shape, size and setting from these rows, never from constants of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

STAT_COLUMNS = ["median", "iqr", "min", "max", "rounds", "iterations"]
NUMERIC_INFO = [
    "batch", "hidden", "threads", "samples", "epoch_samples", "flops_per_sample", "flops", "bytes",
    "vector_bits", "working_set", "chains", "scale", "bound", "expected_gain", "busy_elsewhere", "block",
    "compile_seconds",
]  # fmt: skip
TEXT_INFO = [
    "study", "backend", "kernel", "shape", "variant", "dtype", "dataset", "layer_sizes", "optimizer",
    "fused", "technique", "expected_why", "quantity", "a", "b", "sense", "when", "level", "isa", "asm_ok",
    "compiler", "technique_on",
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
    rounds: dict[str, list[float]]  # benchmark name -> its per-round seconds, in the order timed
    extra: dict[str, dict]  # benchmark name -> its whole extra_info (histories, paired times, caches)

    def study(self, name: str) -> pd.DataFrame:
        return self.table[self.table["study"] == name]

    @property
    def quick(self) -> bool:
        return bool(self.run.get("quick"))

    @property
    def duration(self) -> float:
        """Seconds from the run's start (recorded by bench/conftest.py) to its end; NaN if not recorded."""
        try:
            start = dt.datetime.fromisoformat(self.run["started"])
            end = dt.datetime.fromisoformat(self.datetime)
        except (KeyError, TypeError, ValueError):
            return math.nan
        return (end - start).total_seconds()


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
    if not isinstance(raw.get("scratchnet"), dict):
        raise ReportError(f"{path}: not a run of scratchnet's bench/ (no 'scratchnet' entry)")
    rows, rounds, extra = [], {}, {}
    for i, bench in enumerate(raw["benchmarks"]):
        if not isinstance(bench, dict) or not isinstance(bench.get("stats"), dict):
            raise ReportError(f"{path}: benchmark {i} has no 'stats'")
        info = bench.get("extra_info") or {}
        name = str(bench.get("name", i))
        rounds[name] = list(bench["stats"].get("data") or [])
        extra[name] = info
        row = {"name": name, "group": bench.get("group")}
        row |= {key: info.get(key) for key in NUMERIC_INFO + TEXT_INFO}
        row |= {key: bench["stats"].get(key) for key in STAT_COLUMNS}
        rows.append(row)
    table = pd.DataFrame(rows, columns=["name", "group", *NUMERIC_INFO, *TEXT_INFO, *STAT_COLUMNS])
    return Results(
        path=path,
        table=_derive(table),
        machine=raw.get("machine_info") or {},
        commit=raw.get("commit_info") or {},
        run=raw["scratchnet"],
        datetime=raw.get("datetime", "unknown"),
        rounds=rounds,
        extra=extra,
    )


def _derive(table: pd.DataFrame) -> pd.DataFrame:
    """Per-sample and scaled-epoch times for the epoch studies, achieved rates for everything counted."""
    t = table.copy()
    for column in [*STAT_COLUMNS, *NUMERIC_INFO]:
        t[column] = pd.to_numeric(t[column], errors="coerce")
    t["layer_sizes"] = t["layer_sizes"].map(lambda s: str(list(s)) if isinstance(s, list) else s)
    t["seconds_per_sample"] = t["median"] / t["samples"]
    t["epoch_scale"] = t["epoch_samples"] / t["samples"]  # 1 where a round was a whole epoch
    t["scaled"] = t["epoch_scale"].gt(1)
    t["epoch_seconds"] = t["median"] * t["epoch_scale"]
    t["epoch_fastest"] = t["min"] * t["epoch_scale"]  # a point's fastest round, as the headline's blocks
    t["epoch_flops"] = t["flops_per_sample"] * t["epoch_samples"]
    counted = t["flops"].where(t["flops"].gt(0), t["flops_per_sample"] * t["samples"])
    t["gflops"] = counted / t["median"] / 1e9
    t["gbytes_per_s"] = t["bytes"].where(t["bytes"].gt(0)) / t["median"] / 1e9
    t["intensity"] = t["flops"] / t["bytes"]  # FLOP per byte of compulsory traffic, for the roofline
    return t.replace([np.inf, -np.inf], np.nan)
