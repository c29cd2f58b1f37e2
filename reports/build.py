"""Build ``performance.md``, its figures, ``headline.csv`` and the CSV of every benchmark from a
pytest-benchmark JSON of ``bench/``; with several JSONs, show their headline ratios side by side.

    python -m reports.build reports/benchmark.json [OTHER.json ...] [--out DIR]

The first JSON is the report's run; the others (a repeat on the same machine, or runs on other machines)
are compared with it. ``pytest bench/ --benchmark-only`` calls :func:`build_report` itself at its end.
Every file is written atomically. Every number and sentence is computed from the JSON.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from network.files import atomic_write, check_output
from reports import analysis, claims, fmt, machines
from reports.figures import FIGURES, vector_width
from reports.fmt import bound, frame_table, interval, number, percent, seconds, table, threads, times
from reports.results import ReportError, Results, load_results
from reports.roles import ARRAY_COMPILER, BLAS, COMPILED, LOOPS, PEER_COMPILED, PEERS

REPORT_NAME = "performance.md"
HEADLINE_CSV = "headline.csv"
BENCHMARKS_CSV = "benchmarks.csv"
VECTOR_WIDTH_PNG = "vector_width.png"  # python -m bench.widths, where the run's machine has one
NOT_MEASURED = "_Not measured in this run._"
BUSY = 0.25  # cores' worth of CPU other processes used while a probe ran: above it, say so beside the rate
ASM_CHECK = {"True": "checked", "False": "**not as intended**"}


def build_report(json_path: str | Path, out_dir: str | Path | None = None, others: Sequence = ()) -> Path:
    """Write the report of ``json_path`` (compared with the runs ``others``) into ``out_dir`` (default: the
    JSON's folder); return the report's path."""
    results = load_results(json_path)
    runs = [results, *(load_results(path) for path in others)]
    out_dir = Path(out_dir) if out_dir is not None else results.path.parent
    # Everything is rendered before anything is written, so a failure leaves the previous report's files
    # as the set they were (not a new figure beside an old report).
    machines_dir = out_dir / machines.FOLDER
    levels = analysis.vector_widths(machines.widths(machines_dir, machines.machine_id(results)))
    drawn = {name: make(results) for name, make in FIGURES.items()} | {VECTOR_WIDTH_PNG: vector_width(levels)}
    files: dict[str, bytes | str] = {name: _png(fig) for name, fig in drawn.items() if fig is not None}
    headline = analysis.headline(results)
    headline["bound"] = [bound(b, s) for b, s in zip(headline["bound"], headline["sense"])]  # "≤ 0.7"
    files[HEADLINE_CSV] = _csv(headline[["quantity", "ratio", "low", "high", "bound", "verdict"]])
    files[BENCHMARKS_CSV] = _csv(results.table)
    summaries = machines.with_run(machines.stored(machines_dir), results)
    files[REPORT_NAME] = render(runs, [name for name in files if name.endswith(".png")], summaries, levels)
    for name in files:  # all refusals (a folder in a file's place, say) before the first write
        check_output(out_dir / name)
    for name, content in files.items():
        with atomic_write(out_dir / name, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)
    if not results.quick:  # a quick run's numbers are no machine's results
        machines.store(results, machines_dir)
    return out_dir / REPORT_NAME


def _png(fig) -> bytes:
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=110)
    plt.close(fig)
    return image.getvalue()


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format="%.6g")


def render(
    runs: list[Results],
    figures: list[str],
    summaries: Sequence[dict] = (),
    levels: pd.DataFrame | None = None,
) -> str:
    results = runs[0]
    sections = [section(results, figures) for section in SECTIONS]
    sections += [
        _vector_width(levels if levels is not None else pd.DataFrame(), figures),
        _machines(summaries),
        _runs(runs),
        f"## Raw numbers\n\n`{results.path.name}` holds every round and each benchmark's `extra_info`; "
        f"`{BENCHMARKS_CSV}` one row per benchmark with derived columns; `{HEADLINE_CSV}` the headline.",
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _header(results: Results, figures: list[str]) -> str:
    text = (
        f"# scratchnet performance report\n\nBuilt by `python -m reports.build` from `{results.path.name}` "
        f"(run finished {results.datetime}{run_length(results)}, on {machine_name(results)}). Every number "
        "and sentence below is computed from that file. To measure again: `pytest bench/ --benchmark-only`; "
        f"to rebuild this page: `python -m reports.build {results.path.name}`."
    )
    if results.quick:
        text += "\n\n> **Quick run** (`--quick`): tiny subsets and few rounds. It shows the machinery works."
    return text


def run_length(results: Results) -> str:
    """The phrase ", after 10 min 21 s" where the run recorded its start, else nothing."""
    return "" if math.isnan(results.duration) else f", after {fmt.minutes(results.duration)}"


def machine_name(results: Results) -> str:
    """The CPU as a claim must name it: model, family and model numbers (a VM's "AMD EPYC" is a Zen 3 or a
    Zen 4), widest ISA, cores."""
    cpu = results.machine.get("cpu", {})
    ids = f" (family {cpu['family']}, model {cpu['model']})" if "family" in cpu and "model" in cpu else ""
    return (
        f"{cpu.get('brand_raw', 'an unknown CPU')}{ids}, {machines.isa(results)}, "
        f"{results.run.get('available_cores', '?')} cores"
    )


def _section(title: str, body: str, figures: Sequence[str] = (), figure: str = "") -> str:
    """``## title``, its body (or the note that its study was not measured), and its figure if drawn."""
    image = f"\n\n![{title}]({figure})" if figure in figures else ""
    return f"## {title}\n\n{body or NOT_MEASURED}{image}"


def _tabled(title: str, make, columns: fmt.Columns, intro: str = "", figure: str = "", always: bool = False):
    """A section that is one table of ``make(results)``'s rows under ``intro``; left out where ``make``
    finds no rows, unless ``always`` (then it says its study was not measured)."""

    def section(results: Results, figures: list[str]) -> str:
        frame = make(results)
        if frame.empty and not always:
            return ""
        table = frame_table(frame, columns) if len(frame) else ""
        return _section(title, f"{intro}\n\n{table}" if intro and table else table, figures, figure)

    return section


HEADLINE_COLUMNS = {
    "quantity": lambda r: r.quantity,
    "ratio [95% interval]": lambda r: interval(r.ratio, r.low, r.high),
    "bound": lambda r: bound(r.bound, r.sense),
    "verdict": lambda r: r.verdict or "—",
    "per block": lambda r: " / ".join(number(x) for x in r.blocks),
    "slowed blocks": lambda r: " / ".join(number(x) for x in r.slowed) or "none",
    "cores meet in": lambda r: f"{number(r.sync_us)} µs",
}
UNBOUNDED_COLUMNS = {k: v for k, v in HEADLINE_COLUMNS.items() if k not in ("bound", "verdict")}


def headline_method(results: Results) -> str:
    """How the headline ratios were measured, for the top of *Claims we test*."""
    return (
        "Each ratio comes from rounds that alternate its two sides (b, a, b, a, ...) so that both get the "
        f"same moments of the machine, in blocks spread over the run, {analysis.block_processes(results)}: "
        "what lasts as long as a process does then shows between blocks and in the interval. A round is "
        "the code's own time plus whatever else the machine did meanwhile, which only adds, so a block's "
        "ratio is its sides' fastest rounds. A block in which either side's fastest round was more than "
        f"{analysis.SLOWED:.0%} longer than that side's fastest of the run ran in a slowed state of the "
        "machine (another tenant on its cores): it is measured again in a spare block at the run's end and "
        "shown apart (*slowed blocks*), not averaged in. The ratio is the mean of the other blocks' ratios "
        "on a log scale, its 95% interval Student's t over those blocks (the method of batch means). A "
        "verdict is *met* when the whole interval is on the bound's side, *not met* when it is wholly on "
        "the other, *unclear* when it straddles the bound. *Cores meet in*: the median time of an empty "
        "parallel region across all cores, measured beside every pair (`bench.machine.sync_probe`)."
    )


COMPILED_STEP_TEXT = (
    f"Per optimizer and batch of a headline pair of {COMPILED} against {BLAS}; the parts are timed alone, on "
    "the threads the step runs them on."
)
COMPILED_STEP_GLOSSARY = {  # column -> what it holds
    f"{analysis.BLAS_STEP}, {analysis.COMPILED_STEP}": (
        "the fastest rounds of the headline pair's sides, per step"
    ),
    "needed for the bound": f"the most {COMPILED}'s step may take to meet the bound against {BLAS}'s",
    "forward product": "the first layer's `x @ W1`",
    "weight gradient + update": "the first layer's weight gradient fused with the update (its rule included)",
    "output layer": (
        "a fused step of that layer alone and the input gradient it hands the hidden layer, less the call "
        "that timing it alone adds"
    ),
    "call from Python": "a fused step of next to no arithmetic ({call}): the call's own cost",
    "batch gather": f"{COMPILED}'s `take_rows`, on every core for a large batch",
    "the rest": (
        "the step less its parts: the hidden layer's element-wise work, the trainer's loop, and what the "
        "parts cost more inside a step than alone (data another part moved out of the cache); below zero "
        "where the parts, each timed at another moment, add up to more than the step"
    ),
    "products need": (
        "the rate, of the all-core peak, at which the first layer's two products would have to run to meet "
        "the bound while every other part takes its time here; above 100%, out of reach unless those shrink"
    ),
    "products run at": "the rate of those two products timed alone",
}
THREAD_TEXT = (
    "The same parts on one thread and on all (steps: the fastest rounds of the thread speed-up pair's "
    "sides); *x floor*: the all-core time against the part's FLOPs at the all-core peak."
)
PEAK_COLUMNS = {
    "FMA probe": lambda r: f"{r.dtype}, {int(r.vector_bits)}-bit, {threads(r.threads)}, {r.when}",
    "GFLOP/s": lambda r: number(r.gflops),
    "per core": lambda r: number(r.per_core),
    "chains": lambda r: int(r.chains),
    "assembly": lambda r: ASM_CHECK.get(str(r.asm_ok), "not checked"),
    "others' load": lambda r: f"**{r.busy_elsewhere:.1f} cores**" if r.busy_elsewhere > BUSY else "",
}
EPOCH_COLUMNS = {
    "backend": lambda r: r.backend,
    "samples/round": lambda r: f"{int(r.samples):,}",
    "epoch": lambda r: seconds(r.epoch_seconds) + (" *scaled*" if r.scaled else ""),
    "IQR/median": lambda r: percent(r.spread),
    "rounds": lambda r: int(r.rounds),
    "vs slowest": lambda r: times(r.speedup),
    "GFLOP/s": lambda r: number(r.gflops),
    "of peak": lambda r: percent(r.of_peak),
    "x floor": lambda r: times(r.floor_ratio),
}
VARIANT_COLUMNS = {
    "variant": lambda r: r.variant,
    "per call": lambda r: seconds(r.median),
    "GFLOP/s": lambda r: number(r.gflops),
    "of peak": lambda r: percent(r.of_peak),
    "of sgemm": lambda r: percent(r.of_sgemm),
}
TECHNIQUE_COLUMNS = {
    "technique": lambda r: r.technique,
    "optimizer": lambda r: r.optimizer,
    "batch": lambda r: r.batch,
    "without": lambda r: seconds(r.without),
    "with": lambda r: seconds(r._5),  # "with" is a keyword: itertuples renames the column
    "gain": lambda r: times(r.gain),
    "expected": lambda r: times(r.expected),
    "why we expected it": lambda r: r.why,
}
BUDGET_COLUMNS = {
    "part": lambda r: r.part,
    "per step": lambda r: seconds(r.seconds),
    "x floor's step": lambda r: times(r.floor_ratio),
    "of the step": lambda r: percent(r.share),
}
THREAD_CELLS = {"speed-up": times, "x floor": times}
CURVE_COLUMNS = {
    "backend": lambda r: r.backend,
    "train samples": lambda r: f"{int(r.samples):,}",
    "data": lambda r: r.dataset,
    "epochs": lambda r: len(r.history),
    "final loss": lambda r: number(r.history[-1]["train_loss"]),
    "final test accuracy": lambda r: percent(r.history[-1]["test_accuracy"]),
}


def findings(results: Results) -> list[str]:
    """One claim per finding, each read off a table of this report."""
    out = []
    epochs = analysis.epoch_table(results)
    ours = epochs[~epochs["backend"].isin(PEERS)] if not epochs.empty else epochs
    if len(ours):
        best = ours.loc[ours["epoch_seconds"].idxmin()]
        out.append(
            f"The fastest backend at batch {int(best.batch)} is **{best.backend}**: "
            f"{seconds(best.epoch_seconds)} an epoch, {times(best.floor_ratio)} the floor."
        )
    h = analysis.headline(results)
    budgets = {row["quantity"]: row for _, row in analysis.compiled_step_budget(results).iterrows()}
    for r in h[h["verdict"] != ""].itertuples():
        claim = f"{r.quantity}: {interval(r.ratio, r.low, r.high)}, bound {bound(r.bound, r.sense)}"
        why = "" if r.verdict == "met" else _why_not_met(r, budgets.get(r.quantity))
        out.append(f"{claim}: **{r.verdict}**{why}.")
    slowed, kept = h["slowed"].map(len), h["blocks"].map(len)
    if slowed.sum():
        out.append(
            f"The machine slowed {slowed.sum()} of the {slowed.sum() + kept.sum()} headline blocks, in "
            f"{(slowed > 0).sum()} of {len(h)} ratios; they are shown apart (*slowed blocks*), and each "
            f"ratio rests on its other blocks ({kept.min()} to {kept.max()} a ratio), spares measured at the "
            "run's end included."
        )
    scaling = analysis.core_scaling(results)
    if not pd.isna(scaling):
        state = "independent" if scaling >= analysis.INDEPENDENT else "**not independent**"
        out.append(
            f"The cores are {state}: together they run the FMA probe at {percent(scaling)} of n x one."
        )
    for r in h[h["compares_threads"] & (h["high"] < 1)].itertuples():
        out.append(
            f"{r.quantity}: {interval(r.ratio, r.low, r.high)}: **more threads were slower**, though the "
            f"FMA probe, which never synchronises, ran {percent(scaling)} of n x one: in this run's state of "
            "the machine, work that synchronises across the cores lost by it."
        )
    narrow, wide, gain = analysis.width_gain(results)
    if not pd.isna(gain):
        split = "full width" if gain > analysis.SPLIT else "split into halves"
        out.append(f"{wide:g}-bit FMAs run at {times(gain)} the rate of {narrow:g}-bit ones ({split}).")
    drift = analysis.peak_drift(results)
    if abs(drift) > analysis.DRIFT:
        out.append(f"**The machine changed during the run**: the all-core peak moved {percent(drift)}.")
    winners, switches, unclear = analysis.crossover(results)
    for a, b in switches:
        out.append(
            f"Batch-size crossover between {a:g} and {b:g}: {winners[a]} at {a:g}, {winners[b]} at {b:g}."
        )
    if len(winners) and not switches and not unclear:
        out.append(
            f"No batch-size crossover: {winners.iloc[0]} is fastest at every batch size measured "
            f"({', '.join(f'{batch:g}' for batch in winners.index)}), its median round faster than every "
            "round of the others."
        )
    if unclear:
        out.append(
            f"No verdict at batch {', '.join(f'{batch:g}' for batch in unclear)}: the fastest backend's "
            "median round was no faster than another's fastest."
        )
    out += _lead_findings(results)
    out += _compiler_findings(results, h)
    costs = analysis.subnormal_cost(results).dropna()
    if len(costs):
        each = "; ".join(
            f"{backend} {times(row.subnormal / row.zero)} "
            f"({seconds(row.subnormal)} against {seconds(row.zero)})"
            for backend, row in costs.iterrows()
        )
        out.append(
            "Adam's batch-1 update of W1 with a subnormal first moment against a zero one: "
            f"{each}. Where a gradient is zero, m = 0.9 m rounds a subnormal of a few units back to itself: "
            "NumPy's Adam keeps such a moment for good and computes on it every step; "
            f"{COMPILED}'s fused rules store a state below the smallest normal as zero."
        )
    noisy = analysis.spread(results)
    noisy = noisy[noisy > analysis.NOISY_SPREAD]
    if len(noisy):
        out.append(
            f"{len(noisy)} timings have an IQR above {percent(analysis.NOISY_SPREAD)} of their median "
            f"(worst {noisy.idxmax()}, {percent(noisy.max())})."
        )
    return out


def _compiler_findings(results: Results, headline: pd.DataFrame) -> list[str]:
    """Where the compiler of the vectorised form beats the hand-written compiled loops, where dispatch loses
    it, and why: the headline pairs of the two beside the cost of one call of each."""
    pairs = headline[headline["quantity"].str.startswith(f"{COMPILED} epoch / {ARRAY_COMPILER} epoch")]
    if pairs.empty:
        return []
    dispatch = analysis.dispatch_table(results).set_index("compiler")["median"]
    ratios = "; ".join(f"{r.quantity}: {interval(r.ratio, r.low, r.high)}" for r in pairs.itertuples())
    claim = f"Compiled loops against the compiled vectorised form (below 1: {COMPILED} faster): {ratios}."
    if {COMPILED, ARRAY_COMPILER} <= set(dispatch.index):
        jax_call, numba_call = dispatch[ARRAY_COMPILER], dispatch[COMPILED]
        claim += (
            f" An empty call costs {seconds(jax_call)} in {ARRAY_COMPILER} against {seconds(numba_call)} in "
            f"{COMPILED} ({times(jax_call / numba_call)}). A step is one call in both; {ARRAY_COMPILER}'s "
            "also copies every parameter and optimizer state into XLA's buffers and back, since the "
            "contract's arrays are NumPy's (`kernels/xla.py`)."
        )
    one_call = analysis.technique_table(results)
    one_call = one_call[one_call["technique"].str.startswith(f"{ARRAY_COMPILER}:")]
    loops = analysis.sweep(results, "batch", "batch")
    if len(one_call) and COMPILED in loops:
        numba_epoch = loops[COMPILED]
        against = "; ".join(
            f"batch {r.batch}: {seconds(r._5)}, {times(r._5 / numba_epoch.get(r.batch))} {COMPILED}'s "
            f"{seconds(numba_epoch.get(r.batch))} (a call per step: {seconds(r.without)})"
            for r in one_call.itertuples()
        )
        claim += (
            f" With no Python between its steps (its whole epoch in one call), {ARRAY_COMPILER}'s epoch is "
            f"{against}: the calls and copies are what it loses at small batches; the rest of the gap is "
            "XLA's compiled step itself."
        )
    return [claim]


def _why_not_met(r, b: pd.Series | None) -> str:
    """What a headline verdict other than met rests on: how many of its blocks meet the bound, and where
    the compiled backend's step has a budget ``b`` (against the BLAS one), how fast the first layer's
    products would have to run (*Where the time goes*)."""
    if not r.blocks:
        return f"; none of its blocks ran at full speed ({len(r.slowed)} slowed)"
    met = analysis.blocks_meeting(r.blocks, r.bound, r.sense)
    spread = f"from {number(min(r.blocks))} to {number(max(r.blocks))}"
    text = f"; {met} of its {len(r.blocks)} blocks meet it ({spread})"
    if b is not None:
        text += (
            f"; {COMPILED}'s step may take {seconds(b['needed for the bound'])}, so with its other parts as "
            f"measured the first layer's products would need {percent(b[analysis.PRODUCTS_NEED])} of the "
            f"all-core peak; they run at {percent(b[analysis.PRODUCTS_RUN])} (*Where the time goes*)"
        )
    return text


def _machine(results: Results, figures: list[str]) -> str:
    run, commit = results.run, results.commit
    bandwidth = analysis.bandwidth(results)
    rows = []
    for level, rates in bandwidth.iterrows():
        sets = bandwidth.attrs["working_sets"].loc[level] / 2**10
        cells = [f"{number(rate)} GB/s on {threads(t)} ({number(sets[t])} KiB)" for t, rate in rates.items()]
        rows.append((f"triad bandwidth, {level}", ", ".join(cells)))
    rows += [
        (f"NumPy sgemm, {threads(n)}: a reference, not the limit", f"{number(rate)} GFLOP/s")
        for n, rate in analysis.sgemm_rates(results).items()
    ]
    blas = [
        f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')} kernel)"
        for b in run.get("blas", [])
    ]
    env = ", ".join(f"{k}={v}" for k, v in (run.get("env") or {}).items() if v)
    # libraries, not backends: the versions bench/conftest.py's run_info records
    libraries = ("python", "numpy", "numba", "torch", "jax")
    software = ", ".join(f"{k} {run[k]}" for k in libraries if run.get(k))
    dirty = " with uncommitted changes" if commit.get("dirty") else ""
    described = [(f"{name} ran", text) for name, text in (run.get("described") or {}).items()]
    rows += [
        ("CPU", machine_name(results)),
        *described,
        *[(f"{name} did not run", reason) for name, reason in (run.get("missing_backends") or {}).items()],
        ("BLAS under NumPy", "; ".join(blas) or "unknown"),
        ("OpenBLAS overrides", env or "none set"),
        ("software", software),
        ("commit", f"{str(commit.get('id', '?'))[:10]}{dirty}"),
    ]
    bandwidth_rows = results.study("bandwidth")["name"]
    per_element = {results.extra[name].get("bytes_per_element") for name in bandwidth_rows} - {None}
    triad = f"; the triad `a = b + s*c` counts {min(per_element)} bytes per element" if per_element else ""
    peaks = analysis.peaks(results).sort_values(["dtype", "vector_bits", "threads", "when"])
    body = (
        "Measured in this run. The FMA probe runs independent chains of vector multiply-adds on registers, "
        f"no memory{triad}.\n\n"
        + (frame_table(peaks, PEAK_COLUMNS) + "\n\n" if len(peaks) else "")
        + fmt.table(["", ""], rows, numbers=False)
    )
    return _section("Machine", body)


def _method(results: Results, figures: list[str]) -> str:
    data, epochs = results.run.get("data") or {}, results.study("epoch")
    if epochs.empty:
        return ""
    e = epochs.iloc[0].to_dict()
    source = f"{data.get('name')} ({data.get('n_train', 0):,} training images, {data.get('source')})"
    if not data.get("real", True):
        source = f"**random data** ({data.get('source')}): the same arithmetic, but the curves mean nothing"
    samples = ", ".join(f"{r.backend} {int(r.samples):,}" for r in analysis.ordered(epochs).itertuples())
    lines = [
        f"Data: {source}; an epoch is {int(e['epoch_samples']):,} samples.",
        f"Network {e['layer_sizes']}, {e['dtype']}, batch {int(e['batch'])}, {e['optimizer']}; "
        "a sweep varies one of them.",
        f"Samples per round: {samples}; where fewer than an epoch, the time is scaled (*scaled*).",
        "An epoch benchmark times `Trainer.run_epoch` after one untimed warm-up epoch (compilation, "
        "first touch); tables quote the median of the rounds.",
        "FLOPs are the matrix products'; the **floor** is an epoch's FLOPs at the all-core FMA peak.",
    ]
    return _section("Data and method", fmt.bullets(lines))


def _kernels(results: Results, figures: list[str]) -> str:
    k, v = analysis.kernel_table(results), analysis.variant_table(results)
    body = ""
    if len(k):
        body = "Time per call (median) at the shapes of the epoch study's step.\n\n"
        body += fmt.grid(k, ["kernel", "shape"], lambda index: (index[0], f"`{index[1]}`"))
    if len(v):
        body += f"\n\nMatmul variants at `{v['shape'].iloc[0]}`, {threads(v['threads'].iloc[0])}:\n\n"
        body += frame_table(v, VARIANT_COLUMNS)
    return _section("Kernels", body, figures, "roofline.png")


def _sweeps(results: Results, figures: list[str]) -> str:
    parts = []
    for study, key in (("batch", "batch"), ("width", "hidden"), ("threads", "threads")):
        s = analysis.sweep(results, study, key)
        body = fmt.grid(s, [key], lambda value: (f"{value:g}",)) if len(s) else NOT_MEASURED
        image = f"\n\n![{study} sweep]({study}_sweep.png)" if f"{study}_sweep.png" in figures else ""
        parts.append(f"### Against {key}\n\n{body}{image}")
        if study == "batch" and len(lead := analysis.lead(results)):
            blocks = max(results.extra[name].get("blocks", 1) for name in results.study("batch")["name"])
            spread = f", each point's rounds in {blocks} blocks spread over the run" if blocks > 1 else ""
            parts.append(
                f"{BLAS}'s epoch over {COMPILED}'s at each batch size with each optimizer (fastest rounds"
                f"{spread}; above 1: {COMPILED} ahead; * where neither side's median round beats the other's "
                "fastest):\n\n"
                + fmt.grid(_marked(lead), ["batch"], lambda value: (f"{value:g}",), dict.fromkeys(lead, str))
            )
    title = "How the cost grows (each point's fastest round, scaled to an epoch)"
    return _section(title, "\n\n".join(parts))


def _budgets(results: Results, figures: list[str]) -> str:
    blas_step, compiled_step = analysis.blas_step_budget(results), analysis.compiled_step_budget(results)
    cores = analysis.thread_budget(results)
    parts = []
    if len(blas_step):
        title = f"### A {BLAS} step at batch {blas_step.attrs['batch']}"
        parts.append(f"{title}\n\n{frame_table(blas_step, BUDGET_COLUMNS)}")
    if len(compiled_step):
        keys = ["optimizer", "batch"]
        rates = {analysis.PRODUCTS_NEED: percent, analysis.PRODUCTS_RUN: percent}
        steps = fmt.grid(compiled_step.drop(columns="quantity").set_index(keys), keys, lambda key: key, rates)
        call = ", ".join(analysis.shapes(results, "step_kernel", analysis.CALL)) or "not recorded"
        meanings = [(column, meaning.format(call=call)) for column, meaning in COMPILED_STEP_GLOSSARY.items()]
        glossary = fmt.table(["column", "what it holds"], meanings, numbers=False)
        title = f"### A {COMPILED} step against its bound"
        parts.append(f"{title}\n\n{COMPILED_STEP_TEXT}\n\n{glossary}\n\n{steps}")
    if len(cores):
        batch, optimizer, n = (cores.attrs[key] for key in ("batch", "optimizer", "threads"))
        title = f"### A {COMPILED} step at batch {batch} ({optimizer}) on 1 and {n} threads"
        table = fmt.grid(cores.set_index("part"), ["part"], lambda key: (key,), THREAD_CELLS)
        parts.append(f"{title}\n\n{THREAD_TEXT}\n\n{table}")
    return _section("Where the time goes", "\n\n".join(parts)) if parts else ""


def _curves(results: Results) -> pd.DataFrame:
    curves = analysis.ordered(results.study("curve")).copy()
    curves["history"] = [results.extra[name].get("history") or [{}] for name in curves["name"]]
    return curves


DISPATCH_COLUMNS = {
    "compiled by": lambda r: r.compiler,
    "per call": lambda r: seconds(r.median),
    "IQR/median": lambda r: percent(r.spread),
}
DISPATCH_INTRO = (
    "A compiled function that takes a one-element float32 array and returns its element as a Python float, "
    "called from Python (`bench/test_dispatch.py`): what a call costs before it computes anything. A "
    "batch-1 training step is one such call with a few hundred kilobytes of arguments."
)
COMPILE_COLUMNS = {
    "batch": lambda r: int(r.batch),
    "torch.compile": lambda r: seconds(r.compile_seconds),
    "then an epoch": lambda r: seconds(r.epoch_seconds),
}
COMPILE_INTRO = (
    f"`{PEER_COMPILED}`: the model and the optimizer's step compiled by `torch.compile` (inductor), one "
    "static shape per batch size. Its compile, at the epoch's two batch shapes, is timed apart from the "
    "epochs (which are in the batch sweep): the time before the first epoch starts. Inductor keeps what it "
    "compiled on disk (its FX graph cache): these are the times of a machine that has compiled these graphs "
    "before; a first compile takes longer."
)


def _compilers(results: Results, figures: list[str]) -> str:
    tables = [
        ("The cost of a call", DISPATCH_INTRO, analysis.dispatch_table(results), DISPATCH_COLUMNS),
        ("What compiling costs", COMPILE_INTRO, analysis.compile_table(results), COMPILE_COLUMNS),
    ]
    body = "\n\n".join(f"### {t}\n\n{intro}\n\n{frame_table(f, c)}" for t, intro, f, c in tables if len(f))
    return _section("Compiled loops against compilers of the vectorised form", body) if body else ""


TECHNIQUE_INTRO = "Epochs (scaled) without and with it; the gain expected was written down before measuring."
CURVE_INTRO = "A short run per backend, to show that every backend trains (not timed)."


def epoch_costs(results: Results) -> pd.DataFrame:
    """Per backend at the epoch study's batch: its epoch (fastest round, as the paired ratios take it),
    how many times faster than loops, and how far from the floor, with the paired interval where the
    headline measured it (else from the epoch study's medians)."""
    e = analysis.epoch_table(results)
    if e.empty:
        return e
    h = analysis.headline(results).set_index("quantity")
    rows = []
    for r in e.itertuples():
        quantity = f"{r.backend} epoch / floor"
        paired = interval(*h.loc[quantity, ["ratio", "low", "high"]]) if quantity in h.index else None
        over_loops = e.at[LOOPS, "epoch_fastest"] / r.epoch_fastest if LOOPS in e.index else math.nan
        rows.append((r.backend, seconds(r.epoch_fastest), times(over_loops), paired or times(r.floor_ratio)))
    return pd.DataFrame(
        rows, columns=["backend", "epoch (fastest round)", "x faster than loops", "x the floor"]
    )


def kernel_speedups(results: Results) -> pd.DataFrame:
    """Each kernel's time in loops over its time in each other backend."""
    k = analysis.kernel_table(results)
    if k.empty or LOOPS not in k:
        return pd.DataFrame()
    return k.drop(columns=LOOPS).rtruediv(k[LOOPS], axis=0)


OVERLAP = ", the rounds overlap"  # neither side's median round beats the other's fastest: no verdict


def _marked(lead: pd.DataFrame) -> pd.DataFrame:
    """``analysis.lead``'s ratios written out, with a * where the lead is unclear."""
    unclear = set(lead.attrs["unclear"])
    return pd.DataFrame(
        {o: [number(r) + ("*" if (o, b) in unclear else "") for b, r in lead[o].items()] for o in lead},
        index=lead.index,
    )


def _lead_findings(results: Results) -> list[str]:
    """Whether the compiled backend leads the BLAS one at every batch size with every optimizer, and
    whether its step ever costs more at a smaller batch."""
    lead = analysis.lead(results)
    if lead.empty:
        return []
    behind = [
        f"batch {batch:g} {optimizer} ({number(ratio)}{OVERLAP if overlap else ''})"
        for batch, optimizer, ratio, overlap in analysis.lead_gaps(lead)
    ]
    if behind:
        out = [f"{COMPILED} not clearly ahead of {BLAS} (their epochs' ratio) at: {'; '.join(behind)}."]
    else:
        out = [
            f"{COMPILED} ahead of {BLAS} at every batch size ({', '.join(f'{b:g}' for b in lead.index)}) "
            f"with every optimizer ({', '.join(lead.columns)}): at each point {COMPILED}'s median round "
            f"faster than every round of {BLAS}'s, by {number(lead.min().min())}x to "
            f"{number(lead.max().max())}x."
        ]
    dearer = analysis.dearer_smaller_steps(results)
    if dearer:
        pairs = "; ".join(f"{optimizer} at {small} (against {large})" for optimizer, small, large in dearer)
        out.append(f"{COMPILED}'s step costs more at a smaller batch than at the next larger one: {pairs}.")
    else:
        out.append(
            f"{COMPILED}'s step never costs more at a smaller batch of the sweep, with any optimizer (each "
            "batch against the next larger, judged by the rounds as the lead is)."
        )
    return out


def winners_sentence(results: Results) -> str:
    """Which backend is fastest at each batch size of the sweep, in one sentence (or nothing)."""
    winners, switches, unclear = analysis.crossover(results)
    if not len(winners):
        return ""
    by_backend: dict[str, list[str]] = {}
    for batch, backend in winners.items():
        by_backend.setdefault(backend, []).append(f"{batch:g}")
    text = "; ".join(f"**{b}** at batch {', '.join(sizes)}" for b, sizes in by_backend.items())
    if unclear:
        text += f" (no verdict at {', '.join(f'{b:g}' for b in unclear)}: the rounds overlap)"
    return f"Fastest epoch at each batch size of the sweep (by fastest round): {text}."


def _costs(results: Results, figures: list[str]) -> str:
    """What a reader comes for, first: how much faster than loops each backend is, per epoch and per
    kernel; which wins at each batch size; how far each is from the machine's limit."""
    costs = epoch_costs(results)
    if costs.empty:
        return ""
    first = analysis.epoch_table(results).iloc[0]
    intro = (
        f"One epoch of {int(first['epoch_samples']):,} samples, {first['layer_sizes']}, {first['dtype']}, "
        f"{first['dataset']}, {first['optimizer']}, batch {int(first['batch'])}, "
        f"on {machine_name(results)}. *x the floor*: the epoch over its FLOPs at the machine's measured "
        "all-core FMA peak, with its 95% interval where it was measured in alternating rounds "
        "(*Claims we test* has the method)."
    )
    parts = [intro, table(list(costs.columns), costs.itertuples(index=False))]
    speedups = kernel_speedups(results)
    if len(speedups):
        rows = [
            (f"{kernel} `{shape}`", *(times(x) for x in row)) for (kernel, shape), row in speedups.iterrows()
        ]
        parts += [
            "Each kernel at the step's shapes, times faster than loops (*Kernels* has the times):",
            table(["kernel", *speedups.columns], rows),
        ]
    parts.append(winners_sentence(results))
    return _section("What it costs", "\n\n".join(p for p in parts if p))


def _claims(results: Results, figures: list[str]) -> str:
    """The bounded headline ratios, their verdicts and where each bound comes from; then the other
    paired ratios."""
    h = analysis.headline(results)
    if h.empty:
        return _section("Claims we test", "")
    bounded = h[h["bound"].notna()]
    by_reason: dict[str, list[str]] = {}
    for c in claims.ALL:
        by_reason.setdefault(c.why, []).append(f"{bound(c.bound, c.sense)}, {c.applies_to}")
    origins = fmt.bullets([f"{'; '.join(bounds)}: {why}." for why, bounds in by_reason.items()])
    parts = [headline_method(results), frame_table(bounded, HEADLINE_COLUMNS)]
    parts += ["Where the bounds come from (`reports/claims.py`):", origins]
    others = h[h["bound"].isna()]
    if len(others):
        parts += [
            "### Other paired ratios\n\nMeasured as the claims are, with no bound.",
            frame_table(others, UNBOUNDED_COLUMNS),
        ]
    return _section("Claims we test", "\n\n".join(parts), figures, "headline.png")


SECTIONS = [  # each a function of (results, figures), in the report's order
    _header,
    _costs,
    _claims,
    lambda results, figures: _section("Findings", fmt.bullets(findings(results))),
    _machine,
    _method,
    _tabled("One training epoch", analysis.epoch_table, EPOCH_COLUMNS, figure="epoch_time.png", always=True),
    _kernels,
    _tabled("What the techniques bought", analysis.technique_table, TECHNIQUE_COLUMNS, TECHNIQUE_INTRO),
    _sweeps,
    _compilers,
    _budgets,
    _tabled("Training curves", _curves, CURVE_COLUMNS, CURVE_INTRO, "training_curves.png"),
]


MACHINES_TEXT = (
    "Each full run keeps its machine's summary in `machines/<machine id>/summary.json` "
    "(`reports.machines`), replacing only that machine's entry: one column per machine stored, its "
    "ratios with their 95% intervals, and on how many machines each bound is met."
)


def width_level(level: dict) -> str:
    """A row of ``analysis.vector_widths`` as its ISA level and vector width."""
    return f"{level['isa']} ({level['vector_bits']} bits)"


def width_speedup(level: dict, name: str) -> str:
    """One of ``analysis.WIDTH_SPEEDUPS`` of a row of ``analysis.vector_widths``, with its interval."""
    return interval(level[name], level[f"{name} low"], level[f"{name} high"])


def _vector_width(levels: pd.DataFrame, figures: list[str]) -> str:
    """The width study of this run's machine (``python -m bench.widths``), where one is stored."""
    if levels.empty:
        return ""
    rows = []
    for r in levels.to_dict("records"):
        cells = [width_level(r), r["numba_cpu"], r["openblas_core"]]
        cells += [seconds(r[f"{name} seconds"]) for name in analysis.WIDTH_BACKENDS]
        for name in analysis.WIDTH_SPEEDUPS:
            slowed = f" ({r[f'{name} slowed']} slowed)" if r[f"{name} slowed"] else ""
            cells.append(width_speedup(r, name) + slowed)
        rows.append(cells)
    headers = ["ISA level", "Numba compiled for", "OpenBLAS ran"]
    headers += [f"{name}, a sample" for name in analysis.WIDTH_BACKENDS]
    headers += list(analysis.WIDTH_SPEEDUPS)
    intro = (
        "`python -m bench.widths` ran loops, numpy and numba at each vector width this CPU has, each width "
        "in a process of its own: Numba compiled for that ISA level (`NUMBA_CPU_NAME`, "
        "`NUMBA_CPU_FEATURES`) and OpenBLAS held to a kernel of the same width (`OPENBLAS_CORETYPE`); at "
        "the widest, both chose for themselves, as a user runs them. Every backend's products were "
        "validated against float64 first. Each speed-up comes from rounds that alternate the three "
        "backends, in blocks, as the headline's do: the mean over the blocks the machine did not slow, "
        "with its 95% interval."
    )
    return _section(
        "Vector width as a variable", f"{intro}\n\n{table(headers, rows)}", figures, VECTOR_WIDTH_PNG
    )


def _machines(summaries: Sequence[dict]) -> str:
    body = machines.markdown(list(summaries))
    return _section("Machines side by side", f"{MACHINES_TEXT}\n\n{body}") if body else ""


def _runs(runs: list[Results]) -> str:
    if len(runs) < 2:
        return ""
    c = analysis.compare(runs)
    columns = {"quantity": lambda r: r.quantity}
    for i, run in enumerate(runs):
        columns[f"{i + 1}: {run.path.name} ({run.datetime[:16]})"] = lambda r, i=i: (
            f"{interval(getattr(r, f'ratio_{i}'), getattr(r, f'low_{i}'), getattr(r, f'high_{i}'))} "
            f"{getattr(r, f'verdict_{i}')}"
        )
    columns["agree"] = lambda r: "yes" if r.agree and r.same_verdict else "**no**"
    columns["apart"] = lambda r: (
        f"{number(r.shift_se)} s.e." + (" **beyond**" if r.shift_se > analysis.SEPARATED else "")
    )
    unstable = c[~(c["agree"] & c["same_verdict"])]

    def each(r, column: str, write=seconds) -> str:  # a column's value in run 1 → run 2 ...
        return " → ".join(write(getattr(r, f"{column}_{i}")) for i in range(len(runs)))

    moved = [
        f"{r.quantity}: side a {each(r, 'a')}, side b {each(r, 'b')}; "
        f"cores meet in {each(r, 'sync', lambda us: f'{number(us)} µs')}"
        for r in unstable.itertuples()
    ]
    widths = "; ".join(
        f"run {i + 1} median {percent(w.median())}, widest {percent(w.max())}"
        for i, w in enumerate(analysis.half_widths(run) for run in runs)
    )
    apart = int((c["shift_se"] > analysis.SEPARATED).sum())
    body = (
        f"Of {len(c)} ratios, {int(c['contradicts'].sum())} met in one run and not met in another, and "
        f"{apart} {'lies' if apart == 1 else 'lie'} more than {analysis.SEPARATED:g} standard "
        f"errors of their difference apart (*apart*: from both runs' blocks). The intervals' half-widths: "
        f"{widths}. {len(c) - len(unstable)} agree in the strict sense: each run's ratio inside every other "
        "run's interval, and one verdict (an interval for one run's mean holds another run's ratio less "
        "often than 95% of the time, even on a steady machine)."
    )
    if moved:
        body += (
            "\n\nWhere they do not, each side's fastest round, run 1 → run 2 ..., shows what moved (both "
            "sides alike: the machine's state; one side alone: that side):\n\n" + fmt.bullets(moved)
        )
    return _section("Runs side by side", body + "\n\n" + frame_table(c, columns, numbers=False))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path, nargs="+", help="pytest-benchmark JSON files of bench/ runs")
    parser.add_argument("--out", type=Path, help="folder for the report (default: the first JSON's)")
    args = parser.parse_args(argv)
    try:
        report = build_report(args.json[0], args.out, args.json[1:])
        if len(args.json) > 1:
            print(_runs([load_results(p) for p in args.json]))
    except ReportError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"{parser.prog}: error: {err.filename or args.out}: {err.strerror or err}", file=sys.stderr)
        return 1
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
