"""``bench.test_headline.spread_blocks``: where the headline ratios' blocks and spare blocks run."""

from __future__ import annotations

from types import SimpleNamespace

import bench.test_headline as headline
from bench.test_headline import spread_blocks


def _item(name: str, block: int | None = None) -> SimpleNamespace:
    module = SimpleNamespace(__name__=headline.__name__ if block is not None else "bench.test_epoch")
    params = {} if block is None else {"block": block}
    return SimpleNamespace(name=name, module=module, callspec=SimpleNamespace(params=params))


def test_blocks_spread_over_the_run_and_spares_come_last():
    items = [_item(f"{q}{k}", k) for k in range(4) for q in ("x", "y")]  # blocks 0, 1 and spares 2, 3
    items += [_item(f"other{i}") for i in range(6)]
    spread_blocks(items, blocks=2)
    assert [i.name for i in items] == [
        "x0", "y0", "other0", "other1", "other2",
        "x1", "y1", "other3", "other4", "other5",
        "x2", "y2", "x3", "y3",  # one spare of every ratio before the next
    ]  # fmt: skip
