"""Measurements in blocks spread over the run, so that no stretch of the machine's state holds all of one.

A shared machine has slow stretches that last seconds to minutes. A measurement whose rounds all fall in
one of them is slowed as a whole, and its fastest round cannot tell. So a measurement's rounds run in
blocks, block k a fraction k / blocks of the way through the run (``spread_blocks``): the headline ratios
(``bench/test_headline.py``, whose blocks also run in processes of their own, ``bench.blocks``) and each
point of the batch sweep (``bench/test_sweeps.py``). A sweep point's blocks are parts of one measurement:
the run's JSON holds them as one benchmark with every block's rounds (``join_blocks``), which the report
reads as it reads any other point.
"""

from __future__ import annotations

import pytest
from pytest_benchmark.stats import Stats

BLOCK = "block"  # the parameter that numbers a test's blocks


def block_of(item: pytest.Item, module: str) -> int | None:
    """The block of ``item`` if it is a test of ``module`` run in blocks, else None."""
    if item.module.__name__ != module:
        return None
    return getattr(getattr(item, "callspec", None), "params", {}).get(BLOCK)


def spread_blocks(items: list[pytest.Item], module: str, blocks: int) -> None:
    """Reorder ``items`` in place: block k < ``blocks`` of ``module``'s tests goes k/blocks of the way
    through the other tests (block 0 first), each block in its collected order; the spare blocks (k >=
    ``blocks``) go last, one spare of every ratio before the next. For ``pytest_collection_modifyitems``."""
    placed: dict[int, list[pytest.Item]] = {}
    others = []
    for item in items:
        block = block_of(item, module)
        if block is None:
            others.append(item)
        else:
            placed.setdefault(block, []).append(item)
    spares = [item for k in sorted(placed) if k >= blocks for item in placed.pop(k)]
    for k in sorted(placed, reverse=True):  # from the last, so that the earlier cut points stay put
        cut = round(k * len(others) / len(placed))
        others[cut:cut] = placed[k]
    items[:] = others + spares


def without_block(name: str, block: int) -> str:
    """A test's name or node id without its block's part of the id (``test_x[block1-8]`` ->
    ``test_x[8]``)."""
    head, _, ids = name.partition("[")
    kept = [part for part in ids.removesuffix("]").split("-") if part != f"{BLOCK}{block}"]
    return f"{head}[{'-'.join(kept)}]" if kept else head


def join_blocks(output_json: dict, test: str) -> None:
    """Join the blocks of each of ``test``'s measurements in pytest-benchmark's JSON into one benchmark: its
    rounds are every block's, in block order, and its statistics theirs; the rest is its first block's, the
    block parameter left out, and ``extra_info["blocks"]`` says how many were joined."""
    joined: dict[str, dict[int, dict]] = {}
    rest = []
    for benchmark in output_json["benchmarks"]:
        params = benchmark.get("params") or {}
        if benchmark["name"].split("[")[0] != test or BLOCK not in params:
            rest.append(benchmark)
            continue
        block = params[BLOCK]
        name = without_block(benchmark["name"], block)
        joined.setdefault(name, {})[block] = benchmark
    for name, blocks in joined.items():
        stats = Stats()
        for block in sorted(blocks):
            for seconds in blocks[block]["stats"]["data"]:
                stats.update(seconds)
        block = min(blocks)
        first = blocks[block]
        rest.append(
            first
            | {
                "name": name,
                "fullname": without_block(first["fullname"], block),
                "params": {k: v for k, v in first["params"].items() if k != BLOCK},
                "param": without_block(f"[{first['param']}]", block).strip("[]"),
                "extra_info": first["extra_info"] | {"blocks": len(blocks)},
                "stats": first["stats"] | stats.as_dict() | {"data": stats.data},
            }
        )
    output_json["benchmarks"] = rest
