"""The report's figures. Each is a function of the results that returns a matplotlib Figure, or None when
its study is not in the results; every label and line is read from the rows. Saving is the builder's."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: no display, and the same output on every machine

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator  # noqa: E402

from reports import analysis  # noqa: E402
from reports.claims import AT_MOST  # noqa: E402
from reports.fmt import bound  # noqa: E402
from reports.results import Results  # noqa: E402
from reports.roles import PEER, PEER_COMPILED  # noqa: E402

# a backend's colour by its place in the registry (``analysis.rank``), so that a new backend gets its own
COLORS = ["tab:gray", "tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink"]
# the outside references', whatever the registry holds
PEER_COLORS = {PEER: "tab:red", PEER_COMPILED: "tab:olive"}
# (marker, line style) of a backend's training curves, by its place in the registry: backends that compute
# the same numbers have curves that coincide, and a marker and dash of its own keep each one visible
CURVE_STYLES = [("s", "-"), ("o", "-"), ("x", "--"), ("D", ":"), ("^", "-.")]
MARKERS = "osD^vP*X<>hp"  # one per kernel of the step
ROOF_DASHES = [(0, (1, 1)), (0, (3, 1)), (0, (5, 2)), (0, (8, 3))]  # the bandwidth roofs, fastest level first
VERDICT_COLORS = {"met": "tab:green", "not met": "tab:red", "unclear": "tab:orange", "": "black"}
FLOOR = {"color": "black", "linestyle": "--", "linewidth": 1}  # the floor line of the epoch figures
POINT = {"marker": "o", "capsize": 3}  # a sweep's points, with their min-max whiskers
BAR_LABEL = {"xytext": (0, 6), "textcoords": "offset points", "ha": "center", "fontsize": 9}


def _color(backend: str) -> str:
    return PEER_COLORS.get(backend) or COLORS[analysis.rank(backend) % len(COLORS)]


def _figure(ncols: int = 1, width: float = 7.0, height: float = 4.2):
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False, layout="constrained")
    return fig, axes[0]


MINOR_LABELS_MAX_DECADES = 3  # a wider log axis labels 2 and 5 of each decade over each other


def _log(ax, which: str = "y") -> None:
    """A log axis labelled with plain numbers (0.5, 2, 100), not powers of ten, at 1, 2 and 5 of each
    decade, so that an axis spanning less than a decade still reads; one spanning more than
    ``MINOR_LABELS_MAX_DECADES`` is labelled at its decades only (decided when drawn, on the final
    limits)."""
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    plain = FuncFormatter(lambda v, _: f"{v:g}")

    def minor(value: float, _) -> str:
        low, high = axis.get_view_interval()
        return f"{value:g}" if np.log10(high / low) <= MINOR_LABELS_MAX_DECADES else ""

    axis.set_major_formatter(plain)
    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    axis.set_minor_formatter(FuncFormatter(minor))


def _network(rows) -> str:
    """What the rows share, in this order: the network, the dtype, the data set, the batch (a sweep's
    varied setting is left out)."""
    shown = {"layer_sizes": str, "dtype": str, "dataset": str, "batch": lambda v: f"batch {int(v)}"}
    return ", ".join(show(rows[c].iloc[0]) for c, show in shown.items() if rows[c].nunique() == 1)


def _whiskers(rows) -> np.ndarray:
    """The distances from the scaled epoch's median down to its fastest round and up to its slowest."""
    median = rows["epoch_seconds"].to_numpy()
    return np.vstack([median - rows["min"] * rows["epoch_scale"], rows["max"] * rows["epoch_scale"] - median])


def epoch_time(results: Results) -> Figure | None:
    """Seconds per epoch per backend (log), min-max whiskers, hatched where scaled, and the floor."""
    t = analysis.epoch_table(results)
    if t.empty:
        return None
    fig, (ax,) = _figure()
    x = np.arange(len(t))
    median, whiskers = t["epoch_seconds"].to_numpy(), _whiskers(t)
    bars = ax.bar(x, median, color=[_color(b) for b in t["backend"]], yerr=whiskers, capsize=4)
    for bar, scaled, value, top in zip(bars, t["scaled"], median, median + whiskers[1]):
        bar.set_hatch("//" if scaled else "")
        ax.annotate(f"{value:.3g} s", (bar.get_x() + bar.get_width() / 2, top), **BAR_LABEL)
    ax.set_xticks(
        x, [f"{b}\n(scaled from {int(n):,})" if s else b for b, n, s in zip(t.backend, t.samples, t.scaled)]
    )
    floor = t["floor_seconds"].min()
    if not np.isnan(floor):
        ax.axhline(floor, label=f"floor at the measured peak ({floor:.3g} s)", **FLOOR)
        ax.legend(loc="upper right")
    _log(ax)
    ax.set_ylim(top=ax.get_ylim()[1] * 3)  # room for the labels above the tallest bar
    ax.set_ylabel(f"seconds per epoch of {int(t['epoch_samples'].iloc[0]):,} samples (log)")
    ax.set_title(f"One training epoch, {_network(t)} (median, min-max)", fontsize=10)
    return fig


def _span(counts: pd.Series) -> str:
    """``counts`` as one number, or their range where they differ: 16,384, or 2,048 to 16,384."""
    low, high = int(counts.min()), int(counts.max())
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def _sweep(results: Results, study: str, key: str, xlabel: str) -> Figure | None:
    times = analysis.sweep(results, study, key)
    if times.empty:
        return None
    points = analysis.sweep_points(results, study)
    fig, (ax,) = _figure()
    for backend in times.columns:
        rows = points[points["backend"] == backend].set_index(key).loc[times.index]
        label = f"{backend} (median, min-max)"
        ax.errorbar(
            times.index, rows["epoch_seconds"], _whiskers(rows), color=_color(backend), label=label, **POINT
        )
    work = points.groupby(key)[["epoch_flops", "dtype"]].first()
    floors = [analysis.floor_seconds(results, f, d) for f, d in zip(work["epoch_flops"], work["dtype"])]
    if not np.isnan(floors).all():
        ax.plot(work.index, floors, label="floor at the measured peak", **FLOOR)
    ax.set_xscale("log", base=2)
    ax.set_xticks(times.index, [str(int(v)) for v in times.index])
    ax.minorticks_off()
    _log(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"seconds per {int(points['epoch_samples'].iloc[0]):,}-sample epoch (log)")
    ax.set_title(
        f"Epoch time against {xlabel.split(' (')[0]}, {_network(points)}\n(each point: "
        f"{_span(points['samples'])} samples per round, scaled to a full epoch)",
        fontsize=10,
    )
    ax.legend()
    return fig


def batch_sweep(results: Results) -> Figure | None:
    return _sweep(results, "batch", "batch", "batch size (log 2)")


def width_sweep(results: Results) -> Figure | None:
    return _sweep(results, "width", "hidden", "hidden width (log 2)")


def roofline(results: Results) -> Figure | None:
    """Every kernel of every backend at its arithmetic intensity, under the measured peak and bandwidths:
    colour names the backend, the marker the kernel."""
    points = analysis.roofline_points(results)
    peak = analysis.peak_rate(results, next(iter(points["dtype"]), None))  # in the kernels' dtype
    if points.empty or np.isnan(peak):
        return None
    fig, (ax,) = _figure(width=10, height=5.5)
    x = np.geomspace(min(points["intensity"].min(), 0.05) / 2, max(points["intensity"].max(), 100) * 2, 200)
    roofs = [(f"FMA peak: {peak:.3g} GFLOP/s", np.full_like(x, peak), "-")]
    for (level, rate), dashes in zip(analysis.bandwidth(results).max(axis=1).items(), ROOF_DASHES):
        roofs.append((f"{level}: {rate:.3g} GB/s", np.minimum(peak, rate * x), dashes))
    for label, y, dashes in roofs:
        ax.plot(x, y, color="black", linewidth=1, linestyle=dashes, label=label)
    for (threads, rate), dashes in zip(analysis.sgemm_rates(results).items(), ("--", "-.")):
        ax.axhline(rate, color="tab:blue", linewidth=1, linestyle=dashes, label=f"sgemm, {threads:g} thr.")
    markers = dict(zip(dict.fromkeys(points["kernel"]), MARKERS))
    for r in points.itertuples():
        ax.scatter(r.intensity, r.gflops, color=_color(r.backend), marker=markers[r.kernel], zorder=3)
    lines = ax.get_legend_handles_labels()[0]
    backends = [ax.scatter([], [], color=_color(b), label=b) for b in dict.fromkeys(points["backend"])]
    kernels = [ax.scatter([], [], color="gray", marker=m, label=k) for k, m in markers.items()]
    outside = {"fontsize": 7, "bbox_to_anchor": (1.01, 1), "loc": "upper left"}  # the points stay visible
    ax.add_artist(ax.legend(handles=lines + backends, **outside))
    ax.legend(
        handles=kernels, title="kernel", **(outside | {"bbox_to_anchor": (1.01, 0), "loc": "lower left"})
    )
    _log(ax, "x")
    _log(ax)
    ax.set_xlabel("arithmetic intensity (FLOP per byte of compulsory traffic, log)")
    ax.set_ylabel("GFLOP/s (log)")
    ax.set_title("Roofline: the step's kernels against the machine's measured limits", fontsize=10)
    return fig


def headline(results: Results) -> Figure | None:
    """Each claim's ratio over its bound, turned so that right of 1 is the bound's good side: one scale for
    bounds from 0.7 to 6, each with its interval."""
    h = analysis.headline(results)
    h = h[h["bound"].notna()]
    if h.empty:
        return None
    fig, (ax,) = _figure(width=8, height=0.4 * len(h) + 1.4)
    y = np.arange(len(h))[::-1]
    for yi, r in zip(y, h.itertuples()):
        # an upper bound turned over: bound / ratio, its interval's ends swapped
        margin, low, high = (
            (r.bound / r.ratio, r.bound / r.high, r.bound / r.low)
            if r.sense == AT_MOST
            else (r.ratio / r.bound, r.low / r.bound, r.high / r.bound)
        )
        color = VERDICT_COLORS.get(r.verdict, "black")
        ax.errorbar(margin, yi, xerr=[[margin - low], [high - margin]], fmt="o", color=color, capsize=3)
    ax.axvline(1.0, color="black", linewidth=1.5)
    ax.set_yticks(y, [f"{q} ({bound(b, s)})" for q, b, s in zip(h["quantity"], h["bound"], h["sense"])])
    ax.tick_params(axis="y", labelsize=8)
    _log(ax, "x")
    ax.set_xlabel("ratio over its bound (log), 95% interval")
    ax.set_title(
        "Claims we test (upper bounds turned over)\nright of the line: met; green met, red not met, "
        "orange unclear",
        fontsize=10,
    )
    return fig


def training_curves(results: Results) -> Figure | None:
    """Training loss and test accuracy per epoch for each backend's short real run."""
    curves = {r.backend: results.extra[r.name] for r in analysis.ordered(results.study("curve")).itertuples()}
    if not curves:
        return None
    fig, (loss_ax, acc_ax) = _figure(ncols=2, width=11)
    for backend, info in curves.items():
        history = info.get("history") or []
        marker, linestyle = CURVE_STYLES[analysis.rank(backend) % len(CURVE_STYLES)]
        label = f"{backend} ({int(info['samples']):,} train / {int(info['test_samples']):,} test)"
        style = {"marker": marker, "linestyle": linestyle, "color": _color(backend), "label": label}
        epochs = [h["epoch"] for h in history]
        loss_ax.plot(epochs, [h["train_loss"] for h in history], **style)
        acc_ax.plot(epochs, [100 * h["test_accuracy"] for h in history], **style)
    for ax, label in ((loss_ax, "mean training cross-entropy (nats)"), (acc_ax, "test accuracy (%)")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    return fig


def vector_width(levels: pd.DataFrame) -> Figure | None:
    """Each backend's speed-up over the one before it against the vector width it ran at, one panel each
    (their scales differ a thousandfold), with intervals (``reports.analysis.vector_widths``)."""
    if levels.empty:
        return None
    speedups = analysis.WIDTH_SPEEDUPS
    fig, axes = _figure(ncols=len(speedups), width=4.2 * len(speedups), height=4.0)
    labels = [f"{bits}\n{isa}" for bits, isa in zip(levels["vector_bits"], levels["isa"])]
    for ax, (name, (_, fast)) in zip(axes, speedups.items()):
        y = levels[name]
        error = [y - levels[f"{name} low"].fillna(y), levels[f"{name} high"].fillna(y) - y]
        ax.errorbar(levels["vector_bits"], y, yerr=error, color=_color(fast), **POINT)
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels["vector_bits"], labels)
        ax.xaxis.set_minor_locator(NullLocator())
        _log(ax, "y")
        ax.set_title(f"{name} (log), 95% interval", fontsize=10)
        ax.set_xlabel("vector width (bits) and ISA level")
    fig.suptitle(
        f"Speed-ups against the vector width Numba compiled for and OpenBLAS ran, batch "
        f"{levels['batch'].iloc[0]}",
        fontsize=10,
    )
    return fig


FIGURES = {
    "headline.png": headline,
    "epoch_time.png": epoch_time,
    "roofline.png": roofline,
    "batch_sweep.png": batch_sweep,
    "width_sweep.png": width_sweep,
    "training_curves.png": training_curves,
}
