"""Build ``performance.md``, its figures, ``headline.csv`` and the CSV of every benchmark from a
pytest-benchmark JSON of ``bench/``; with several JSONs, show their headline ratios side by side.

    python -m reports.build reports/benchmark.json [OTHER.json ...] [--out DIR]

The first JSON is the report's run; the others (a repeat on the same machine, or runs on other machines)
are compared with it. ``pytest bench/ --benchmark-only`` calls :func:`build_report` itself at its end.
Every file is written atomically. Every number and sentence is computed from the JSON.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from network.files import atomic_write
from reports import analysis
from reports.figures import FIGURES
from reports.fmt import bound, bullets, interval, number, percent, seconds, table, threads, times
from reports.results import ReportError, Results, load_results

REPORT_NAME = "performance.md"
HEADLINE_CSV = "headline.csv"
BENCHMARKS_CSV = "benchmarks.csv"
NOT_MEASURED = "_Not measured in this run._"
BUSY = 0.25  # cores' worth of CPU other processes used while a probe ran: above it, say so beside the rate
ASM_CHECK = {"True": "checked", "False": "**not as intended**"}


def build_report(json_path: str | Path, out_dir: str | Path | None = None, others: Sequence = ()) -> Path:
    """Write the report of ``json_path`` (compared with the runs ``others``) into ``out_dir`` (default: the
    JSON's folder); return the report's path."""
    results = load_results(json_path)
    runs = [results, *(load_results(path) for path in others)]
    out_dir = Path(out_dir) if out_dir is not None else results.path.parent
    figures = []
    for name, make in FIGURES.items():
        fig = make(results)
        if fig is not None:
            with atomic_write(out_dir / name, "wb") as f:
                fig.savefig(f, format="png", dpi=110)
            plt.close(fig)
            figures.append(name)
    headline = analysis.headline(results)
    headline["bound"] = [bound(b, s) for b, s in zip(headline["bound"], headline["sense"])]  # "≤ 0.7"
    _write_csv(out_dir / HEADLINE_CSV, headline[["quantity", "ratio", "low", "high", "bound", "verdict"]])
    _write_csv(out_dir / BENCHMARKS_CSV, results.table)
    with atomic_write(out_dir / REPORT_NAME, "w") as f:
        f.write(render(runs, figures))
    return out_dir / REPORT_NAME


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_write(path, "w") as f:
        frame.to_csv(f, index=False, float_format="%.6g")


def render(runs: list[Results], figures: list[str]) -> str:
    results = runs[0]
    sections = [
        _header(results),
        _headline(results, figures),
        "## Findings\n\n" + (bullets(findings(results)) or NOT_MEASURED),
        _machine(results),
        _method(results),
        _epoch(results, figures),
        _kernels(results, figures),
        _techniques(results),
        _sweeps(results, figures),
        _budgets(results),
        _curves(results, figures),
        _runs(runs),
        f"## Raw numbers\n\n`{results.path.name}` holds every round and each benchmark's `extra_info`; "
        f"`{BENCHMARKS_CSV}` one row per benchmark with derived columns; `{HEADLINE_CSV}` the headline.",
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _figure(name: str, figures: list[str], alt: str) -> str:
    return f"\n\n![{alt}]({name})" if name in figures else ""


def _header(results: Results) -> str:
    text = (
        f"# scratchnet performance report\n\nBuilt by `python -m reports.build` from `{results.path.name}` "
        f"(run finished {results.datetime}, on {machine_name(results)}). Every number and sentence below is "
        "computed from that file. To measure again: `pytest bench/ --benchmark-only`; to rebuild this page: "
        f"`python -m reports.build {results.path.name}`."
    )
    if results.quick:
        text += "\n\n> **Quick run** (`--quick`): tiny subsets and few rounds. It shows the machinery works."
    return text


def machine_name(results: Results) -> str:
    cpu = results.machine.get("cpu", {})
    return f"{cpu.get('brand_raw', 'an unknown CPU')}, {results.run.get('available_cores', '?')} cores"


def _headline(results: Results, figures: list[str]) -> str:
    h = analysis.headline(results)
    if h.empty:
        return "## Headline ratios\n\n" + NOT_MEASURED
    rows = [
        (r.quantity, interval(r.ratio, r.low, r.high), bound(r.bound, r.sense), r.verdict or "—", r.pairs)
        for r in h.itertuples()
    ]
    return (
        "## Headline ratios\n\nEach ratio comes from rounds that alternate its two sides (b, a, b, a, ...) "
        "so that both see the same state of the machine: the median of the per-pair ratios, with its 95% "
        "bootstrap interval. A verdict is *met* when the whole interval is on the bound's side, *not met* "
        "when it is wholly on the other, *unclear* when it straddles the bound.\n\n"
        + table(["quantity", "ratio [95% interval]", "bound", "verdict", "pairs"], rows)
        + _figure("headline.png", figures, "headline ratios with intervals")
    )


def findings(results: Results) -> list[str]:
    """One claim per finding, each read off a table of this report."""
    out = []
    epochs = analysis.epoch_table(results)
    ours = epochs[epochs["backend"] != analysis.PEER] if not epochs.empty else epochs
    if len(ours):
        best = ours.loc[ours["epoch_seconds"].idxmin()]
        out.append(
            f"The fastest backend at batch {int(best.batch)} is **{best.backend}**: "
            f"{seconds(best.epoch_seconds)} an epoch, {times(best.floor_ratio)} the floor."
        )
    h = analysis.headline(results)
    judged = h[h["verdict"] != ""]
    if len(judged):
        counts = judged.groupby("verdict", sort=False)["quantity"].apply(list)
        out.append(
            "Of the bounds, " + "; ".join(f"{len(q)} {v} ({', '.join(q)})" for v, q in counts.items()) + "."
        )
    scaling = analysis.core_scaling(results)
    if not pd.isna(scaling):
        state = "independent" if scaling >= analysis.INDEPENDENT else "**not independent**"
        out.append(
            f"The cores are {state}: all of them run the FMA probe at {percent(scaling)} of one core "
            "times their count."
        )
    narrow, wide, gain = analysis.width_gain(results)
    if not pd.isna(gain):
        out.append(
            f"{int(wide)}-bit FMAs run at {times(gain)} the rate of {int(narrow)}-bit ones on one core "
            f"({'full width' if gain > 1.5 else 'split into halves'})."
        )
    drift = analysis.peak_drift(results)
    if abs(drift) > analysis.DRIFT:
        out.append(
            f"**The machine changed during the run**: the all-core peak moved {percent(drift)} from start "
            "to end; absolute times depend on when they were taken, paired ratios much less."
        )
    winners, switches = analysis.crossover(results)
    if len(switches) == 1:
        a, b = switches[0]
        out.append(
            f"Batch-size crossover between {int(a)} and {int(b)}: {winners[a]} below, {winners[b]} above."
        )
    elif len(winners) and not switches:
        out.append(f"No batch-size crossover: {winners.iloc[0]} is fastest at every batch size measured.")
    noisy = analysis.spread(results)
    noisy = noisy[noisy > analysis.NOISY_SPREAD]
    if len(noisy):
        out.append(
            f"{len(noisy)} timings have an IQR above {percent(analysis.NOISY_SPREAD)} of their median "
            f"(worst {noisy.idxmax()}, {percent(noisy.max())})."
        )
    return out


def _machine(results: Results) -> str:
    run, rows = results.run, []
    for r in analysis.peaks(results).sort_values(["dtype", "vector_bits", "threads", "when"]).itertuples():
        rows.append(
            (
                f"FMA peak, {r.dtype}, {int(r.vector_bits)}-bit, {threads(r.threads)}, {r.when}",
                f"{number(r.gflops)} GFLOP/s ({number(r.per_core)} per core; {int(r.chains)} chains; "
                f"assembly {ASM_CHECK.get(str(r.asm_ok), 'not checked')}"
                + (
                    f"; **other processes used {r.busy_elsewhere:.1f} cores meanwhile**"
                    if r.busy_elsewhere > BUSY
                    else ""
                )
                + ")",
            )
        )
    bandwidth = analysis.bandwidth(results)
    for level, rates in bandwidth.iterrows():
        sets = bandwidth.attrs["working_sets"].loc[level]
        cells = [
            f"{number(rate)} GB/s on {threads(t)} ({number(sets[t] / 2**10)} KiB)"
            for t, rate in rates.items()
        ]
        rows.append((f"triad bandwidth, {level}", ", ".join(cells)))
    for count, rate in analysis.sgemm_rates(results).items():
        rows.append((f"NumPy sgemm, {threads(count)} (reference, not the limit)", f"{number(rate)} GFLOP/s"))
    blas = "; ".join(
        f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')} kernel)"
        for b in run.get("blas", [])
    )
    env = run.get("env") or {}
    commit = results.commit
    rows += [
        ("CPU", machine_name(results)),
        ("BLAS under NumPy", blas or "unknown"),
        ("OpenBLAS overrides", ", ".join(f"{k}={v}" for k, v in env.items() if v) or "none set"),
        (
            "software",
            ", ".join(f"{k} {run.get(k)}" for k in ("python", "numpy", "numba", "torch") if run.get(k)),
        ),
        (
            "commit",
            f"{str(commit.get('id', '?'))[:10]}{' with uncommitted changes' if commit.get('dirty') else ''}",
        ),
    ]
    return (
        "## Machine\n\nMeasured in this run (the FMA probe: independent vector FMA chains on registers, no "
        "memory; the triad: `a = b + s*c`, 24 bytes per element).\n\n" + table(["", ""], rows, numbers=False)
    )


def _method(results: Results) -> str:
    data, epochs = results.run.get("data") or {}, results.study("epoch")
    if epochs.empty:
        return ""
    e = epochs.iloc[0].to_dict()
    source = f"{data.get('name')} ({data.get('n_train', 0):,} training images, {data.get('source')})"
    if not data.get("real", True):
        source = f"**random data** ({data.get('source')}): the same arithmetic, but the curves mean nothing"
    samples = ", ".join(f"{r.backend} {int(r.samples):,}" for r in analysis.ordered(epochs).itertuples())
    return "## Data and method\n\n" + bullets(
        [
            f"Data: {source}; an epoch is {int(e['epoch_samples']):,} samples.",
            f"Network {e['layer_sizes']}, {e['dtype']}, batch {int(e['batch'])}, {e['optimizer']}; "
            "a sweep varies one of them.",
            f"Samples per round: {samples}; where fewer than an epoch, the time is scaled (*scaled*).",
            "An epoch benchmark times `Trainer.run_epoch` after one untimed warm-up epoch (compilation, "
            "first touch); tables quote the median of the rounds.",
            "FLOPs are the matrix products'; the **floor** is an epoch's FLOPs at the all-core FMA peak.",
        ]
    )


def _epoch(results: Results, figures: list[str]) -> str:
    t = analysis.epoch_table(results)
    if t.empty:
        return "## One training epoch\n\n" + NOT_MEASURED
    rows = [
        (
            r.backend,
            f"{int(r.samples):,}",
            seconds(r.epoch_seconds) + (" *scaled*" if r.scaled else ""),
            percent(r.spread),
            int(r.rounds),
            times(r.speedup),
            number(r.gflops),
            percent(r.of_peak),
            times(r.floor_ratio),
        )
        for r in t.itertuples()
    ]
    headers = [
        "backend",
        "samples/round",
        "epoch",
        "IQR/median",
        "rounds",
        "vs slowest",
        "GFLOP/s",
        "of peak",
        "x floor",
    ]
    return f"## One training epoch\n\n{table(headers, rows)}" + _figure(
        "epoch_time.png", figures, "epoch times"
    )


def _kernels(results: Results, figures: list[str]) -> str:
    k = analysis.kernel_table(results)
    if k.empty:
        return "## Kernels\n\n" + NOT_MEASURED
    rows = [(kernel, f"`{shape}`", *(seconds(v) for v in row)) for (kernel, shape), row in k.iterrows()]
    text = "## Kernels\n\nTime per call (median) at the shapes of the epoch study's step.\n\n"
    text += table(["kernel", "shape", *k.columns], rows) + _figure("roofline.png", figures, "roofline")
    v = analysis.variant_table(results)
    if len(v):
        rows = [
            (r.variant, seconds(r.median), number(r.gflops), percent(r.of_peak), percent(r.of_sgemm))
            for r in v.itertuples()
        ]
        text += (
            f"\n\n### Matmul variants at `{v['shape'].iloc[0]}`, {int(v['threads'].iloc[0])} threads\n\n"
            + table(["variant", "per call", "GFLOP/s", "of peak", "of sgemm"], rows)
        )
    return text


def _techniques(results: Results) -> str:
    t = analysis.technique_table(results)
    rows = [
        (r.technique, r.batch, seconds(r.without), seconds(r.with_), times(r.gain), times(r.expected), r.why)
        for r in t.rename(columns={"with": "with_"}).itertuples()
    ]
    headers = ["technique", "batch", "without", "with", "gain", "expected", "why we expected it"]
    return (
        "## What the fused step bought\n\nEpochs (scaled) without and with it; the gain expected was written "
        f"down before measuring.\n\n{table(headers, rows)}"
        if rows
        else ""
    )


def _sweeps(results: Results, figures: list[str]) -> str:
    parts = ["## How the cost grows"]
    for study, key, title in (
        ("batch", "batch", "Batch size"),
        ("width", "hidden", "Hidden width"),
        ("threads", "threads", "Threads"),
    ):
        s = analysis.sweep(results, study, key)
        rows = [(int(i), *(seconds(v) for v in row)) for i, row in s.iterrows()]
        parts.append(
            f"### {title} (epochs scaled from each point's samples)\n\n"
            + (table([key, *s.columns], rows) if rows else NOT_MEASURED)
        )
        parts.append(_figure(f"{study}_sweep.png", figures, f"epoch time against {key}").strip())
    return "\n\n".join(p for p in parts if p)


def _budgets(results: Results) -> str:
    numpy_step, small = analysis.numpy_step_budget(results), analysis.small_batch_budget(results)
    parts = []
    if len(numpy_step):
        rows = [
            (r.part, seconds(r.seconds), times(r.floor_ratio), percent(r.share))
            for r in numpy_step.itertuples()
        ]
        parts.append(
            f"### A numpy step at batch {numpy_step.attrs['batch']}\n\n"
            + table(["part", "per step", "x floor's step", "of the step"], rows)
        )
    if len(small):
        kernels = [c for c in small.columns if c not in ("batch", "step", "kernels_gflops", "rest")]
        rows = [
            (
                int(r["batch"]),
                seconds(r["step"]),
                *(seconds(r[k]) for k in kernels),
                number(r["kernels_gflops"]),
                seconds(r["rest"]),
            )
            for _, r in small.iterrows()
        ]
        parts.append(
            "### A numba step at small batches\n\n"
            + table(["batch", "step", *kernels, "their GFLOP/s", "the rest"], rows)
        )
    return "## Where the time goes\n\n" + "\n\n".join(parts) if parts else ""


def _curves(results: Results, figures: list[str]) -> str:
    rows = [
        (
            r.backend,
            f"{int(r.samples):,}",
            r.dataset,
            len(h := results.extra[r.name].get("history") or []),
            f"{h[-1]['train_loss']:.3f}" if h else "n/a",
            percent(h[-1]["test_accuracy"]) if h else "n/a",
        )
        for r in analysis.ordered(results.study("curve")).itertuples()
    ]
    if not rows:
        return ""
    return (
        "## Training curves\n\nA short run per backend, to show that every backend trains (not timed).\n\n"
        + table(["backend", "train samples", "data", "epochs", "final loss", "final test accuracy"], rows)
        + _figure("training_curves.png", figures, "training curves")
    )


def _runs(runs: list[Results]) -> str:
    if len(runs) < 2:
        return ""
    c = analysis.compare(runs)
    names = [f"{r.path.name} ({r.datetime[:16]})" for r in runs]
    rows = [
        (
            r["quantity"],
            *(
                f"{interval(r[f'ratio_{i}'], r[f'low_{i}'], r[f'high_{i}'])} {r[f'verdict_{i}']}"
                for i in range(len(runs))
            ),
            "yes" if r["agree"] and r["same_verdict"] else "**no**",
        )
        for _, r in c.iterrows()
    ]
    unstable = c.loc[~(c["agree"] & c["same_verdict"]), "quantity"].tolist()
    summary = (
        f"{len(c) - len(unstable)} of {len(c)} ratios agree (each run's ratio inside every other run's "
        "interval, the same verdict)" + (f"; these do not: {'; '.join(unstable)}." if unstable else ".")
    )
    return f"## Runs side by side\n\n{summary}\n\n" + table(
        ["quantity", *names, "agree"], rows, numbers=False
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path, nargs="+", help="pytest-benchmark JSON files of bench/ runs")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the report (default: the first JSON's)"
    )
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
