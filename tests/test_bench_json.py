"""The end of a benchmark run (``bench/conftest.py``): pytest-benchmark's JSON, completed with the run's
info, saved as ``benchmark.json`` in the report folder, and the report built from it once per run.

Each test runs a one-benchmark session in a pytester subprocess with ``bench.conftest`` as a plugin and
``reports.build`` replaced by a stub that logs its calls (the real report is tested in test_reports.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # each test runs a pytest session in a subprocess

TINY_BENCHMARK = """
def test_tiny(benchmark):
    benchmark.pedantic(lambda: None, rounds=2, iterations=1)
"""

STUB_REPORT = """
import os
import sys
import types
from pathlib import Path


def build_report(json_path, report_dir):
    with open(Path(report_dir) / "builds.log", "a") as log:
        log.write(f"{json_path}\\n")
    if os.environ.get("STUB_REPORT_FAILS"):
        raise RuntimeError("the stub report failed")
    return Path(report_dir) / "performance.md"


sys.modules["reports.build"] = types.SimpleNamespace(build_report=build_report)
"""


@pytest.fixture
def run_bench(pytester: pytest.Pytester, tmp_path: Path):
    """Run the tiny benchmark with bench/conftest.py's hooks and extra options; the report folder."""
    pytester.makepyfile(test_tiny=TINY_BENCHMARK)
    pytester.makeconftest(STUB_REPORT)
    report_dir = tmp_path / "report"

    def run(*options: str) -> tuple[pytest.RunResult, Path]:
        result = pytester.runpytest_subprocess(
            "-p", "bench.conftest", "-p", "no:cacheprovider", "--report-dir", str(report_dir), *options
        )
        return result, report_dir

    return run


def builds(report_dir: Path) -> list[str]:
    return (report_dir / "builds.log").read_text().splitlines()


def test_without_benchmark_json_the_run_saves_its_json_and_builds_the_report(run_bench):
    result, report_dir = run_bench()
    result.assert_outcomes(passed=1)
    saved = json.loads((report_dir / "benchmark.json").read_text())
    assert "numpy" in saved["scratchnet"]  # the run's info beside pytest-benchmark's
    (row,) = saved["benchmarks"]
    assert len(row["stats"]["data"]) == 2  # every round's time, for the paired ratios
    assert builds(report_dir) == [str(report_dir / "benchmark.json")]
    result.stdout.fnmatch_lines(["*report written to*performance.md*"])


def test_a_users_json_and_saved_runs_get_the_run_info_and_the_report_is_built_once(run_bench, tmp_path: Path):
    own_json, storage = tmp_path / "own.json", tmp_path / "storage"
    result, report_dir = run_bench(
        "--benchmark-json", str(own_json), "--benchmark-autosave", "--benchmark-storage", str(storage)
    )
    result.assert_outcomes(passed=1)
    assert "scratchnet" in json.loads(own_json.read_text())  # python -m reports.build own.json works
    (autosaved,) = storage.rglob("*.json")
    assert "scratchnet" in json.loads(autosaved.read_text())
    assert builds(report_dir) == [str(report_dir / "benchmark.json")]  # the hook ran twice, the build once


def test_a_report_that_fails_to_build_fails_the_run_with_its_traceback(run_bench, monkeypatch):
    monkeypatch.setenv("STUB_REPORT_FAILS", "1")
    result, report_dir = run_bench()
    result.assert_outcomes(passed=1)  # the benchmark passed; the run did not
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*report NOT built*", "*RuntimeError: the stub report failed*"])
    assert (report_dir / "benchmark.json").exists()  # the data is kept, to rebuild once fixed
