"""The study with the vector width as its variable (``bench.widths``): which levels it measures, how each
level's process is held to its width, and what the report makes of the stored results. Nothing here
times anything: the levels' results are made up."""

from __future__ import annotations

import json

import pytest
from test_machines import ZEN4, run_on

import bench.widths as widths
from kernels.cpu import ISA_TARGETS, Isa
from reports import analysis, machines
from reports.build import build_report


def test_the_narrower_levels_come_first_and_the_host_last(monkeypatch):
    monkeypatch.setattr(widths, "target_isa", lambda: Isa.AVX512_HALVES)
    monkeypatch.setattr(widths, "host_features", lambda: ISA_TARGETS[Isa.AVX512].features)
    assert widths.levels() == [Isa.SSE, Isa.AVX2, None]
    monkeypatch.setattr(widths, "target_isa", lambda: Isa.AVX2)
    assert widths.levels() == [Isa.SSE, None]  # the host's own level once, never as a narrower one too
    monkeypatch.setattr(widths, "host_features", lambda: frozenset({"sse4.2"}))  # no popcnt: no SSE target
    assert widths.levels() == [None]


def test_a_level_holds_numba_and_openblas_to_one_width(monkeypatch):
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "524288")
    monkeypatch.setenv("NUMBA_CPU_NAME", "znver4")
    avx2 = widths._environment(Isa.AVX2)
    assert avx2["NUMBA_CPU_NAME"] == "haswell" and avx2["OPENBLAS_CORETYPE"] == "Haswell"
    assert set(avx2["NUMBA_CPU_FEATURES"].split(",")) == {f"+{f}" for f in ISA_TARGETS[Isa.AVX2].features}
    assert "avx512f" not in avx2["NUMBA_CPU_FEATURES"] and "OPENBLAS_L2_SIZE" not in avx2
    host = widths._environment(None)  # the host's level: both libraries choose for themselves
    assert not {"NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} & set(host)


def _level(isa: str, bits: int, per_sample: dict[str, list[float]]) -> dict:
    return {
        "isa": isa,
        "vector_bits": bits,
        "numba_cpu": "haswell",
        "openblas_core": "Haswell",
        "batch": 128,
        "dataset": "fashion-mnist",
        "fastest_seconds_per_sample": per_sample,
    }


def test_each_speed_up_is_over_the_blocks_at_full_speed():
    loops, numpy = [700.0] * 4, [1.0, 1.02, 0.99, 1.5]  # numpy's last block slowed by half
    row = analysis.vector_widths([_level("avx2", 256, {"loops": loops, "numpy": numpy, "numba": [0.5] * 4})])
    assert row.at[0, "numpy over loops"] == pytest.approx(700 / (1.0 * 1.02 * 0.99) ** (1 / 3))
    assert row.at[0, "numpy over loops slowed"] == 1 and row.at[0, "numba over numpy slowed"] == 1
    assert row.at[0, "numba over numpy"] == pytest.approx((1.0 * 1.02 * 0.99) ** (1 / 3) / 0.5)
    assert (
        row.at[0, "numpy over loops low"] < row.at[0, "numpy over loops"] < row.at[0, "numpy over loops high"]
    )


def test_the_report_shows_the_machines_width_study(tmp_path):
    results = run_on(tmp_path, ZEN4, ["avx2", "avx512f"], "benchmark.json")
    folder = tmp_path / machines.FOLDER / machines.machine_id(results)
    folder.mkdir(parents=True)
    per_sample = {"loops": [700.0] * 3, "numpy": [2.0, 2.02, 2.01], "numba": [1.0, 1.01, 0.99]}
    levels = [_level("sse4.2", 128, per_sample), _level("avx2", 256, per_sample)]
    (folder / machines.WIDTHS).write_text(json.dumps(levels))
    report = build_report(tmp_path / "benchmark.json").read_text()
    assert "## Vector width as a variable" in report and "| avx2 (256 bits) | haswell | Haswell |" in report
    assert (tmp_path / "vector_width.png").is_file()


def test_the_host_id_is_the_runs_id(tmp_path):
    cpu = {**ZEN4, "flags": ["avx2", "avx512f"]}
    assert machines.cpu_id(cpu) == machines.machine_id(run_on(tmp_path, ZEN4, cpu["flags"], "run.json"))
