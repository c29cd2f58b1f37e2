"""How the report writes numbers and tables: one place, so that every section rounds alike."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

NA = "n/a"


def _na_if_missing(write: Callable[..., str]) -> Callable[..., str]:
    """``write`` that gives NA for a missing value (None or NaN) instead of failing or writing "nan"."""

    @functools.wraps(write)
    def written(x: Any, *args: Any) -> str:
        return NA if x is None or pd.isna(x) else write(x, *args)

    return written


@_na_if_missing
def number(x: float, digits: int = 3) -> str:
    """``digits`` significant digits, thousands separated: 0.0848, 176, 244,848."""
    return f"{x:,.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"


@_na_if_missing
def times(x: float) -> str:
    """A ratio: 0.57x, 1.8x, 2,077x."""
    return f"{number(x, 2 if x >= 1 else 3)}x"


@_na_if_missing
def percent(x: float) -> str:
    return f"{100 * x:.3g}%"


@_na_if_missing
def seconds(s: float) -> str:
    """A duration in a unit a reader takes in at once: 1.23 s, 45.6 ms, 12.3 µs; a difference of durations
    may be negative (-1.2 µs)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


@_na_if_missing
def minutes(s: float) -> str:
    """A run's length: 10 min 21 s (45 s under a minute)."""
    whole = round(s)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


@_na_if_missing
def interval(ratio: float, low: float, high: float) -> str:
    """A ratio with its 95% interval: 0.571 [0.562, 0.580]."""
    return f"{number(ratio)} [{number(low)}, {number(high)}]"


def threads(n: float) -> str:
    return f"{int(n)} thread" + ("s" if int(n) != 1 else "")


def bound(value: float | None, sense: str | None) -> str:
    """A bound as the headline tables write it: ≤ 0.7, ≥ 3, or blank for a ratio without one."""
    if value is None or pd.isna(value):
        return ""
    return f"{'≤' if sense == 'at most' else '≥'} {value:g}"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numbers: bool = True) -> str:
    """A GitHub markdown table; the first column left-aligned, the rest right-aligned if ``numbers``."""
    align = ["---:" if numbers else ":---"] * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join([":---", *align]) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


Columns = dict[str, Callable[[Any], object]]  # header -> the cell of a row (an itertuples() tuple)


def frame_table(frame: pd.DataFrame, columns: Columns, numbers: bool = True) -> str:
    """A markdown table of ``frame``'s rows: one column per ``header: cell(row)`` of ``columns``."""
    return table(list(columns), ([cell(r) for cell in columns.values()] for r in frame.itertuples()), numbers)


def grid(frame: pd.DataFrame, keys: Sequence[str], key_cells: Callable, cells: Columns | None = None) -> str:
    """A markdown table of a pivoted ``frame``: the cells ``key_cells(index)`` under the headers ``keys``,
    then each value, written by ``cells[column]`` or else as a duration, under its column's name."""
    write = [(cells or {}).get(column, seconds) for column in frame.columns]
    rows = [(*key_cells(index), *(w(v) for w, v in zip(write, values))) for index, values in frame.iterrows()]
    return table([*keys, *frame.columns], rows)


def bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)
