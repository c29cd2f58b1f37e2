"""Wisdom (``kernels.wisdom``): what a tune stored is used only on the machine, Numba and dtype it was
measured with, and ``SCRATCHNET_TUNE=off`` ignores it."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("numba", reason="the wisdom is the numba backend's")
from kernels import wisdom  # noqa: E402
from kernels.blocking import ANALYTIC, TUNABLE_FIELDS  # noqa: E402

FLOAT32 = np.dtype(np.float32)
MEASURED = {name: 1000 + i for i, name in enumerate(TUNABLE_FIELDS)}


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """Wisdom for float32 stored in a fresh file, with wisdom switched on (the suite runs with it off)."""
    monkeypatch.delenv(wisdom.TUNE_ENV, raising=False)
    path = tmp_path / "wisdom.json"
    wisdom.store(FLOAT32, MEASURED, path)
    return path


def analytic() -> object:
    return ANALYTIC[FLOAT32.itemsize]


def test_this_machines_wisdom_replaces_the_analytic_thresholds(stored):
    tuned = wisdom.applied(analytic(), TUNABLE_FIELDS, stored)
    assert {name: getattr(tuned, name) for name in TUNABLE_FIELDS} == MEASURED
    assert tuned.source.startswith("tuned on this machine")
    assert (tuned.mr, tuned.nr, tuned.kc) == (analytic().mr, analytic().nr, analytic().kc)  # not tuned


@pytest.mark.parametrize("field", ["cpu", "target", "features", "numba", "llvmlite", "kernels"])
def test_wisdom_of_another_cpu_or_compiler_is_not_used(stored, field):
    content = json.loads(stored.read_text())
    content["entries"][0]["key"][field] += " (another)"
    stored.write_text(json.dumps(content))
    assert wisdom.lookup(FLOAT32, stored) is None
    assert wisdom.applied(analytic(), TUNABLE_FIELDS, stored) == analytic()


def test_wisdom_is_per_dtype(stored):
    assert wisdom.lookup(np.dtype(np.float64), stored) is None


def test_scratchnet_tune_off_ignores_it(stored, monkeypatch):
    monkeypatch.setenv(wisdom.TUNE_ENV, "off")
    assert wisdom.applied(analytic(), TUNABLE_FIELDS, stored) == analytic()


@pytest.mark.parametrize("content", ["{not json", '{"entries": 3}', "[]"])
def test_a_file_that_is_not_wisdom_is_none(stored, content):
    stored.write_text(content)
    assert wisdom.read(stored) == [] and wisdom.applied(analytic(), TUNABLE_FIELDS, stored) == analytic()


def test_an_entry_missing_a_threshold_or_negative_is_not_used(stored):
    content = json.loads(stored.read_text())
    content["entries"][0]["thresholds"][TUNABLE_FIELDS[0]] = -1
    stored.write_text(json.dumps(content))
    assert wisdom.applied(analytic(), TUNABLE_FIELDS, stored) == analytic()


def test_a_tune_replaces_only_its_own_entry(stored):
    content = json.loads(stored.read_text())
    content["entries"].append({**content["entries"][0], "key": {"cpu": "another"}})
    stored.write_text(json.dumps(content))
    wisdom.store(FLOAT32, {**MEASURED, TUNABLE_FIELDS[0]: 7}, stored)
    entries = wisdom.read(stored)
    assert len(entries) == 2 and {"cpu": "another"} in [entry["key"] for entry in entries]
    assert wisdom.lookup(FLOAT32, stored)["thresholds"][TUNABLE_FIELDS[0]] == 7
