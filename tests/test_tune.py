"""``kernels.tune.combine``: measured thresholds are taken one at a time, each kept only if the step check
finds the step no slower with it than without, so that two thresholds right apart but wrong together are
not both kept."""

import dataclasses

import numpy as np

from kernels.blocking import ANALYTIC, ROUTE_FIELDS
from kernels.tune import SLOWER_AT_MOST, combine

ANALYTIC32 = ANALYTIC[4]


def measured_from(**changes: int) -> dict[str, int]:
    values = {name: getattr(ANALYTIC32, name) for name in (*ROUTE_FIELDS, "gather_parallel_min_bytes")}
    return values | changes


def test_a_threshold_slow_with_those_kept_before_it_is_not_kept():
    measured = measured_from(
        rowvec_below_rows=ANALYTIC32.rowvec_below_rows + 7,
        split_min_flop=ANALYTIC32.split_min_flop * 8,
        gather_parallel_min_bytes=12_345,
    )
    checked = []

    def step_check(accepted, candidate):
        checked.append((accepted, candidate))
        # the split's new threshold is slow only together with the few-row one (kept first)
        slow = candidate.split_min_flop != ANALYTIC32.split_min_flop and (
            candidate.rowvec_below_rows != ANALYTIC32.rowvec_below_rows
        )
        return {1: 0.9, 2: 4.1 if slow else 0.95}

    kept = combine(ANALYTIC32, measured, step_check, lambda text: None)
    assert kept.rowvec_below_rows == measured["rowvec_below_rows"]
    assert kept.split_min_flop == ANALYTIC32.split_min_flop
    assert kept.gather_parallel_min_bytes == 12_345  # no product of the step: kept as measured
    # only the thresholds that differ are checked, each against all kept before it
    assert len(checked) == 2
    assert checked[1][0].rowvec_below_rows == measured["rowvec_below_rows"]


def test_a_threshold_within_the_margin_is_kept_and_one_beyond_it_is_not():
    changes = {name: getattr(ANALYTIC32, name) + 1 for name in ROUTE_FIELDS}
    worst = {ROUTE_FIELDS[0]: SLOWER_AT_MOST, ROUTE_FIELDS[1]: np.nextafter(SLOWER_AT_MOST, 2)}

    def step_check(accepted, candidate):
        name = next(n for n in ROUTE_FIELDS if getattr(candidate, n) != getattr(accepted, n))
        return {8: worst.get(name, 1.0), 16: 0.99}

    kept = combine(ANALYTIC32, measured_from(**changes), step_check, lambda text: None)
    not_kept = {ROUTE_FIELDS[1]: getattr(ANALYTIC32, ROUTE_FIELDS[1])}
    assert kept == dataclasses.replace(ANALYTIC32, **(changes | not_kept))
