"""How long a newcomer waits: ``python -m reports.first_run``.

It does what the README's "Set up and test" says, in a fresh clone of this checkout's commit in a
temporary folder: makes a virtual environment and installs the project with pip's cache off (as on a
machine that never installed it), runs ``pytest`` with Numba's cache empty, then again with it full,
then the slow tier (``pytest -m slow``) that CI runs besides. The times go into the README's
``first-run`` section, so that none there is typed by hand. ``SCRATCHNET_DATA`` is unset for the runs,
as a newcomer has no real data yet. It takes a few minutes and needs the package registry.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kernels.cpu import cpu_model, target_isa
from kernels.threads import available_cores
from reports.readme import README, update_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "first-run"
# pytest's closing line: "1186 passed, 7 skipped in 54.54s" (counts in any order, a few kinds)
OUTCOME = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected)")


@dataclass(frozen=True)
class Step:
    """One timed command of the first run: its wall-clock seconds and what pytest said it ran."""

    seconds: float
    outcome: str  # "1186 passed, 7 skipped", or "" for a command that is not pytest


def outcome(output: str) -> str:
    """The counts of pytest's closing line (the last line that has any), e.g. "1186 passed, 7 skipped"."""
    for line in reversed(output.splitlines()):
        counts = [f"{n} {kind}" for n, kind in OUTCOME.findall(line) if kind != "deselected"]
        if counts:
            return ", ".join(counts)
    return ""


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> Step:
    """Run ``command``; a failure is an error that shows its output's end."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise RuntimeError(f"{' '.join(command)} failed (exit status {done.returncode}):\n{tail}")
    return Step(seconds, outcome(done.stdout))


def first_run(folder: Path) -> dict[str, Step]:
    """The README's setup in a fresh clone under ``folder``: install, two ``pytest`` runs, the slow tier."""
    clone = folder / "scratchnet"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {name: value for name, value in os.environ.items() if name != "SCRATCHNET_DATA"}
    env["PIP_NO_CACHE_DIR"] = "1"
    python = clone / ".venv" / "bin" / "python"
    steps = {}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(clone / ".venv")], check=True)
    install = timed([str(python), "-m", "pip", "install", "--quiet", "-e", ".[dev]"], clone, env)
    steps["install"] = Step(time.perf_counter() - start, install.outcome)
    pytest = [str(python), "-m", "pytest", "-q"]
    steps["first pytest"] = timed(pytest, clone, env)
    steps["second pytest"] = timed(pytest, clone, env)
    steps["slow tier"] = timed([*pytest, "-m", "slow"], clone, env)
    return steps


def section(steps: dict[str, Step], commit: str) -> str:
    """The README's sentences, from the measured steps."""
    first, second, slow = steps["first pytest"], steps["second pytest"], steps["slow tier"]
    return (
        f"Measured by `python -m reports.first_run` on {datetime.now(timezone.utc):%Y-%m-%d} (commit "
        f"{commit}; {cpu_model()}, {target_isa().value}, {available_cores()} cores, Python "
        f"{sys.version.split()[0]}), in a fresh clone: the install took {steps['install'].seconds:.0f} s "
        f"with pip's cache off, the first `pytest` {first.seconds:.0f} s ({first.outcome}; Numba compiles "
        f"the kernels, and caches them in `kernels/__pycache__/`), the next {second.seconds:.0f} s. "
        f"`pytest -m slow`, the slow tier that CI runs besides (end-to-end runs in subprocesses, and the "
        f"numba backend in float64), took {slow.seconds:.0f} s ({slow.outcome})."
    )


def main(argv: list[str] | None = None) -> int:
    # a parser although there are no options, so that --help explains instead of measuring for minutes
    parser = argparse.ArgumentParser(prog="python -m reports.first_run", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.parse_args(argv)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        with tempfile.TemporaryDirectory() as folder:
            steps = first_run(Path(folder))
    except (RuntimeError, subprocess.CalledProcessError) as err:
        print(f"python -m reports.first_run: error: {err}", file=sys.stderr)
        return 1
    text = section(steps, commit)
    update_section(README, SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
