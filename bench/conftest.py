"""Options, shared fixtures, and the end of a run: save the benchmarks as JSON and build the report.

``pytest bench/ --benchmark-only`` runs the full study and writes ``reports/``; ``--quick`` (or
``SCRATCHNET_BENCH_QUICK=1``) runs a small version for CI and writes to a temporary folder instead,
so the committed report is only ever replaced by a full run. ``--report-dir DIR`` (or
``SCRATCHNET_REPORT_DIR``) chooses the folder.
"""

from __future__ import annotations

import json
import platform
import traceback
from pathlib import Path

import numba
import numpy as np
import pytest

from bench.harness import BenchData, choose_data
from bench.settings import BenchSettings, resolve_settings
from kernels.threads import available_cores, blas_info
from network.files import atomic_write

SETTINGS_KEY = pytest.StashKey[BenchSettings]()
DATA_KEY = pytest.StashKey[dict]()
REPORT_KEY = pytest.StashKey[str]()  # one line for the terminal summary: where the report went, or why not


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scratchnet benchmarks")
    group.addoption(
        "--quick",
        action="store_true",
        help="small subsets and one round, for CI (also: SCRATCHNET_BENCH_QUICK=1); "
        "the report goes to a temporary folder unless --report-dir is given",
    )
    group.addoption(
        "--report-dir",
        default=None,
        help="folder for benchmark.json and the report (also: SCRATCHNET_REPORT_DIR; "
        "default: reports/ for a full run, a temporary folder for --quick)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SETTINGS_KEY] = resolve_settings(
        config.getoption("--quick"), config.getoption("--report-dir")
    )


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> BenchSettings:
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def bench_data(pytestconfig: pytest.Config) -> BenchData:
    data = choose_data()
    pytestconfig.stash[DATA_KEY] = data.describe()
    return data


def run_info(config: pytest.Config) -> dict:
    """What pytest-benchmark's machine_info lacks: library versions, BLAS, threads, data, run settings."""
    settings = config.stash[SETTINGS_KEY]
    try:
        threading_layer = numba.threading_layer()
    except ValueError:  # no parallel Numba function has run in this process
        threading_layer = None
    try:
        import torch
    except ImportError:
        torch_version = None
    else:
        torch_version = torch.__version__
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threading_layer": threading_layer,
        "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
        "torch": torch_version,
        "blas": blas_info(),
        "available_cores": available_cores(),
        "quick": settings.quick,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(settings).items()},
        "data": config.stash.get(DATA_KEY, None),
    }


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    """Make a user's own ``--benchmark-json`` file complete enough to build the report from."""
    output_json["scratchnet"] = run_info(config)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Save every benchmark of the run as ``benchmark.json`` and build the report beside it."""
    config = session.config
    bench_session = getattr(config, "_benchmarksession", None)  # pytest-benchmark's one per-run object
    if bench_session is None or bench_session.skip or bench_session.disabled or not bench_session.benchmarks:
        return
    report_dir = config.stash[SETTINGS_KEY].report_dir
    try:
        output_json = config.hook.pytest_benchmark_generate_json(
            config=config,
            benchmarks=bench_session.benchmarks,
            include_data=True,
            machine_info=bench_session.get_machine_info(),
            commit_info=config.hook.pytest_benchmark_generate_commit_info(config=config),
        )
        output_json["scratchnet"] = run_info(config)
        json_path = report_dir / "benchmark.json"
        with atomic_write(json_path, "w") as f:
            json.dump(output_json, f, indent=2, default=str)

        from reports.build import build_report

        markdown = build_report(json_path, report_dir)
    except Exception:  # a broken report must fail the run (CI runs the quick mode for this), with the cause
        config.stash[REPORT_KEY] = "report NOT built:\n" + traceback.format_exc()
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        config.stash[REPORT_KEY] = f"report written to {markdown} (data: {json_path})"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    message = config.stash.get(REPORT_KEY, None)
    if message:
        terminalreporter.write_sep("-", "scratchnet report")
        terminalreporter.write_line(message)
