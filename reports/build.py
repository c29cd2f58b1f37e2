"""Build ``performance.md``, its figures and its CSV files from a pytest-benchmark JSON.

    python -m reports.build reports/benchmark.json [--out DIR]

The benchmark run (``pytest bench/ --benchmark-only``) calls :func:`build_report` itself at its end.
Every file is written atomically (a temporary file renamed into place), so a reader never sees half a
report. All text that states a result is computed from the JSON; nothing about the numbers is hard-coded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from network.files import atomic_write
from reports import analysis
from reports.analysis import seconds, times
from reports.figures import FIGURES
from reports.readme import README, update_section
from reports.results import ReportError, Results, load_results

REPORT_NAME = "performance.md"
BENCHMARKS_CSV = "benchmarks.csv"
CURVES_CSV = "training_curves.csv"
NOT_MEASURED = "_Not measured in this run._"
COMMITTED_DIR = Path(__file__).resolve().parent  # only a report built here updates the README


def build_report(
    json_path: str | Path, out_dir: str | Path | None = None, repeat: str | Path | None = None
) -> Path:
    """Write the report for ``json_path`` into ``out_dir`` (default: the JSON's folder); return its path.

    ``repeat``: the JSON of a second, independent run, against which the report checks its ratios.
    """
    results = load_results(json_path)
    repeated = load_results(repeat) if repeat is not None else None
    out_dir = Path(out_dir) if out_dir is not None else results.path.parent
    figures = []
    for name, make in FIGURES.items():
        fig = make(results)
        if fig is None:
            continue
        with atomic_write(out_dir / name, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
        plt.close(fig)
        figures.append(name)
    _write_csv(out_dir / BENCHMARKS_CSV, results.table.drop(columns=["iterations"]))
    _write_csv(out_dir / CURVES_CSV, _curves_frame(results))
    report = out_dir / REPORT_NAME
    with atomic_write(report, "w") as f:
        f.write(render(results, figures, repeated))
    if out_dir.resolve() == COMMITTED_DIR and not results.quick:
        update_section(README, "performance", readme_section(results, repeated))
    return report


def readme_section(results: Results, repeat: Results | None = None) -> str:
    """The README's summary of the committed report: the headline table and the findings."""
    t = analysis.epoch_table(results)
    rows = [
        (
            row.backend,
            seconds(row.epoch_seconds) + (" *scaled*" if row.scaled else ""),
            times(row.vs_loops),
            times(row.vs_numpy),
            number(row.gflops),
            percent(row.sgemm_fraction),
            times(row.floor_ratio),
        )
        for row in t.itertuples()
    ]
    headers = ["backend", "epoch", "vs loops", "vs numpy", "GFLOP/s", "of sgemm", "x floor"]
    findings = "\n".join(f"- {s}" for s in analysis.findings(results))
    if repeat is not None:
        findings += f"\n- Repeatability: {repeat_summary(results, repeat)}"
    return (
        f"### Results\n\nOne training epoch of {_epoch_description(results)} from the committed "
        f"[performance report](reports/performance.md) (run finished {results.datetime}; its machine, "
        f"method, sweeps, kernels and targets are there):\n\n{table(headers, rows)}\n\n{findings}\n"
    )


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_write(path, "w") as f:
        frame.to_csv(f, index=False, float_format="%.6g")


def _curves_frame(results: Results) -> pd.DataFrame:
    rows = [
        {
            "backend": backend,
            "train_samples": info.get("samples"),
            "test_samples": info.get("test_samples"),
            **epoch,
        }
        for backend, info in results.curves.items()
        for epoch in info.get("history") or []
    ]
    return pd.DataFrame(rows)


# --- markdown ---------------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numbers: bool = True) -> str:
    """A GitHub markdown table; the first column left-aligned, the rest right-aligned if ``numbers``."""
    align = ["---:" if numbers else ":---"] * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join([":---", *align]) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def number(x: float, digits: int = 3) -> str:
    return "n/a" if pd.isna(x) else f"{x:,.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"


def percent(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{100 * x:.3g}%"


def figure(name: str, figures: list[str], alt: str) -> str:
    return f"![{alt}]({name})" if name in figures else ""


def render(results: Results, figures: list[str], repeat: Results | None = None) -> str:
    sections = [
        _header(results),
        "## Findings\n\n" + ("\n".join(f"- {s}" for s in analysis.findings(results)) or NOT_MEASURED),
        _machine(results),
        _method(results),
        _epoch(results, figures),
        _limit(results),
        _kernels(results, figures),
        _variants(results),
        _techniques(results),
        _sweeps(results, figures),
        _curves(results, figures),
        _targets(results, repeat),
        _budgets(results),
        _repeatability(results, repeat),
        _raw(results),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _header(results: Results) -> str:
    text = (
        "# scratchnet performance report\n\n"
        f"Built by `python -m reports.build` from `{results.path.name}` (pytest-benchmark "
        f"{results.pytest_benchmark_version}, run finished {results.datetime}). Every number and sentence "
        "below is computed from that file. To measure again: `pytest bench/ --benchmark-only` (set "
        "`SCRATCHNET_DATA` to the folder holding the data sets); to rebuild this page from the JSON: "
        f"`python -m reports.build {results.path.name}`."
    )
    if results.quick:
        text += (
            "\n\n> **Quick run** (`--quick`, for CI): tiny subsets and one round per benchmark. "
            "These numbers only show that the machinery works; they are not the study."
        )
    return text


def _machine(results: Results) -> str:
    cpu = results.machine.get("cpu", {})
    run = results.run
    blas = "; ".join(
        f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')})" for b in run.get("blas", [])
    )
    commit = results.commit
    rows = [
        (
            "CPU",
            f"{cpu.get('brand_raw', 'unknown')} ({cpu.get('arch', '?')}, "
            f"{cpu.get('hz_advertised_friendly', '? GHz')}, {cpu.get('count', '?')} logical CPUs)",
        ),
        ("cores available to the run", run.get("available_cores", "unknown")),
        (
            "threads",
            "set explicitly for BLAS and Numba together in every benchmark (its `threads` in the "
            f'CSV); "all" = {run.get("available_cores", "?")}; Numba threading layer '
            f"{run.get('numba_threading_layer') or 'unknown'}",
        ),
        ("OS", f"{results.machine.get('system', '?')} {results.machine.get('release', '')}"),
        ("Python", run.get("python") or results.machine.get("python_version", "unknown")),
        ("NumPy", run.get("numpy", "unknown")),
        ("BLAS under NumPy", blas or "unknown"),
        ("Numba", run.get("numba", "unknown")),
        ("PyTorch", run.get("torch") or "not installed"),
        (
            "commit",
            f"{str(commit.get('id', 'unknown'))[:10]} on {commit.get('branch', '?')}"
            + (" with uncommitted changes" if commit.get("dirty") else ""),
        ),
        ("date", results.datetime),
    ]
    return "## Machine and software\n\n" + table(["", ""], rows, numbers=False)


def _epoch_description(results: Results) -> str:
    data = results.run.get("data") or {}
    name = data.get("name", "unrecorded data") if data.get("real") else "random data of MNIST's shape"
    return f"[784, 128, 10], float32, batch 128, on {name} (60,000 samples),"


def _method(results: Results) -> str:
    data = results.run.get("data") or {}
    settings = results.run.get("settings") or {}
    notes = "; ".join(data.get("notes") or [])
    if not data:
        source = "not recorded"
    elif data.get("real"):
        source = f"**{data['name']}**, {data['n_train']:,} training images from `{data['source']}`"
        source += f" (passed over: {notes})" if notes else ""
    else:
        source = (
            f"**random data** of MNIST's shape ({data.get('source')}), because no 60,000-image MNIST or "
            f"Fashion-MNIST was found ({notes}). Timings do the same arithmetic as on real data; "
            "the training curves mean nothing"
        )
    return "\n".join(
        [
            "## Data and method\n",
            f"- Data: {source}. An epoch is 60,000 samples, as in the literature.",
            "- An epoch benchmark times `Trainer.run_epoch`: a permutation of the training rows, then "
            "the steps (forward, backward, SGD with momentum 0.9); no evaluation. Network [784, 128, 10], "
            "float32, batch 128 unless a sweep says otherwise. One untimed warm-up epoch keeps Numba's "
            "compilation and first-touch costs out; the tables quote the median of the rounds.",
            f"- numpy and numba train {settings.get('epoch_samples', '?'):,} samples per round; loops trains "
            f"{settings.get('loops_samples', '?'):,} and its time per sample is scaled to 60,000 (marked "
            "*scaled*). Sweep points train "
            f"{settings.get('sweep_samples', '?'):,} samples per round and are scaled the same way.",
            "- FLOPs are those of the matrix products: per sample, 2·k·n for each layer's forward product "
            "and again for its weight gradient, plus 2·k·n for the input gradient of every layer but the "
            "first (for [784, 128, 10]: 2·(784·128 + 128·10) + 2·(784·128 + 128·10) + 2·128·10). The "
            "**floor** is an epoch's FLOPs at the sgemm rate measured in the same run: the time the products "
            "would take if each ran as fast as the large sgemm.",
            "- PyTorch, when installed, trains the same network the same way (`nn.Linear`, `ReLU`, "
            "`CrossEntropyLoss`, SGD with momentum 0.9, each batch gathered by index) on the CPU with "
            "`torch.set_num_threads` equal to the thread count of the other backends.",
        ]
    )


def _epoch(results: Results, figures: list[str]) -> str:
    t = analysis.epoch_table(results)
    if t.empty:
        return "## One training epoch\n\n" + NOT_MEASURED
    rows = [
        (
            row.backend,
            f"{int(row.samples):,}",
            seconds(row.epoch_seconds) + (" *scaled*" if row.scaled else ""),
            seconds(row.epoch_iqr),
            f"{seconds(row.epoch_min)} – {seconds(row.epoch_max)}",
            int(row.rounds),
            times(row.vs_loops),
            times(row.vs_numpy),
            number(row.samples_per_second),
            number(row.gflops),
            percent(row.sgemm_fraction),
            times(row.floor_ratio),
        )
        for row in t.itertuples()
    ]
    headers = [
        "backend",
        "samples per round",
        "epoch (median)",
        "IQR",
        "min – max",
        "rounds",
        "speed-up vs loops",
        "vs numpy",
        "samples/s",
        "GFLOP/s",
        "of sgemm",
        "x floor",
    ]
    text = "## One training epoch\n\n" + table(headers, rows)
    if "pytorch" not in t.index:
        text += (
            "\n\nPyTorch: not measured in this run (not installed; `pip install -e '.[torch]'` adds its row)."
        )
    return text + "\n\n" + figure("epoch_time.png", figures, "epoch time per backend")


def _limit(results: Results) -> str:
    rates = analysis.sgemm_rates(results)
    if not rates:
        return "## The limit: sgemm and the epoch floor\n\n" + NOT_MEASURED
    peak = results.study("peak")
    shape = peak["shape"].iloc[0]
    rows = [(threads, number(rate)) for threads, rate in sorted(rates.items())]
    t = analysis.epoch_table(results)
    floor = t["floor_seconds"].dropna() if not t.empty else t
    text = (
        f"## The limit: sgemm and the epoch floor\n\nNumPy's BLAS on a {shape} float32 product:\n\n"
        + table(["threads", "GFLOP/s"], rows)
    )
    if len(floor):
        flops = t["epoch_flops"].iloc[0]
        text += (
            f"\n\nAn epoch of [784, 128, 10] is {flops / 1e9:.3g} GFLOP, so at "
            f"{number(analysis.sgemm_rate(results))} GFLOP/s its floor is **{seconds(floor.iloc[0])}**."
        )
    return text


def _kernels(results: Results, figures: list[str]) -> str:
    kernels = results.study("kernel")
    if kernels.empty:
        return "## Kernels\n\n" + NOT_MEASURED
    backends = list(analysis.ordered(kernels)["backend"].unique())
    rows = []
    for name, points in kernels.groupby("kernel", sort=False):
        by_backend = points.set_index("backend")
        cells = []
        for backend in backends:
            if backend not in by_backend.index:
                cells.append("")
                continue
            p = by_backend.loc[backend]
            rate = f"{number(p.gflops)} GFLOP/s" if p.flops > 0 else f"{number(p.gbytes_per_s)} GB/s"
            cells.append(f"{seconds(p['median'])} ({rate})")
        ratio = by_backend["median"].get("numba", float("nan")) / by_backend["median"].get(
            "numpy", float("nan")
        )
        rows.append((name, f"`{points['shape'].iloc[0]}`", *cells, number(ratio)))
    text = (
        "## Kernels\n\nTime per call (median) and achieved rate, at the shapes of a batch-128 step; "
        f"threads = {int(kernels['threads'].max())}. Element-wise rates count every argument read or "
        "written once.\n\n" + table(["kernel", "shape", *backends, "numba / numpy time"], rows)
    )
    return text + "\n\n" + figure("kernel_rates.png", figures, "kernel GFLOP/s and GB/s per backend")


def _variants(results: Results) -> str:
    v = analysis.variant_table(results)
    if v.empty:
        return ""  # the variants exist only once kernels.jit_matmul.MATMUL_VARIANTS does
    rows = [
        (row.variant, seconds(row.median), number(row.gflops), percent(row.sgemm_fraction), int(row.threads))
        for row in v.itertuples()
    ]
    return (
        "## Matmul variants\n\n`kernels.jit_matmul.MATMUL_VARIANTS` at the forward shape "
        f"`{v['shape'].iloc[0]}`, against NumPy's sgemm at the same shape and thread count.\n\n"
        + table(["variant", "time per call", "GFLOP/s", "of sgemm", "threads"], rows)
    )


def _sweeps(results: Results, figures: list[str]) -> str:
    parts = ["## How the cost grows"]
    batches = results.study("batch")
    parts.append("### Batch size")
    if batches.empty:
        parts.append(NOT_MEASURED)
    else:
        per_sample = batches.pivot_table(index="batch", columns="backend", values="seconds_per_sample")
        epoch = analysis.sweep(results, "batch", "batch")
        cols = sorted(epoch.columns, key=analysis.rank)
        pair = set(analysis.PAIR) <= set(cols)
        rows = [
            (
                int(b),
                *[number(1e6 * per_sample.at[b, c]) for c in cols],
                *[seconds(epoch.at[b, c]) for c in cols],
                number(epoch.at[b, "numpy"] / epoch.at[b, "numba"]) if pair else "",
            )
            for b in epoch.index
        ]
        headers = [
            "batch",
            *[f"{c} µs/sample" for c in cols],
            *[f"{c} epoch (scaled)" for c in cols],
            "numpy / numba",
        ]
        parts += [table(headers, rows), figure("batch_sweep.png", figures, "epoch time against batch size")]
    widths = results.study("width")
    parts.append("### Hidden width")
    if widths.empty:
        parts.append(NOT_MEASURED)
    else:
        epoch = analysis.sweep(results, "width", "hidden")
        flops = widths.groupby("hidden")["epoch_flops"].first()
        cols = sorted(epoch.columns, key=analysis.rank)
        rows = []
        for h in epoch.index:
            floor = analysis.floor_seconds(results, flops[h])
            rows.append(
                (
                    int(h),
                    f"{flops[h] / 1e9:.3g}",
                    seconds(floor) if floor else "n/a",
                    *[seconds(epoch.at[h, c]) for c in cols],
                    *[times(epoch.at[h, c] / floor) if floor else "n/a" for c in cols],
                )
            )
        headers = [
            "hidden",
            "GFLOP per epoch",
            "floor",
            *[f"{c} epoch (scaled)" for c in cols],
            *[f"{c} x floor" for c in cols],
        ]
        parts += [table(headers, rows), figure("width_sweep.png", figures, "epoch time against hidden width")]
    parts.append("### Threads")
    threads = analysis.threads_table(results)
    if threads.empty:
        parts.append(NOT_MEASURED)
    else:
        rows = [
            (r.what, seconds(r.one), seconds(r.all), r.threads, times(r.speedup))
            for r in threads.itertuples()
        ]
        parts.append(
            "Epochs scaled to 60,000 samples (batch 128); sgemm per call.\n\n"
            + table(["what", "1 thread", "all threads", "threads", "speed-up"], rows)
        )
    return "\n\n".join(parts)


def _curves(results: Results, figures: list[str]) -> str:
    if not results.curves:
        return "## Training curves\n\n" + NOT_MEASURED
    rows = [
        (backend, f"{int(info['samples']):,}", f"{int(info['test_samples']):,}", len(history),
         f"{history[-1]['train_loss']:.3f}", percent(history[-1]["test_accuracy"]))
        for backend, info in results.curves.items()
        if (history := info.get("history"))
    ]  # fmt: skip
    headers = [
        "backend",
        "train samples",
        "test samples",
        "epochs",
        "final train loss",
        "final test accuracy",
    ]
    some = next(iter(results.curves.values()))
    return (
        "## Training curves\n\nA short real run per backend (batch "
        f"{some.get('batch')}, learning rate {some.get('lr')} with a cosine schedule over the run, data "
        f"{some.get('dataset')}), to show that every backend trains; not timed (the first epoch includes "
        "Numba's compilation). loops trains far fewer samples, so its curve compares in shape, not in level."
        f"\n\n{table(headers, rows)}\n\n"
        + figure("training_curves.png", figures, "training loss and test accuracy per epoch")
    )


def _techniques(results: Results) -> str:
    t = analysis.technique_table(results)
    if t.empty:
        return ""
    rows = [
        (
            row.technique,
            row.batch,
            seconds(row.without),
            seconds(row.with_),
            times(row.gain),
            times(row.expected),
            row.why,
        )
        for row in t.rename(columns={"with": "with_"}).itertuples()
    ]
    return (
        "## What the fused step bought\n\nThe numba backend's epoch (scaled to 60,000 samples) composed "
        "from its operations and NumPy's optimizer, and with its fused training step, side by side; the "
        "expected gain was written down before the first measurement.\n\n"
        + table(["technique", "batch", "composed", "fused", "gain", "expected", "why we expected it"], rows)
    )


def _targets(results: Results, repeat: Results | None) -> str:
    again = {t.quantity: t.measured for t in analysis.targets(repeat)} if repeat else {}
    rows = [
        (t.quantity, number(t.measured), t.wanted, t.met_again(again.get(t.quantity)))
        for t in analysis.targets(results)
    ]
    return (
        "## Targets\n\nThe speed targets, each a ratio of times (or rates) measured side by side in this "
        "run, so that they hold whatever the machine's absolute speed (n/a: not measured)."
        + (
            " Where the repeat run came to the other verdict, it is given beside this run's."
            if repeat
            else ""
        )
        + "\n\n"
        + table(["quantity", "measured", "target", "met"], rows, numbers=False)
    )


def _budgets(results: Results) -> str:
    parts = [part for part in (_numpy_budget(results), _small_batch_budget(results)) if part]
    if not parts:
        return ""
    return (
        "## Where the time goes\n\nThe numpy epoch against the floor and numba's lead at small batches, "
        "in the parts of a step measured in this run.\n\n" + "\n\n".join(parts)
    )


def _numpy_budget(results: Results) -> str:
    budget = analysis.numpy_step_budget(results)
    if budget.empty:
        return ""
    detail = {
        analysis.PRODUCTS_PART: f" ({', '.join(budget.attrs['products'])})",
        analysis.ELEMENTWISE_PART: f" ({', '.join(budget.attrs['elementwise'])})",
    }
    rows = [
        (
            row.part + detail.get(row.part, ""),
            seconds(row.seconds),
            times(row.floor_ratio),
            percent(row.share),
        )
        for row in budget.itertuples()
    ]
    return (
        f"### A numpy step at batch {budget.attrs['batch']}\n\nThe numpy epoch per step, and its parts "
        "timed alone in this run (the kernels at the step's shapes, the trainer's gather of a batch from "
        "the shuffled training set, NumPy's momentum update); the floor's step is "
        f"{seconds(budget.attrs['floor_step'])}.\n\n"
        + table(["part", "per step", "x floor step", "of the step"], rows)
    )


def _small_batch_budget(results: Results) -> str:
    small = analysis.small_batch_budget(results)
    if small.empty:
        return ""
    rows = [
        (
            row.batch,
            seconds(row.numpy_step),
            seconds(row.needed),
            seconds(row.numba_step),
            seconds(row.forward),
            seconds(row.update),
            f"{row.kernel_gflops:.3g}",
        )
        for row in small.itertuples()
    ]
    headers = [
        "batch",
        "numpy step",
        "numba step needed",
        "numba step",
        "X @ W1",
        "X.T @ dZ1 + update",
        "GFLOP/s of the two",
    ]
    target = f"{analysis.SMALL_BATCH_TARGET:g}"
    return (
        f"### A numba step at small batches\n\nThe steps from the batch sweep; a {target}x lead needs the "
        f"numba step at most the numpy step / {target}. Beside it, the two kernels of the fused step that "
        "stream the first layer's weights, timed alone at that batch (`bench/test_budget.py`): the forward "
        "product and the weight gradient applied as the momentum update (`jit_matmul.matmul_tn_momentum`). "
        "At these sizes they run on one thread (`kernels/jit_matmul.py` says why).\n\n" + table(headers, rows)
    )


def repeat_summary(results: Results, repeat: Results) -> str:
    """How far the target ratios moved between this run and an independent second run, and how that
    compares with the run's own spread."""
    t = analysis.repeatability(results, repeat)
    spreads = analysis.spread(results)
    if t.empty:
        return "The second run measured none of the same ratios."
    worst = t.loc[t["difference"].idxmax()]
    text = (
        f"Across the two runs the ratios differ by a median of {percent(t['difference'].median())} "
        f"(largest: {percent(worst['difference'])}, {worst['quantity']})."
    )
    if len(spreads):
        beyond = int((t["difference"] > 2 * spreads.median()).sum())
        text += (
            " This run's own noise, the spread (IQR / median) of its epoch rounds, is "
            f"{percent(spreads.median())} at the median and {percent(spreads.max())} at worst; a ratio of "
            f"two such times carries about twice that. {beyond} of {len(t)} ratios differ between the runs "
            "by more than twice the median spread"
        )
        text += (
            ": the rounds of one run agree better than two runs do, so read each ratio with its "
            "difference between the runs as its uncertainty, not with the spread."
            if beyond
            else "."
        )
    return text


def _repeatability(results: Results, repeat: Results | None) -> str:
    if repeat is None:
        return ""
    t = analysis.repeatability(results, repeat)
    rows = [(r.quantity, number(r.this_run), number(r.repeat), percent(r.difference)) for r in t.itertuples()]
    return (
        f"## Repeatability\n\nThe same benchmarks run again, independently (`{repeat.path.name}`, "
        f"finished {repeat.datetime}), on the same machine. {repeat_summary(results, repeat)}\n\n"
        + table(["quantity", "this run", "repeat", "difference"], rows, numbers=False)
    )


def _raw(results: Results) -> str:
    return (
        "## Raw numbers\n\n"
        f"- `{results.path.name}`: all that pytest-benchmark recorded, with each benchmark's `extra_info`.\n"
        f"- `{BENCHMARKS_CSV}`: one row per benchmark with the derived columns used above.\n"
        f"- `{CURVES_CSV}`: the training curves, one row per backend and epoch."
    )


# --- command line -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path, help="a pytest-benchmark JSON written by a run of bench/")
    parser.add_argument("--out", type=Path, default=None, help="folder for the report (default: the JSON's)")
    parser.add_argument(
        "--repeat", type=Path, default=None, help="the JSON of a second run, to check the ratios against"
    )
    args = parser.parse_args(argv)
    try:
        report = build_report(args.json, args.out, args.repeat)
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
