"""Where the headline ratios' blocks and spare blocks run: ``bench.spread.spread_blocks`` places them in
the run, ``bench.blocks`` runs each in a process of its own."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import bench.test_headline as headline
from bench import blocks
from bench.settings import SETTINGS_KEY
from bench.spread import spread_blocks
from reports.analysis import SLOWED


def _item(name: str, block: int | None = None) -> SimpleNamespace:
    module = SimpleNamespace(__name__=headline.__name__ if block is not None else "bench.test_epoch")
    params = {} if block is None else {"block": block}
    return SimpleNamespace(name=name, module=module, callspec=SimpleNamespace(params=params))


def test_blocks_spread_over_the_run_and_spares_come_last():
    items = [_item(f"{q}{k}", k) for k in range(4) for q in ("x", "y")]  # blocks 0, 1 and spares 2, 3
    items += [_item(f"other{i}") for i in range(6)]
    spread_blocks(items, headline.__name__, blocks=2)
    assert [i.name for i in items] == [
        "x0", "y0", "other0", "other1", "other2",
        "x1", "y1", "other3", "other4", "other5",
        "x2", "y2", "x3", "y3",  # one spare of every ratio before the next
    ]  # fmt: skip


def _collected(name: str, block: int | None = None, **params) -> SimpleNamespace:
    """A collected test as ``bench.blocks.set_aside`` sees it (its id: the block's, then the parameters')."""
    ids = "".join(f"-{value}" for value in params.values())
    item = _item(f"{name}[block{block}{ids}]" if block is not None else name, block)
    item.callspec.params.update(params)
    item.originalname = name
    item.nodeid = f"bench/test_headline.py::{item.name}"
    item.extra_keyword_matches = set()
    return item


def _config() -> SimpleNamespace:
    deselected = []
    hook = SimpleNamespace(pytest_deselected=lambda items: deselected.extend(items))
    return SimpleNamespace(stash=pytest.Stash(), hook=hook, deselected=deselected)


def _items() -> list[SimpleNamespace]:
    return [
        _collected("test_ratio", 0, batch=8),
        _collected("test_ratio", 1, batch=8),
        _collected(blocks.RUNNER, 0),
        _collected(blocks.RUNNER, 1),
        _collected("test_other"),
    ]


def test_the_run_sets_the_headline_tests_aside_for_their_blocks_processes(monkeypatch):
    monkeypatch.delenv(blocks.BLOCK_ENV, raising=False)
    config, items = _config(), _items()
    blocks.set_aside(config, items)
    assert [i.name for i in items] == [f"{blocks.RUNNER}[block0]", f"{blocks.RUNNER}[block1]", "test_other"]
    assert config.stash[blocks.SET_ASIDE_KEY] == {
        k: [(f"bench/test_headline.py::test_ratio[block{k}-8]", "test_ratio[8]")] for k in (0, 1)
    }
    assert [i.name for i in config.deselected] == ["test_ratio[block0-8]", "test_ratio[block1-8]"]


def test_a_test_chosen_without_its_runner_runs_in_the_run(monkeypatch):
    monkeypatch.delenv(blocks.BLOCK_ENV, raising=False)
    config, items = _config(), [_collected("test_ratio", 0, batch=8), _collected("test_other")]
    blocks.set_aside(config, items)
    assert [i.name for i in items] == ["test_ratio[block0-8]", "test_other"]
    assert config.stash[blocks.SET_ASIDE_KEY] == {}


def test_a_runner_answers_to_the_names_of_its_blocks_tests():
    """So that ``-k test_ratio`` keeps the runners of the blocks it keeps tests of, and only those."""
    items = [*_items(), _collected("test_ratio", 2, batch=16)]
    blocks.lend_keywords(items)
    runners = {i.name: i.extra_keyword_matches for i in items if i.originalname == blocks.RUNNER}
    assert runners == {
        f"{blocks.RUNNER}[block0]": {"test_ratio[block0-8]", "test_ratio"},
        f"{blocks.RUNNER}[block1]": {"test_ratio[block1-8]", "test_ratio"},
    }


def test_a_blocks_process_runs_its_tests_and_starts_no_block(monkeypatch):
    monkeypatch.setenv(blocks.BLOCK_ENV, "1")
    config, items = _config(), _items()
    blocks.set_aside(config, items)
    assert [i.name for i in items] == ["test_ratio[block0-8]", "test_ratio[block1-8]", "test_other"]


def _benchmark(name: str, block: int, a_fastest: float, b_fastest: float, **params) -> dict:
    """A headline block's benchmark as its process's JSON holds it (side b's rounds at scale 2)."""
    return {
        "name": f"{name}[block{block}-{'-'.join(map(str, params.values()))}]",
        "params": {"block": block, **params},
        "stats": {"data": [a_fastest * 1.05, a_fastest]},
        "extra_info": {"block": block, "scale": 2.0, "b_seconds": [2 * b_fastest, 2.1 * b_fastest]},
    }


def test_a_spare_runs_the_ratios_short_of_full_speed_blocks():
    full_speed = [_benchmark("test_x", k, 1.0, 1.0, batch=8) for k in range(3)]
    slowed = [_benchmark("test_x", k, 1.0, 1.0, batch=16) for k in range(2)]
    slowed.append(_benchmark("test_x", 2, 1.0, 1.0 + 2 * SLOWED, batch=16))  # b's side slowed
    assert blocks.ratios_short_of(full_speed + slowed, 3) == {"test_x[16]"}
    assert blocks.ratios_short_of(full_speed + slowed, 2) == set()


def test_a_ratio_is_its_name_without_the_block_whatever_its_parameters_json_holds():
    """A parameter's value that JSON cannot hold is its repr, which can differ from process to process."""
    one, other = (_benchmark("test_x", k, 1.0, 1.0, kernel=f"<object at {k:#x}>") for k in (1, 2))
    one["name"] = other["name"].replace("block2", "block1")  # the same id: pytest's ids, not the reprs
    assert blocks.ratio_key(one) == blocks.ratio_key(other)


def test_the_spares_serve_the_ratios_on_fewest_full_speed_blocks_first(monkeypatch):
    config = _config()
    config.stash[SETTINGS_KEY] = SimpleNamespace(headline_blocks=5)
    nodeids = {batch: f"bench/test_headline.py::test_x[block5-{batch}]" for batch in (8, 16)}
    config.stash[blocks.SET_ASIDE_KEY] = {5: [(nodeids[batch], f"test_x[{batch}]") for batch in (8, 16)]}
    four = [_benchmark("test_x", k, 1.0, 1.0, batch=8) for k in range(4)]
    two = [_benchmark("test_x", k, 1.0, 1.0, batch=16) for k in range(2)]
    config.stash[blocks.RESULTS_KEY] = four + two
    assert blocks.block_tests(config, 5) == [nodeids[16]]  # on 2 full-speed blocks: first
    config.stash[blocks.RESULTS_KEY] = four + two + [_benchmark("test_x", 2, 1.0, 1.0, batch=16)]
    assert blocks.block_tests(config, 5) == [nodeids[8], nodeids[16]]  # both short of 5


def test_the_runs_json_holds_the_blocks_benchmarks_in_place_of_their_runners():
    config = _config()
    config.stash[blocks.RESULTS_KEY] = [_benchmark("test_x", 0, 1.0, 1.0, batch=8)]
    output = {"benchmarks": [{"name": f"{blocks.RUNNER}[block0]"}, {"name": "test_epoch[numba]"}]}
    blocks.merge(config, output)
    assert [b["name"] for b in output["benchmarks"]] == ["test_epoch[numba]", "test_x[block0-8]"]
