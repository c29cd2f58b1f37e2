"""``reports.first_run``: what it reads from pytest and what it writes into the README (the runs themselves
take minutes and the package registry, so they are not run here)."""

from __future__ import annotations

import pytest

from reports import first_run
from reports.first_run import Step


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            "....\nSKIPPED [2] tests/x.py:1: why\n1186 passed, 7 skipped, 323 deselected in 54.54s\n",
            "1186 passed, 7 skipped",
        ),
        ("created: 2/2 workers\n3 failed, 10 passed, 1 error in 2.00s", "3 failed, 10 passed, 1 error"),
        ("nothing that counts", ""),
    ],
)
def test_the_outcome_is_pytests_closing_line(output, expected):
    assert first_run.outcome(output) == expected


def test_the_section_says_each_measured_step():
    steps = {
        "install": Step(31.4, ""),
        "first pytest": Step(55.6, "1186 passed, 7 skipped"),
        "second pytest": Step(18.2, "1186 passed, 7 skipped"),
        "slow tier": Step(60.7, "323 passed"),
    }
    text = first_run.section(steps, "abc1234")
    assert "commit abc1234" in text and "install took 31 s" in text
    assert "first `pytest` 56 s (1186 passed, 7 skipped" in text and "the next 18 s" in text
    assert "took 61 s (323 passed)" in text
