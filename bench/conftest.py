"""Options, shared fixtures, and the end of a run: save the benchmarks as JSON and build the report.

The JSON is pytest-benchmark's own, from its ``--benchmark-json`` machinery: when the user gives no
``--benchmark-json``, ``pytest_configure`` sets the option to a sink, so that pytest-benchmark always
generates the JSON and calls ``pytest_benchmark_update_json``, which saves it and builds the report.

``pytest bench/ --benchmark-only`` runs the full study and writes ``reports/``; ``--quick`` (or
``SCRATCHNET_BENCH_QUICK=1``) runs a small version for CI and writes to a temporary folder instead,
so the committed report is only ever replaced by a full run. ``--report-dir DIR`` (or
``SCRATCHNET_REPORT_DIR``) chooses the folder.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import traceback
from datetime import datetime, timezone
from pathlib import Path

import numba
import numpy as np
import pytest

from bench import blocks, test_headline, test_sweeps
from bench.harness import DTYPE, BenchData, choose_data
from bench.settings import SETTINGS_KEY, BenchSettings, resolve_settings
from bench.spread import join_blocks, spread_blocks
from bench.test_machine import order_probes
from kernels import get_backend, installed_backends, missing_backends
from kernels.cpu import target_cpu_name, target_isa
from kernels.threads import available_cores, blas_info
from network.files import atomic_write

DATA_KEY = pytest.StashKey[dict]()
REPORT_KEY = pytest.StashKey[str]()  # for the terminal summary: where the report went, or why not
REPORT_FAILED_KEY = pytest.StashKey[bool]()
STARTED_KEY = pytest.StashKey[str]()  # when the run started, as pytest-benchmark writes when it finished
BENCHMARK_JSON = "benchmark.json"  # the run's data, in the report folder beside the report built from it


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


class JsonSink:
    """A stand-in for the ``--benchmark-json`` file when the user gave none, so that pytest-benchmark always
    generates its JSON and calls ``pytest_benchmark_update_json``, where this run saves it.

    pytest-benchmark writes to the option's value after that hook, which has already saved the same data
    (as ``benchmark.json``), so the bytes go nowhere. Up to 5.2 the option is an open file, written as
    ``with sink as fh: fh.write(data)``; from 5.3 it is a path, opened with ``open(sink, "wb")``: the sink
    is both, a file that drops what it is given and a path to the null device.
    """

    def __init__(self, report_dir: Path):
        self.report_dir = report_dir

    def __enter__(self) -> JsonSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def write(self, data: bytes) -> int:
        return len(data)

    def __fspath__(self) -> str:
        return os.devnull

    def __str__(self) -> str:  # pytest-benchmark names the file it wrote ("Wrote benchmark data in: ...")
        return str(self.report_dir / BENCHMARK_JSON)


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark's own (trylast) configure reads --benchmark-json
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """No pytest-xdist workers for the study (``-n auto`` is in the test suite's addopts): a benchmark
    shares the cores with nothing, and pytest-benchmark times nothing under xdist."""
    return 0


def pytest_configure(config: pytest.Config) -> None:
    config.stash[STARTED_KEY] = datetime.now(timezone.utc).isoformat()
    settings = resolve_settings(config.getoption("--quick"), config.getoption("--report-dir"))
    config.stash[SETTINGS_KEY] = settings
    benchmarks_run = not config.getoption("collectonly") and (
        config.getoption("benchmark_only") or not config.getoption("benchmark_skip")
    )
    # Where no benchmark runs (skipped by the project's default addopts, or only collected), a sink would
    # only earn pytest-benchmark's warning that there was nothing to save.
    if benchmarks_run and config.getoption("benchmark_json") is None:
        config.option.benchmark_json = JsonSink(settings.report_dir)


@pytest.hookimpl(wrapper=True)  # around pytest's own selection by -k, -m and deselection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    """The headline ratios' blocks, each set aside for a process of its own (``bench.blocks``), and the
    sweeps', spread over the run (``bench.spread``); then the machine's "start" peak probes first
    and its "end" ones last, so that the run's own measurements lie between two measurements of the peak
    (``bench/test_machine.py``)."""
    blocks.lend_keywords(items)
    yield
    blocks.set_aside(config, items)
    settings = config.stash[SETTINGS_KEY]
    spread_blocks(items, test_sweeps.__name__, settings.sweep_blocks)
    spread_blocks(items, test_headline.__name__, settings.headline_blocks)
    order_probes(items)


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> BenchSettings:
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def bench_data(pytestconfig: pytest.Config) -> BenchData:
    data = choose_data()
    pytestconfig.stash[DATA_KEY] = data.describe()
    return data


BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _version(library: str) -> str | None:
    """The installed version of ``library``, None when it is not installed."""
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_info(config: pytest.Config) -> dict:
    """What pytest-benchmark's machine_info lacks: library versions, BLAS, threads, data, run settings."""
    settings = config.stash[SETTINGS_KEY]
    try:
        threading_layer = numba.threading_layer()
    except ValueError:  # no parallel Numba function has run in this process
        threading_layer = None
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threading_layer": threading_layer,
        "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
        "torch": _version("torch"),
        "jax": _version("jax"),
        # each registered backend that did not run, and why (an optional extra not installed)
        "missing_backends": missing_backends(),
        "blas": blas_info(),
        # set on some machines because older OpenBLAS builds failed there; they slow a current one
        "env": {name: os.environ.get(name) for name in BLAS_OVERRIDES},
        "available_cores": available_cores(),
        # what Numba compiled for (NUMBA_CPU_NAME and NUMBA_CPU_FEATURES), narrower than the CPU in a run
        # that checks a narrower ISA's kernels on a wider machine
        "compiled_for": {"cpu": target_cpu_name(), "isa": target_isa().value},
        # how a backend that runs differently on different CPUs ran on this one (the numba blocking, and
        # whether its thresholds were tuned here), in the dtype the study trains in
        "described": {
            name: get_backend(name).describe(np.dtype(DTYPE))
            for name in installed_backends()
            if hasattr(get_backend(name), "describe")
        },
        "quick": settings.quick,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(settings).items()},
        "data": config.stash.get(DATA_KEY, None),
        "started": config.stash.get(STARTED_KEY, None),
    }


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    """Complete every JSON that pytest-benchmark writes (``--benchmark-json``, ``--benchmark-save``) with
    the run's info, so that ``python -m reports.build`` can build the report from any of them; the first
    time, which is the ``--benchmark-json`` one (pytest-benchmark writes it before any saved copy, and with
    every round's time), save it as ``benchmark.json`` and build the report beside it. The headline
    blocks' processes' benchmarks join the run's (``bench.blocks``), and a sweep point's blocks
    become one benchmark (``bench.spread``); a headline block's own process leaves its JSON to the run
    that started it."""
    if blocks.in_block_process():
        return
    blocks.merge(config, output_json)
    for test in test_sweeps.SPREAD:
        join_blocks(output_json, test)
    output_json["scratchnet"] = run_info(config)
    if REPORT_KEY in config.stash:  # a saved copy after the JSON (--benchmark-save, --benchmark-autosave)
        return
    report_dir = config.stash[SETTINGS_KEY].report_dir
    json_path = report_dir / BENCHMARK_JSON
    try:
        with atomic_write(json_path, "w") as f:
            json.dump(output_json, f, indent=2, default=str)

        from reports.build import build_report

        markdown = build_report(json_path, report_dir)
    except Exception:  # a broken report must fail the run (CI runs the quick mode for this), with the cause
        config.stash[REPORT_KEY] = "report NOT built:\n" + traceback.format_exc()
        config.stash[REPORT_FAILED_KEY] = True
    else:
        config.stash[REPORT_KEY] = f"report written to {markdown} (data: {json_path})"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if its report could not be built. pytest-benchmark saves the JSON, and so calls
    ``pytest_benchmark_update_json``, in its hook wrapper's first half, before this runs."""
    if session.config.stash.get(REPORT_FAILED_KEY, False):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    message = config.stash.get(REPORT_KEY, None)
    if message:
        terminalreporter.write_sep("-", "scratchnet report")
        terminalreporter.write_line(message)
