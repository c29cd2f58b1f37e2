"""The study's results kept per machine (``reports.machines``): a stable id, a run replacing only its own
machine's entry, and the machines side by side with each bound counted over them."""

from __future__ import annotations

import json

from test_reports import synthetic_run

from reports import machines
from reports.results import load_results

ZEN4 = {"vendor_id_raw": "AuthenticAMD", "family": 25, "model": 17, "stepping": 1, "count": 2}
ZEN3 = {**ZEN4, "model": 1, "stepping": 0}


def run_on(tmp_path, cpu: dict, flags: list[str], name: str, *, numba_epoch: float = 1.0):
    run = synthetic_run(numba_epoch=numba_epoch)
    run["machine_info"]["cpu"] = {"brand_raw": "AMD EPYC", "flags": flags, "hz_actual": [2.6e9, 0], **cpu}
    path = tmp_path / name
    path.write_text(json.dumps(run))
    return load_results(path)


def test_the_id_reads_as_the_cpu_and_ignores_its_clock(tmp_path):
    zen4 = run_on(tmp_path, ZEN4, ["avx2", "avx512f"], "a.json")
    assert machines.machine_id(zen4) == "authenticamd-f25-m17-s1-2cores-avx-512"
    faster_clock = run_on(tmp_path, {**ZEN4, "hz_actual": [3.1e9, 0]}, ["avx2", "avx512f"], "b.json")
    assert machines.machine_id(faster_clock) == machines.machine_id(zen4)
    assert machines.machine_id(run_on(tmp_path, ZEN3, ["avx2"], "c.json")).endswith("-avx2")


def test_a_run_compiled_for_a_narrower_isa_is_kept_apart_and_says_so(tmp_path):
    """NUMBA_CPU_NAME=haswell on an AVX-512 CPU: the report names AVX2, not the CPU's AVX-512, and the run
    has an id of its own, so that it never replaces the CPU's own entry."""
    native = run_on(tmp_path, ZEN4, ["avx2", "avx512f"], "native.json")
    native.run["compiled_for"] = {"cpu": "znver4", "isa": "avx512-halves"}
    narrower = run_on(tmp_path, ZEN4, ["avx2", "avx512f"], "haswell.json")
    narrower.run["compiled_for"] = {"cpu": "haswell", "isa": "avx2"}
    narrower.run["env"] = {"OPENBLAS_CORETYPE": "Haswell"}
    assert machines.machine_id(native) == "authenticamd-f25-m17-s1-2cores-avx-512"
    assert machines.machine_id(narrower) == "authenticamd-f25-m17-s1-2cores-avx-512-as-avx2"
    assert machines.isa(native).startswith("AVX-512 (")
    assert machines.isa(narrower) == (
        "AVX2 (numba compiled for haswell, OpenBLAS as Haswell, on an AVX-512 CPU; "
        "the other libraries at AVX-512)"
    )


def test_a_run_replaces_only_its_own_machine(tmp_path):
    root = tmp_path / "machines"
    zen4 = run_on(tmp_path, ZEN4, ["avx512f"], "zen4.json")
    zen3 = run_on(tmp_path, ZEN3, ["avx2"], "zen3.json", numba_epoch=2.0)
    machines.store(zen4, root)
    machines.store(zen3, root)
    again = run_on(tmp_path, ZEN4, ["avx512f"], "zen4-again.json", numba_epoch=3.0)
    machines.store(again, root)
    stored = {s["machine"]: s for s in machines.stored(root)}
    assert set(stored) == {machines.machine_id(zen4), machines.machine_id(zen3)}
    assert stored[machines.machine_id(zen4)] == json.loads(json.dumps(machines.summary(again)))
    assert stored[machines.machine_id(zen3)] == json.loads(json.dumps(machines.summary(zen3)))


def test_each_bound_is_counted_over_the_machines(tmp_path):
    """A bound met on one machine and not on the other: 1 of 2; every machine a column."""
    first = machines.summary(run_on(tmp_path, ZEN4, ["avx512f"], "first.json"))
    second = machines.summary(run_on(tmp_path, ZEN3, ["avx2"], "second.json"))
    row = next(r for r in second["headline"] if r["verdict"] == "met")
    row["verdict"] = "not met"
    table = machines.markdown([first, second]).splitlines()
    line = next(line for line in table if line.startswith(f"| {row['quantity']} "))
    assert line.endswith("| 1 of 2 |") and "not met" in line
    assert first["machine"] in table[0] and second["machine"] in table[0]


def test_each_conclusion_is_counted_over_the_machines(tmp_path):
    """The synthetic run's numba trails numpy at batch 128: "no" on the first machine; the second's
    summary says yes (as a run where it led would); a machine stored before conclusions: not measured."""
    first = machines.summary(run_on(tmp_path, ZEN4, ["avx512f"], "first.json"))
    conclusion, steps = first["conclusions"]
    assert first["conclusions"][steps] is True  # the synthetic numba's step grows with the batch
    assert conclusion.startswith("numba ahead of numpy at every batch size (1 to 128)")
    assert first["conclusions"][conclusion] is False
    second = machines.summary(run_on(tmp_path, ZEN3, ["avx2"], "second.json"))
    second["conclusions"][conclusion] = True
    older = {k: v for k, v in second.items() if k != "conclusions"} | {"machine": "older"}
    table = machines.markdown([first, second, older]).splitlines()
    line = next(line for line in table if line.startswith(f"| {conclusion} "))
    assert line == f"| {conclusion} | no | yes | not measured | 1 of 3 |"
