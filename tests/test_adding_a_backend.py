"""The README's promise for adding a backend, kept: register one, and nothing else changes.

``tests/toy_backend.py`` is a fourth backend kept outside ``kernels/``, and ``tests/toy_plugin.py``
registers it with ``kernels.register_backend`` when pytest loads it (``-p toy_plugin``). A fresh pytest
run with that plugin must check the toy backend op by op and gradient by gradient and list it among the
benchmarks, without a line of those tests or benchmarks edited; and the training command must offer it.
The runs are subprocesses because the parametrizations read the registry when their modules are imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

import kernels
from network.train import build_parser

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def run_pytest_with_toy(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest in a new process with the toy backend registered, run from ``cwd`` (a temporary folder)
    so that nothing, Hypothesis' database included, is written into the checkout."""
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-p", "toy_plugin", "-p", "no:cacheprovider", *args]
    done = subprocess.run(
        command, cwd=cwd, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_the_tests_check_it_op_by_op_and_gradient_by_gradient(tmp_path):
    report = tmp_path / "junit.xml"
    files = [TESTS / "test_kernels.py", TESTS / "test_network.py"]
    run_pytest_with_toy(tmp_path, "-q", "-k", "toy", f"--junitxml={report}", *map(str, files))
    cases = ET.parse(report).getroot().iter("testcase")
    outcomes = Counter(
        (case.get("classname"), "passed" if len(case) == 0 else case[0].tag)
        for case in cases
        if "toy" in case.get("name")
    )
    assert outcomes[("tests.test_kernels", "passed")] > 0
    assert outcomes[("tests.test_network", "passed")] > 0
    assert {outcome for _, outcome in outcomes} == {"passed"}, outcomes  # no failure, error or skip


@pytest.mark.slow
def test_the_benchmarks_list_it(tmp_path):
    listed = run_pytest_with_toy(tmp_path, "--collect-only", "-q", str(ROOT / "bench")).stdout.split()
    toy = {node.split("::")[0].removeprefix("bench/") for node in listed if "toy" in node}
    assert {"test_epoch.py", "test_kernels.py", "test_curve.py", "test_sweeps.py"} <= toy
    # the sweeps follow full_size both ways: the toy backend sets it, loops does not
    assert not [node for node in listed if node.startswith("bench/test_sweeps.py") and "loops" in node]


@pytest.fixture
def registry(monkeypatch) -> None:
    """A copy of the registry for one test, so that what it registers is gone after it."""
    monkeypatch.setattr(kernels, "_BACKEND_MODULES", dict(kernels._BACKEND_MODULES))


def test_the_command_line_offers_it(registry):
    kernels.register_backend("toy", "toy_backend")
    assert kernels.get_backend("toy").name == "toy"
    assert "toy" in kernels.full_size_backends()
    parser = build_parser()
    assert "{" + ",".join(kernels.available_backends()) + "}" in parser.format_help()
    assert parser.parse_args(["--backend", "toy"]).backend == "toy"


@pytest.mark.parametrize(
    ("name", "module_path", "message"),
    [
        ("numpy", "toy_backend", "backend 'numpy' is already registered"),
        ("", "toy_backend", "bad backend name ''"),
        ("My Backend", "toy_backend", "bad backend name 'My Backend'"),
        (None, "toy_backend", "bad backend name None"),
        ("toy", "tests/toy_backend.py", "bad module path 'tests/toy_backend.py'"),
    ],
)
def test_bad_registrations_are_refused(registry, name, module_path, message):
    before = kernels.available_backends()
    with pytest.raises(ValueError, match=message):
        kernels.register_backend(name, module_path)
    assert kernels.available_backends() == before
