"""How much a benchmark run measures: the full study for the committed report, or a quick run for CI.

Both modes run every benchmark with the same parametrization; quick mode only shrinks the data and the
rounds, so that CI exercises every code path in about two minutes and the benchmark code cannot rot.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

QUICK_ENV = "SCRATCHNET_BENCH_QUICK"
REPORT_DIR_ENV = "SCRATCHNET_REPORT_DIR"
COMMITTED_REPORT_DIR = Path(__file__).resolve().parents[1] / "reports"
QUICK_REPORT_DIR = Path(tempfile.gettempdir()) / "scratchnet-bench-quick"


@dataclass(frozen=True)
class BenchSettings:
    quick: bool
    report_dir: Path
    epoch_samples: int  # samples per timed epoch for a full_size backend (60,000: a literature epoch)
    loops_samples: int  # a backend without full_size (loops) trains this many per round; its epoch is scaled
    sweep_samples: int  # samples per round at every sweep point; reported per sample and scaled
    epoch_rounds: int
    sweep_rounds: int
    sweep_blocks: int  # numpy's and numba's sweep points: their rounds in this many blocks, spread
    headline_rounds: int  # alternating pairs per headline ratio and block: a steadier median per block
    headline_blocks: int  # a ratio's pairs in this many blocks, spread over the run: the interval's unit
    headline_spare_blocks: int  # at most this many more, at the run's end, for blocks the machine slowed
    kernel_rounds: int
    loops_kernel_rounds: int  # an interpreted product at the network's shapes lasts a round by itself
    kernel_round_seconds: float  # calls are repeated within a round until it lasts about this long
    curve_samples: int
    loops_curve_samples: int
    curve_test_samples: int  # None of these is the accuracy benchmark: curves show that training works
    loops_curve_test_samples: int
    curve_epochs: int


FULL = BenchSettings(
    quick=False,
    report_dir=COMMITTED_REPORT_DIR,
    epoch_samples=60_000,
    loops_samples=128,
    sweep_samples=16_384,
    epoch_rounds=5,
    sweep_rounds=3,
    sweep_blocks=3,
    headline_rounds=2,
    headline_blocks=5,
    headline_spare_blocks=4,
    kernel_rounds=10,
    loops_kernel_rounds=3,
    kernel_round_seconds=0.05,
    curve_samples=20_000,
    loops_curve_samples=256,
    curve_test_samples=10_000,
    loops_curve_test_samples=256,
    curve_epochs=5,
)

QUICK = BenchSettings(
    quick=True,
    report_dir=QUICK_REPORT_DIR,
    epoch_samples=2_048,
    loops_samples=64,
    sweep_samples=512,
    epoch_rounds=1,
    sweep_rounds=1,
    sweep_blocks=1,
    headline_rounds=1,
    headline_blocks=2,
    headline_spare_blocks=1,
    kernel_rounds=1,
    loops_kernel_rounds=1,
    kernel_round_seconds=0.005,
    curve_samples=1_024,
    loops_curve_samples=64,
    curve_test_samples=1_024,
    loops_curve_test_samples=64,
    curve_epochs=2,
)


def resolve_settings(quick_option: bool, report_dir_option: str | None) -> BenchSettings:
    """The settings chosen by ``--quick`` (or ``$SCRATCHNET_BENCH_QUICK``) and ``--report-dir`` (or
    ``$SCRATCHNET_REPORT_DIR``)."""
    quick = quick_option or os.environ.get(QUICK_ENV, "").strip() not in ("", "0")
    settings = QUICK if quick else FULL
    report_dir = report_dir_option or os.environ.get(REPORT_DIR_ENV)
    if report_dir:
        settings = replace(settings, report_dir=Path(report_dir).expanduser().resolve())
    return settings


SETTINGS_KEY = pytest.StashKey[BenchSettings]()  # the run's settings, in the pytest config's stash
