"""``bench.harness.bench_paired``: the order in which it runs the two sides, and what it records.

Run under the real pytest-benchmark, in a pytester subprocess, with fake sides that only append to a log:
nothing here times anything or asserts a speed.
"""

from __future__ import annotations

import json

import pytest

from bench.harness import AT_MOST, Side, bench_paired

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # each test runs a pytest session in a subprocess

ROUNDS = 3

PAIRED_BENCHMARK = f"""
import json

from bench.harness import Side, bench_paired

LOG = []


def side(name):
    return Side(
        name.upper(),
        lambda: LOG.append(name),
        {{"backend": name}},
        prepare=lambda: LOG.append("prepare " + name),
    )


def test_pair(benchmark):
    a, b = side("a"), side("b")
    bench_paired(benchmark, a, b, rounds={ROUNDS}, quantity="A / B", scale=2.0, bound=1.5, sense="{AT_MOST}")
    with open("log.json", "w") as f:
        json.dump(LOG, f)
"""


@pytest.fixture
def paired_run(pytester: pytest.Pytester) -> tuple[list[str], dict]:
    """The log of a paired benchmark of ``ROUNDS`` rounds, and its row of pytest-benchmark's JSON."""
    pytester.makepyfile(test_pair=PAIRED_BENCHMARK)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=1)
    log = json.loads((pytester.path / "log.json").read_text())
    (row,) = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    return log, row


def test_sides_alternate_b_first_from_the_warm_up_on(paired_run):
    log, _ = paired_run
    one_pair = ["prepare b", "b", "prepare a", "a"]  # b's round, then a's, each after its own settings
    assert log == one_pair * (1 + ROUNDS)  # the warm-up pair, then the timed ones


def test_each_timed_round_of_a_has_its_b_round(paired_run):
    _, row = paired_run
    assert len(row["stats"]["data"]) == ROUNDS
    assert len(row["extra_info"]["b_seconds"]) == ROUNDS  # the warm-up's b round is dropped
    assert all(isinstance(t, float) and t >= 0 for t in row["extra_info"]["b_seconds"])
    assert len(row["extra_info"]["sync_us"]) == ROUNDS  # the cores' state, measured beside every pair
    assert all(0 < t < 1e6 for t in row["extra_info"]["sync_us"])


def test_the_row_says_what_was_compared(paired_run):
    _, row = paired_run
    info = row["extra_info"]
    assert {k: info[k] for k in ("study", "quantity", "a", "b", "scale", "bound", "sense")} == {
        "study": "headline",
        "quantity": "A / B",
        "a": "A",
        "b": "B",
        "scale": 2.0,
        "bound": 1.5,
        "sense": AT_MOST,
    }
    assert info["a_info"] == {"backend": "a"}
    assert info["b_info"] == {"backend": "b"}


@pytest.mark.parametrize("target", [{"bound": 1.0}, {"sense": AT_MOST}, {"bound": 1.0, "sense": "below"}])
def test_a_bound_needs_its_sense(target):
    side = Side("x", lambda: None, {})
    with pytest.raises(ValueError, match="give both"):
        bench_paired(None, side, side, rounds=1, quantity="x / x", **target)
