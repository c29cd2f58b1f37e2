"""Each block of the headline ratios in a Python process of its own, as pyperf runs its benchmarks in
worker processes.

A process carries effects that last as long as it does: the same epoch's fastest round differs from one
fresh process to the next by more than it does between blocks of one process. Blocks that share a process
cannot see that, so their interval was too narrow for a second run, in another process, to fall in. With
each block in a process of its own, the spread between blocks includes the process's effect, and so does the
interval drawn from it.

How: the run collects the headline tests and sets them aside (``set_aside``); in their place one
``test_block_in_own_process`` per block, spread over the run like the blocks were, starts ``python -m
pytest`` on that block's tests (``block_tests``, ``run_block``) and keeps the benchmarks it wrote, which
``pytest_benchmark_update_json`` adds to the run's own (``merge``). A spare block runs only the ratios
with fewer than ``FEWEST_BLOCKS`` blocks at full speed so far (``ratios_short_of``), or where there are
none, those with fewer than ``settings.headline_blocks``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bench.settings import SETTINGS_KEY
from bench.spread import BLOCK, block_of, without_block
from reports.analysis import at_full_speed, block_fastest

BLOCK_ENV = "SCRATCHNET_HEADLINE_BLOCK"  # set (to the block's index) in a block's own process
RUNNER = "test_block_in_own_process"  # the test that runs a block's process, in bench/test_headline.py
HEADLINE_MODULE = "bench.test_headline"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# A ratio on fewer full-speed blocks than this has an interval too wide to use (Student's t at 95% is 12.7
# with one degree of freedom, 4.3 with two): the spares serve such ratios first, then those short of
# ``settings.headline_blocks``.
FEWEST_BLOCKS = 3
OUTPUT_TAIL_LINES = 40  # of a failed block process's output, shown in the failure

# block -> its headline tests: (node id, ratio key)
SET_ASIDE_KEY = pytest.StashKey[dict[int, list[tuple[str, str]]]]()
RESULTS_KEY = pytest.StashKey[list[dict]]()  # the benchmarks the blocks' processes wrote, in run order


def in_block_process() -> bool:
    return BLOCK_ENV in os.environ


def _block(item: pytest.Item) -> int | None:
    """The headline block of ``item``, None for any other test."""
    return block_of(item, HEADLINE_MODULE)


def ratio_key(benchmark: dict) -> str:
    """The headline ratio of a benchmark in pytest-benchmark's JSON, the same for each of its blocks: its
    test's name without the block's id (``bench.spread.without_block``). Not its parameters: a
    parameter's value can be an object that the JSON holds as its repr, addresses included, which
    differs from process to process."""
    return without_block(benchmark["name"], benchmark["params"][BLOCK])


def _is_runner(item: pytest.Item) -> bool:
    return getattr(item, "originalname", item.name) == RUNNER


def lend_keywords(items: list[pytest.Item]) -> None:
    """Give each block's runner the names of its block's tests to match ``-k`` by, so that ``-k floor``
    keeps the runners of the blocks whose tests it keeps. Before pytest deselects by keyword."""
    names: dict[int, set[str]] = {}
    for item in items:
        if (block := _block(item)) is not None and not _is_runner(item):
            names.setdefault(block, set()).update((item.name, item.originalname))
    for item in items:
        if _is_runner(item):
            item.extra_keyword_matches.update(names.get(_block(item), ()))


def set_aside(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the run: take the headline tests out of ``items``, keeping them by block for the blocks'
    processes; a test whose block's runner was not selected (a test chosen by its node id) stays, and
    runs in this process. In a block's process: take the runners out (a block does not start blocks).
    After pytest's selection (``-k``, ``-m``, node ids)."""
    keep, removed = [], []
    by_block: dict[int, list[tuple[str, str]]] = {}
    runners = {_block(item) for item in items if _is_runner(item)}
    for item in items:
        block = _block(item)
        runner = _is_runner(item)
        if block is None:
            keep.append(item)
        elif in_block_process():
            (removed if runner else keep).append(item)
        elif runner or block not in runners:
            keep.append(item)
        else:
            removed.append(item)
            by_block.setdefault(block, []).append((item.nodeid, without_block(item.name, block)))
    if removed:
        config.hook.pytest_deselected(items=removed)
        items[:] = keep
    config.stash[SET_ASIDE_KEY] = by_block
    config.stash[RESULTS_KEY] = []


def ratios_short_of(benchmarks: list[dict], blocks: int) -> set[str]:
    """The ratios (``ratio_key``) among ``benchmarks`` with fewer than ``blocks`` blocks at full speed
    (``reports.analysis.at_full_speed``, on each block's ``block_fastest``)."""
    fastest: dict[str, list[tuple[float, float]]] = {}
    for benchmark in benchmarks:
        extra = benchmark["extra_info"]
        if extra.get("b_seconds"):
            sides = block_fastest(benchmark["stats"]["data"], extra["b_seconds"], extra["scale"])
            fastest.setdefault(ratio_key(benchmark), []).append(sides)
    return {
        key
        for key, sides in fastest.items()
        if sum(at_full_speed([a for a, _ in sides], [b for _, b in sides])) < blocks
    }


def block_tests(config: pytest.Config, block: int) -> list[str]:
    """The node ids of headline block ``block``'s tests: every ratio's, or for a spare block those of the
    ratios still short of full-speed blocks, only those on fewer than ``FEWEST_BLOCKS`` while there are
    any (none: no spare needed)."""
    settings = config.stash[SETTINGS_KEY]
    tests = config.stash[SET_ASIDE_KEY].get(block, [])
    if block >= settings.headline_blocks:
        measured = config.stash[RESULTS_KEY]
        fewest = min(FEWEST_BLOCKS, settings.headline_blocks)
        short = ratios_short_of(measured, fewest) or ratios_short_of(measured, settings.headline_blocks)
        tests = [(nodeid, ratio) for nodeid, ratio in tests if ratio in short]
    return [nodeid for nodeid, _ in tests]


def run_block(config: pytest.Config, block: int, nodeids: list[str]) -> None:
    """Run the tests ``nodeids`` of headline block ``block`` in a process of its own and keep the
    benchmarks it wrote."""
    command = [sys.executable, "-m", "pytest", *nodeids, "--benchmark-only", "-q", "-p", "no:cacheprovider"]
    command += ["--quick"] if config.stash[SETTINGS_KEY].quick else []
    with tempfile.TemporaryDirectory(prefix="scratchnet-block-") as folder:
        json_path = Path(folder) / "block.json"
        done = subprocess.run(
            [*command, f"--benchmark-json={json_path}"],
            cwd=PROJECT_ROOT,
            env={**os.environ, BLOCK_ENV: str(block)},
            capture_output=True,
            text=True,
        )
        if json_path.exists():
            config.stash[RESULTS_KEY] += json.loads(json_path.read_text())["benchmarks"]
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-OUTPUT_TAIL_LINES:])
        raise RuntimeError(f"headline block {block}'s process exited with {done.returncode}:\n{tail}")


def merge(config: pytest.Config, output_json: dict) -> None:
    """Put the benchmarks of the blocks' processes in the run's JSON in place of their runners' own
    (a runner's time is only its process's wall time)."""
    if RESULTS_KEY not in config.stash:
        return
    own = [b for b in output_json["benchmarks"] if b["name"].split("[")[0] != RUNNER]
    output_json["benchmarks"] = own + config.stash[RESULTS_KEY]
