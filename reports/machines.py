"""The study's results kept per machine, as asv keeps them: each full run stores its machine's summary in
``reports/machines/<machine id>/summary.json``, replacing only that machine's entry, and the report and the
README show every stored machine side by side, one column each, each verdict counted over the machines.

Why a summary of our own beside pytest-benchmark's storage (``--benchmark-autosave`` keeps whole runs,
keyed by its ``machine_info``): a whole run is megabytes of rounds, and the comparison wants the derived
quantities (the headline ratios with their intervals, the measured peak and bandwidth) that only
``reports.analysis`` computes. The summary is built from the same JSON, and its machine id from
pytest-benchmark's own ``machine_info`` (py-cpuinfo's vendor, family, model, stepping and core count, and
the widest vector ISA among its flags): stable across reboots, where a clock rate or bogomips is not.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from network.files import atomic_write
from reports import analysis
from reports.fmt import bound, interval, minutes, number, table
from reports.results import Results
from reports.roles import BLAS, COMPILED

FOLDER = "machines"  # beside the report: reports/machines/<machine id>/summary.json
MACHINES_DIR = Path(__file__).resolve().parent / FOLDER
SUMMARY = "summary.json"
WIDTHS = "widths.json"  # python -m bench.widths: the study at each vector width, beside the summary
HEADLINE_KEYS = ("quantity", "ratio", "low", "high", "bound", "sense", "verdict")
# the ISA levels the kernels know (kernels.cpu.Isa), widest first, by the flag that marks each
ISA_FLAGS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sse4_2", "SSE4.2"))
# kernels.cpu.Isa's values by those names (the FMA probe's width gain tells its two AVX-512 levels apart)
ISA_NAMES = {"avx512": "AVX-512", "avx512-halves": "AVX-512", "avx2": "AVX2", "sse4.2": "SSE4.2"}


def widest_isa(cpu: dict) -> str:
    """The widest of ``ISA_FLAGS`` among py-cpuinfo's flags of ``cpu``."""
    flags = set(cpu.get("flags", []))
    return next((name for flag, name in ISA_FLAGS if flag in flags), "unknown")


def compiled_isa(results: Results) -> str:
    """The vector ISA the run's kernels were compiled for: the widest of its CPU's (py-cpuinfo's flags),
    or a narrower one that Numba was told to compile for (``NUMBA_CPU_NAME``, run info "compiled_for")."""
    host = widest_isa(results.machine.get("cpu", {}))
    return ISA_NAMES.get((results.run.get("compiled_for") or {}).get("isa"), host)


def isa(results: Results) -> str:
    """The run's vector ISA (:func:`compiled_isa`). AVX-512 says whether its 512-bit FMAs ran at full width
    or in 256-bit halves (the FMA probe's width gain). A narrower ISA than the CPU's says so, and what ran
    at it: the compiled backend, and OpenBLAS where its core type was set; the other libraries (the XLA
    and PyTorch peers) ran at the CPU's own, so that a crossover to them is not the narrower ISA's."""
    name, host = compiled_isa(results), widest_isa(results.machine.get("cpu", {}))
    if name != host:
        blas = (results.run.get("env") or {}).get("OPENBLAS_CORETYPE")
        pinned = f", OpenBLAS as {blas}" if blas else ""
        target = results.run["compiled_for"]["cpu"]
        others = f"the other libraries at {host}"
        return f"{name} ({COMPILED} compiled for {target}{pinned}, on an {host} CPU; {others})"
    if name == "AVX-512":
        _, _, gain = analysis.width_gain(results)
        if not math.isnan(gain):
            name += " (full width)" if gain > analysis.SPLIT else " (in halves)"
    return name


def machine_id(results: Results) -> str:
    """A stable, readable id: vendor, family, model, stepping, cores and ISA, e.g.
    ``authenticamd-f25-m17-s1-2cores-avx-512``. A run compiled for a narrower ISA than its CPU's is kept
    apart (``...-avx-512-as-avx2``): it never replaces the CPU's own entry."""
    cpu = results.machine.get("cpu", {})
    compiled = compiled_isa(results)
    return cpu_id(cpu) + ("" if compiled == widest_isa(cpu) else "-as-" + _slug(compiled))


def cpu_id(cpu: dict) -> str:
    """``machine_id`` from py-cpuinfo's ``get_cpu_info()`` (pytest-benchmark's ``machine_info["cpu"]``)."""
    parts = [
        cpu.get("vendor_id_raw", "unknown"),
        f"f{cpu.get('family', '?')}",
        f"m{cpu.get('model', '?')}",
        f"s{cpu.get('stepping', '?')}",
        f"{cpu.get('count', '?')}cores",
        widest_isa(cpu),
    ]
    return _slug("-".join(str(part) for part in parts))


def _slug(text: str) -> str:
    """``text`` in lower-case letters and digits joined by single hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def host_machine_id() -> str:
    """This machine's id, as a full benchmark run here would store it."""
    import cpuinfo  # py-cpuinfo, which pytest-benchmark brings

    return cpu_id(cpuinfo.get_cpu_info())


def widths(root: Path, machine: str) -> list[dict]:
    """The machine's stored width study (``bench.widths``), or nothing."""
    path = root / machine / WIDTHS
    return json.loads(path.read_text()) if path.is_file() else []


def summary(results: Results) -> dict:
    """What a machine's column shows: the headline ratios with their intervals and verdicts, the measured
    peak and bandwidth, the CPU and ISA, the software, commit, date and run length."""
    cpu = results.machine.get("cpu", {})
    headline = analysis.headline(results)
    bandwidth = analysis.bandwidth(results)
    return {
        "machine": machine_id(results),
        "cpu": f"{cpu.get('brand_raw', 'unknown')} (family {cpu.get('family')}, model {cpu.get('model')}, "
        f"stepping {cpu.get('stepping')})",
        "isa": isa(results),
        "cores": results.run.get("available_cores"),
        "described": results.run.get("described") or {},
        "software": {k: results.run.get(k) for k in ("python", "numpy", "numba", "torch")},
        "commit": str(results.commit.get("id", "?"))[:10]
        + (" (dirty)" if results.commit.get("dirty") else ""),
        "date": results.datetime,
        "run_seconds": _plain(results.duration),
        "peak_gflops": analysis.peak_rate(results),
        "bandwidth_gb_s": {str(level): float(rates.max()) for level, rates in bandwidth.iterrows()},
        "headline": [{key: _plain(row[key]) for key in HEADLINE_KEYS} for _, row in headline.iterrows()],
        "conclusions": conclusions(results),
    }


def conclusions(results: Results) -> dict[str, bool]:
    """The run's yes-or-no conclusions, by what each says: whether the compiled backend leads the BLAS one
    at every batch size of the sweep with every optimizer, each point's rounds apart (``analysis.lead``),
    and whether its step never costs more at a smaller batch (``analysis.dearer_smaller_steps``)."""
    lead = analysis.lead(results)
    if lead.empty:
        return {}
    sizes = f"{lead.index.min():g} to {lead.index.max():g}"
    ahead, cheaper = not analysis.lead_gaps(lead), not analysis.dearer_smaller_steps(results)
    return {
        f"{COMPILED} ahead of {BLAS} at every batch size ({sizes}), every optimizer": ahead,
        f"{COMPILED}'s step never dearer at a smaller batch, every optimizer": cheaper,
    }


def _plain(value: object) -> object:
    """A value JSON keeps: NaN (no bound) as None."""
    return None if isinstance(value, float) and math.isnan(value) else value


def store(results: Results, root: Path = MACHINES_DIR) -> Path:
    """Write the run's summary over its own machine's entry (only that one); returns its path."""
    path = root / machine_id(results) / SUMMARY
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as f:
        json.dump(summary(results), f, indent=2)
    return path


def stored(root: Path = MACHINES_DIR) -> list[dict]:
    """Every stored machine's summary, in the order of their ids."""
    return [json.loads(path.read_text()) for path in sorted(root.glob(f"*/{SUMMARY}"))]


def with_run(summaries: list[dict], results: Results) -> list[dict]:
    """``summaries`` with the run's own machine's entry replaced by (or joined by) the run's summary."""
    own = summary(results)
    return sorted(
        [s for s in summaries if s["machine"] != own["machine"]] + [own], key=lambda s: s["machine"]
    )


def markdown(summaries: list[dict]) -> str:
    """Every machine's column: what it is, its measured limits, then each headline ratio with its interval
    and verdict and each conclusion, and on how many machines each bound is met or conclusion holds."""
    if not summaries:
        return ""
    headers = ["", *(s["machine"] for s in summaries), "met on"]
    about = [
        ("CPU", *(s["cpu"] for s in summaries), ""),
        ("ISA", *(s["isa"] for s in summaries), ""),
        ("cores", *(str(s["cores"]) for s in summaries), ""),
        *[
            (f"{name} ran", *(s["described"].get(name, "") for s in summaries), "")
            for name in sorted({name for s in summaries for name in s["described"]})
        ],
        ("FMA peak, all cores", *(f"{number(s['peak_gflops'])} GFLOP/s" for s in summaries), ""),
        ("run", *(f"{s['date'][:10]}, {s['commit']}, {_length(s['run_seconds'])}" for s in summaries), ""),
    ]
    quantities = list(dict.fromkeys(row["quantity"] for s in summaries for row in s["headline"]))
    ratios = []
    for quantity in quantities:
        rows = [next((r for r in s["headline"] if r["quantity"] == quantity), None) for s in summaries]
        bounded = [r for r in rows if r is not None and r["bound"] is not None]
        met = sum(r["verdict"] == "met" for r in bounded)
        limit = bound(bounded[0]["bound"], bounded[0]["sense"]) if bounded else ""
        cells = [_cell(r) for r in rows]
        ratios.append((f"{quantity} {limit}".strip(), *cells, f"{met} of {len(rows)}" if bounded else ""))
    said = list(dict.fromkeys(c for s in summaries for c in s.get("conclusions", {})))
    for conclusion in said:
        cells = [s.get("conclusions", {}).get(conclusion) for s in summaries]
        words = ["not measured" if c is None else "yes" if c else "no" for c in cells]
        ratios.append((conclusion, *words, f"{sum(c is True for c in cells)} of {len(cells)}"))
    return table(headers, [*about, *ratios], numbers=False)


def _cell(row: dict | None) -> str:
    if row is None:
        return "not measured"
    verdict = f" {row['verdict']}" if row["bound"] is not None else ""
    return interval(row["ratio"], row["low"], row["high"]) + verdict


def _length(run_seconds: float | None) -> str:
    return "length unknown" if run_seconds is None else minutes(run_seconds)
