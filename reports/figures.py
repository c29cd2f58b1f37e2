"""The report's figures, each a function of the results that returns a matplotlib Figure (or None when
its study is not in the results). Saving is the builder's business."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: no display, and the same output on every machine

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from reports.analysis import (  # noqa: E402
    epoch_table,
    floor_seconds,
    ordered,
    rank,
    sgemm_rate,
    sweep,
)
from reports.results import Results  # noqa: E402

COLORS = {"loops": "tab:gray", "numpy": "tab:blue", "numba": "tab:orange", "pytorch": "tab:red"}
# numpy and numba compute the same numbers, so their curves coincide: styles keep both visible
LINES = {"loops": ("s", "-"), "numpy": ("o", "-"), "numba": ("x", "--")}
ELEMENTWISE = ["relu", "relu_backward", "softmax", "softmax_xent"]


def _color(backend: str) -> str:
    return COLORS.get(backend, "tab:green")


def _figure(ncols: int = 1, width: float = 7.0) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(1, ncols, figsize=(width, 4.2), squeeze=False, layout="constrained")
    return fig, axes[0]


def _log_y(ax) -> None:
    """A log y axis labelled with plain numbers (0.5, 2, 100), not powers of ten."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def epoch_time(results: Results) -> Figure | None:
    """Seconds per 60,000-sample epoch per backend, log scale, with min-max whiskers and the floor."""
    table = epoch_table(results)
    if table.empty:
        return None
    fig, (ax,) = _figure()
    x = np.arange(len(table))
    median = table["epoch_seconds"].to_numpy()
    whiskers = np.vstack([median - table["epoch_min"], table["epoch_max"] - median])
    bars = ax.bar(x, median, color=[_color(b) for b in table["backend"]], yerr=whiskers, capsize=4)
    for bar, scaled, seconds, top in zip(bars, table["scaled"], median, table["epoch_max"]):
        if scaled:
            bar.set_hatch("//")
        ax.annotate(  # above the whisker, so that the two never overlap
            f"{seconds:.3g} s",
            (bar.get_x() + bar.get_width() / 2, max(seconds, top)),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
        )
    labels = [
        f"{b}\n(scaled from {int(n):,})" if s else b
        for b, n, s in zip(table.backend, table.samples, table.scaled)
    ]
    ax.set_xticks(x, labels)
    if table["scaled"].any():
        ax.bar(
            [0], [np.nan], color="white", edgecolor="black", hatch="//", label="hatched: scaled from a subset"
        )
    floor = table["floor_seconds"].min()
    if not np.isnan(floor):
        ax.axhline(
            floor, color="black", linestyle="--", linewidth=1, label=f"floor at sgemm rate ({floor:.3g} s)"
        )
    ax.legend(loc="upper right")
    _log_y(ax)
    ax.set_ylim(top=ax.get_ylim()[1] * 3)  # room for the value labels above the tallest bar
    ax.set_ylabel(f"seconds per epoch of {int(table['epoch_samples'].iloc[0]):,} samples (log)")
    ax.set_title("One training epoch, [784, 128, 10], batch 128, float32 (median, min-max)")
    return fig


def _sweep_figure(results: Results, study: str, key: str, xlabel: str, title: str) -> Figure | None:
    times = sweep(results, study, key)
    if times.empty:
        return None
    points = results.study(study)
    fig, (ax,) = _figure()
    for backend in sorted(times.columns, key=rank):
        rows = points[points["backend"] == backend].set_index(key).loc[times.index]
        whiskers = np.vstack(
            [rows["epoch_seconds"] - rows["epoch_min"], rows["epoch_max"] - rows["epoch_seconds"]]
        )
        ax.errorbar(
            times.index,
            rows["epoch_seconds"],
            yerr=whiskers,
            marker="o",
            capsize=3,
            color=_color(backend),
            label=f"{backend} (median, min-max)",
        )
    flops = points.groupby(key)["epoch_flops"].first()
    floors = [floor_seconds(results, f) for f in flops]
    if all(f is not None for f in floors):
        ax.plot(flops.index, floors, color="black", linestyle="--", linewidth=1, label="floor at sgemm rate")
    ax.set_xscale("log", base=2)
    ax.set_xticks(times.index, [str(int(v)) for v in times.index])
    ax.minorticks_off()
    _log_y(ax)
    ax.set_xlabel(xlabel)
    samples = int(points["samples"].iloc[0])
    ax.set_ylabel(f"seconds per {int(points['epoch_samples'].iloc[0]):,}-sample epoch (log)")
    ax.set_title(f"{title}\n(each point: {samples:,} samples per round, scaled to a full epoch)", fontsize=10)
    ax.legend()
    return fig


def batch_sweep(results: Results) -> Figure | None:
    return _sweep_figure(
        results, "batch", "batch", "batch size (log 2)", "Epoch time against batch size, [784, 128, 10]"
    )


def width_sweep(results: Results) -> Figure | None:
    return _sweep_figure(
        results, "width", "hidden", "hidden width (log 2)", "Epoch time against hidden width, batch 128"
    )


def _grouped_bars(ax, frame, kernels: list[str], value: str) -> None:
    backends = [b for b in ordered(frame)["backend"].unique()]
    width = 0.8 / len(backends)
    for i, backend in enumerate(backends):
        rows = frame[frame["backend"] == backend].set_index("kernel")
        heights = [rows[value].get(k, np.nan) for k in kernels]
        ax.bar(
            np.arange(len(kernels)) + (i - (len(backends) - 1) / 2) * width,
            heights,
            width,
            color=_color(backend),
            label=backend,
        )
    ax.set_xticks(np.arange(len(kernels)), [k.replace("_", "\n", 1) for k in kernels], fontsize=8)
    _log_y(ax)


def kernel_rates(results: Results) -> Figure | None:
    """Achieved GFLOP/s of the step's products and GB/s of the element-wise kernels, per backend."""
    kernels = results.study("kernel")
    if kernels.empty:
        return None
    fig, (left, right) = _figure(ncols=2, width=11)
    products = list(dict.fromkeys(kernels.loc[kernels["flops"].gt(0), "kernel"]))  # in the benchmarks' order
    _grouped_bars(left, kernels, products, "gflops")
    rate = sgemm_rate(results)
    if rate:
        left.axhline(rate, color="black", linestyle="--", linewidth=1, label=f"sgemm {rate:.3g} GFLOP/s")
    left.set_ylabel("GFLOP/s (log)")
    left.set_title("Matrix products at batch 128", fontsize=10)
    elementwise = [k for k in ELEMENTWISE if k in set(kernels["kernel"])]
    _grouped_bars(right, kernels, elementwise, "gbytes_per_s")
    right.set_ylabel("GB/s of arguments read and written (log)")
    right.set_title("Element-wise kernels at batch 128", fontsize=10)
    # one legend above both panels: inside either it would cover the tallest bars
    fig.legend(*left.get_legend_handles_labels(), loc="outside upper center", ncols=5, fontsize=9)
    return fig


def training_curves(results: Results) -> Figure | None:
    """Training loss and test accuracy per epoch for each backend's short real run."""
    if not results.curves:
        return None
    fig, (loss_ax, acc_ax) = _figure(ncols=2, width=11)
    for backend in sorted(results.curves, key=rank):
        info = results.curves[backend]
        history = info.get("history") or []
        epochs = [h["epoch"] for h in history]
        label = (
            f"{backend} ({int(info.get('samples', 0)):,} train / {int(info.get('test_samples', 0)):,} test)"
        )
        marker, linestyle = LINES.get(backend, ("o", "-"))
        style = {"marker": marker, "linestyle": linestyle, "color": _color(backend), "label": label}
        loss_ax.plot(epochs, [h["train_loss"] for h in history], **style)
        acc_ax.plot(epochs, [100 * h["test_accuracy"] for h in history], **style)
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    loss_ax.set_ylabel("mean training cross-entropy (nats)")
    acc_ax.set_ylabel("test accuracy (%)")
    loss_ax.set_title("Training loss", fontsize=10)
    acc_ax.set_title("Test accuracy", fontsize=10)
    return fig


FIGURES = {
    "epoch_time.png": epoch_time,
    "batch_sweep.png": batch_sweep,
    "width_sweep.png": width_sweep,
    "kernel_rates.png": kernel_rates,
    "training_curves.png": training_curves,
}
