"""A batch-sweep point's blocks, run apart, become one benchmark in the run's JSON (``bench.spread``)."""

from __future__ import annotations

import statistics

from bench import spread


def _block(block: int, rounds: list[float], batch: int = 8) -> dict:
    """One block of a sweep point as pytest-benchmark's JSON holds it (the block first among its ids)."""
    ids = f"block{block}-{batch}-numba"
    return {
        "name": f"test_batch_size[{ids}]",
        "fullname": f"bench/test_sweeps.py::test_batch_size[{ids}]",
        "params": {"block": block, "batch": batch, "backend": "numba"},
        "param": ids,
        "extra_info": {"study": "batch", "batch": batch},
        "stats": {"data": rounds, "min": min(rounds), "median": statistics.median(rounds), "iterations": 1},
    }


def test_a_points_blocks_become_one_benchmark_with_every_round_in_block_order():
    headline = {"name": "test_ratio[block0-8]", "params": {"block": 0, "batch": 8}, "stats": {"data": [1.0]}}
    output = {
        "benchmarks": [_block(0, [3.0]), headline, _block(1, [1.0]), _block(0, [5.0], 16), _block(2, [2.0])]
    }
    spread.join_blocks(output, "test_batch_size")
    by_name = {b["name"]: b for b in output["benchmarks"]}
    assert set(by_name) == {"test_ratio[block0-8]", "test_batch_size[8-numba]", "test_batch_size[16-numba]"}
    assert by_name["test_ratio[block0-8]"] is headline  # another test's blocks are left alone
    point = by_name["test_batch_size[8-numba]"]
    assert point["stats"]["data"] == [3.0, 1.0, 2.0]
    assert (point["stats"]["min"], point["stats"]["median"], point["stats"]["rounds"]) == (1.0, 2.0, 3)
    assert point["stats"]["iterations"] == 1
    assert point["params"] == {"batch": 8, "backend": "numba"}
    assert point["fullname"] == "bench/test_sweeps.py::test_batch_size[8-numba]"
    assert point["param"] == "8-numba"
    assert point["extra_info"] == {"study": "batch", "batch": 8, "blocks": 3}
    assert by_name["test_batch_size[16-numba]"]["extra_info"]["blocks"] == 1


def test_the_joined_rounds_come_in_block_order_whatever_the_jsons_order():
    output = {"benchmarks": [_block(2, [2.0]), _block(0, [3.0, 4.0]), _block(1, [1.0])]}
    spread.join_blocks(output, "test_batch_size")
    (point,) = output["benchmarks"]
    assert point["stats"]["data"] == [3.0, 4.0, 1.0, 2.0]
    assert point["stats"]["median"] == 2.5
