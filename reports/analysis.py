"""The numbers the report states: the limit (sgemm and the epoch floor), the comparison tables, the
targets, and the findings, every one computed from the results so that no sentence can disagree with them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from kernels import available_backends
from reports.results import Results

PEER = "pytorch"  # the one reference from outside the project, timed beside the backends
PAIR = ["numpy", "numba"]  # the two the speed targets (issue 6) and some findings compare head to head
PRODUCTS = ["matmul_forward", "matmul_weight_grad", "matmul_input_grad"]
EPOCH_STUDIES = ["epoch", "batch", "width", "threads"]
NOISY_SPREAD = 0.10  # an IQR above this fraction of the median: the rounds of that benchmark were noisy
NO_SCALING = 1.2  # numba's 2-thread epoch speed-up below this: the second core did not help the kernels
FLOOR_TARGET = 1.4  # issue 6, target 4: numpy epoch / floor
TORCH_TARGET = 0.75  # issue 6, target 4: numpy epoch / PyTorch epoch
SMALL_BATCH_TARGET = 4.0  # issue 6, target 3: numpy epoch / numba epoch at batches up to 16
# the parts of a numpy step (numpy_step_budget)
STEP = "whole step (epoch / steps)"
PRODUCTS_PART = "matrix products (BLAS), timed alone"
GATHER_PART = "batch gather (trainer)"
UPDATE_PART = "momentum update (NumPy)"
ELEMENTWISE_PART = "element-wise kernels, timed alone"
REST_PART = "everything else: bias adds, column sums, the loss, Python"


def rank(backend: str) -> int:
    """A backend's place in the study's tables: the registry's order, then PyTorch, then anything else (a
    backend of a saved run that is not registered now). From the registry, so that a new backend has a
    place without anyone listing it here."""
    order = [*available_backends(), PEER]
    return order.index(backend) if backend in order else len(order)


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the backends' order of the study (:func:`rank`)."""
    return frame.sort_values("backend", key=lambda s: s.map(rank), kind="stable")


def sgemm_rates(results: Results) -> dict[int, float]:
    """Measured sgemm GFLOP/s by thread count (NumPy's BLAS on the large square product)."""
    peak = results.study("peak").dropna(subset=["gflops", "threads"])
    return {int(row.threads): float(row.gflops) for row in peak.itertuples()}


def sgemm_rate(results: Results, threads: float | None = None) -> float | None:
    """The sgemm rate at ``threads`` (default: the most threads measured), None if not measured."""
    rates = sgemm_rates(results)
    if not rates:
        return None
    if threads is None or pd.isna(threads):
        return rates[max(rates)]
    return rates.get(int(threads))


def floor_seconds(results: Results, epoch_flops: float) -> float | None:
    """The least time an epoch of ``epoch_flops`` could take: all of it at the measured sgemm rate."""
    rate = sgemm_rate(results)
    return epoch_flops / (rate * 1e9) if rate else None


def epoch_table(results: Results) -> pd.DataFrame:
    """One row per backend of the epoch study, with its speed-ups, rate, and distance from the floor."""
    epochs = ordered(results.study("epoch")).set_index("backend", drop=False)
    if epochs.empty:
        return epochs
    reference = epochs["epoch_seconds"]
    epochs["vs_loops"] = reference.get("loops", math.nan) / reference
    epochs["vs_numpy"] = reference.get("numpy", math.nan) / reference
    epochs["sgemm_fraction"] = [
        row.gflops / rate if (rate := sgemm_rate(results, row.threads)) else math.nan
        for row in epochs.itertuples()
    ]
    epochs["floor_seconds"] = [floor_seconds(results, f) or math.nan for f in epochs["epoch_flops"]]
    epochs["floor_ratio"] = epochs["epoch_seconds"] / epochs["floor_seconds"]
    return epochs


def sweep(results: Results, study: str, key: str) -> pd.DataFrame:
    """Scaled epoch seconds of a sweep, one row per ``key`` value, one column per backend."""
    points = results.study(study)
    if points.empty:
        return pd.DataFrame()
    return points.pivot_table(index=key, columns="backend", values="epoch_seconds", aggfunc="first")


def threads_table(results: Results) -> pd.DataFrame:
    """Time with one thread and with all, and the speed-up: each backend's epoch, and NumPy's sgemm."""
    rows = []
    studies = [
        (f"{backend} epoch", points) for backend, points in results.study("threads").groupby("backend")
    ]
    studies.append(("sgemm (NumPy's BLAS)", results.study("peak")))
    for what, points in studies:
        by_threads = points.set_index("threads")["epoch_seconds" if what.endswith("epoch") else "median"]
        if len(by_threads) == 2:
            few, many = by_threads.index.min(), by_threads.index.max()
            rows.append({"what": what, "one": by_threads[few], "all": by_threads[many], "threads": int(many)})
    table = pd.DataFrame(rows, columns=["what", "one", "all", "threads"])
    table["speedup"] = table["one"] / table["all"]
    return table


def spread(results: Results) -> pd.Series:
    """IQR / median of every epoch measurement with more than one round: the run's own noise."""
    timed = results.table[results.table["study"].isin(EPOCH_STUDIES) & results.table["rounds"].gt(1)]
    return (timed["iqr"] / timed["median"]).dropna()


def repeatability(results: Results, repeat: Results) -> pd.DataFrame:
    """Every target ratio as this run and a second, independent run measured it."""
    again = {t.quantity: t.measured for t in targets(repeat)}
    rows = [
        {"quantity": t.quantity, "this_run": t.measured, "repeat": again[t.quantity]}
        for t in targets(results)
        if t.quantity in again and not pd.isna(t.measured) and not pd.isna(again[t.quantity])
    ]
    table = pd.DataFrame(rows, columns=["quantity", "this_run", "repeat"])
    table["difference"] = (table["this_run"] - table["repeat"]).abs() / (
        (table["this_run"] + table["repeat"]) / 2
    )
    return table


def technique_table(results: Results) -> pd.DataFrame:
    """Per technique and batch size: epoch seconds without and with it, the gain, and what was expected."""
    points = results.study("technique")
    if points.empty:
        return pd.DataFrame()
    rows = []
    for (technique, batch), pair in points.groupby(["technique", "batch"], sort=True):
        by_fused = pair.set_index(pair["fused"].astype(bool))["epoch_seconds"]
        rows.append(
            {
                "technique": technique,
                "batch": int(batch),
                "without": by_fused.get(False, math.nan),
                "with": by_fused.get(True, math.nan),
                "expected": float(pair["expected_gain"].iloc[0]),
                "why": pair["expected_why"].iloc[0],
            }
        )
    table = pd.DataFrame(rows)
    table["gain"] = table["without"] / table["with"]
    return table


def numpy_step_budget(results: Results) -> pd.DataFrame:
    """A numpy step at the epoch study's batch, in parts timed alone, and the rest by difference.

    Columns ``part``, ``seconds`` (per step), ``floor_ratio`` (over the floor's time per step) and
    ``share`` (of the step); ``attrs`` holds the batch, the floor per step and the kernels of each part.
    Empty if a part is missing.
    """
    epochs = epoch_table(results)
    kernels = results.study("kernel")
    kernels = kernels[kernels["backend"] == "numpy"]
    gather, update = results.study("gather"), results.study("optimizer")
    if "numpy" not in epochs.index or kernels.empty or gather.empty or update.empty:
        return pd.DataFrame()
    numpy_epoch = epochs.loc["numpy"]
    steps = numpy_epoch.epoch_samples / numpy_epoch.batch
    step = numpy_epoch.epoch_seconds / steps
    products = kernels[kernels["flops"].gt(0)]
    elementwise = kernels[~kernels["flops"].gt(0)]
    parts = {
        PRODUCTS_PART: products["median"].sum(),
        GATHER_PART: float(gather["median"].iloc[0]),
        UPDATE_PART: float(update["median"].iloc[0]),
        ELEMENTWISE_PART: elementwise["median"].sum(),
    }
    parts[REST_PART] = step - sum(parts.values())
    parts[STEP] = step
    table = pd.DataFrame({"part": list(parts), "seconds": list(parts.values())})
    floor_step = numpy_epoch.floor_seconds / steps
    table["floor_ratio"] = table["seconds"] / floor_step
    table["share"] = table["seconds"] / step
    table.attrs.update(
        batch=int(numpy_epoch.batch),
        epoch_samples=int(numpy_epoch.epoch_samples),
        floor_step=floor_step,
        products=list(products["kernel"]),
        elementwise=list(elementwise["kernel"]),
    )
    return table


def small_batch_budget(results: Results) -> pd.DataFrame:
    """Per small batch: numpy's and numba's step (from the batch sweep), the numba step a 4x lead needs, and
    numba's two first-layer kernels timed alone at that batch, with their rate over their FLOPs."""
    kernels = results.study("small_batch")
    batches = sweep(results, "batch", "batch")
    if kernels.empty or not set(PAIR) <= set(batches.columns):
        return pd.DataFrame()
    epoch_samples = results.study("batch")["epoch_samples"].iloc[0]
    rows = []
    for batch, pair in kernels.groupby("batch"):
        if batch not in batches.index:
            continue
        steps = epoch_samples / batch
        numpy_step, numba_step = batches.at[batch, "numpy"] / steps, batches.at[batch, "numba"] / steps
        seconds_ = pair["median"].sum()
        rows.append(
            {
                "batch": int(batch),
                "numpy_step": numpy_step,
                "needed": numpy_step / SMALL_BATCH_TARGET,
                "numba_step": numba_step,
                "forward": float(pair.loc[pair["kernel"] == "forward product", "median"].sum()),
                "update": float(pair.loc[pair["kernel"] != "forward product", "median"].sum()),
                "kernels": seconds_,
                "kernel_gflops": pair["flops"].sum() / seconds_ / 1e9,
            }
        )
    return pd.DataFrame(rows)


def kernel_table(results: Results) -> pd.DataFrame:
    """Median seconds per call and achieved rate per kernel (rows) and backend."""
    return results.study("kernel")


def variant_table(results: Results) -> pd.DataFrame:
    """Matmul variants with their fraction of NumPy's sgemm at the same shape and threads."""
    variants = results.study("variant").copy()
    if variants.empty:
        return variants
    sgemm = variants.loc[variants["backend"] == "numpy", "gflops"]
    variants["sgemm_fraction"] = variants["gflops"] / sgemm.iloc[0] if len(sgemm) else math.nan
    return variants.sort_values("gflops", ascending=False)


def _ratio(numerator: float | None, denominator: float | None) -> float:
    if (
        numerator is None
        or denominator is None
        or pd.isna(numerator)
        or pd.isna(denominator)
        or not denominator
    ):
        return math.nan
    return float(numerator) / float(denominator)


@dataclass(frozen=True)
class Target:
    """A ratio the speed work aims for: ``measured`` must be at least (or at most) ``bound``."""

    quantity: str
    measured: float
    at_least: bool  # True: measured >= bound passes; False: measured <= bound passes
    bound: float | None  # None: shown, no target
    aim: str = ""

    @property
    def wanted(self) -> str:
        if self.bound is None:
            return "shown"
        return f"{'≥' if self.at_least else '≤'} {self.bound:g}" + (f" (aim {self.aim})" if self.aim else "")

    def passes(self, value: float) -> bool:
        return value >= self.bound if self.at_least else value <= self.bound

    @property
    def met(self) -> str:
        if self.bound is None or pd.isna(self.measured):
            return "n/a" if pd.isna(self.measured) else "—"
        return "yes" if self.passes(self.measured) else "**no**"

    def met_again(self, repeat: float | None) -> str:
        """:attr:`met`, and the repeat run's verdict beside it where the two runs disagree."""
        if self.bound is None or repeat is None or pd.isna(self.measured) or pd.isna(repeat):
            return self.met
        if self.passes(repeat) == self.passes(self.measured):
            return self.met
        return f"{self.met} (repeat: {'yes' if self.passes(repeat) else 'no'})"


def targets(results: Results) -> list[Target]:
    """The speed targets (issue 6), each measured in this run. Ratios of times measured side by side."""
    rows = []
    kernels = results.study("kernel").set_index(["kernel", "backend"])
    for kernel in PRODUCTS:
        shape = kernels["shape"].get((kernel, "numpy"), kernel)
        rate = _ratio(kernels["median"].get((kernel, "numpy")), kernels["median"].get((kernel, "numba")))
        rows.append(
            Target(f"numba matmul GFLOP/s / NumPy sgemm GFLOP/s, {kernel} {shape}", rate, True, 0.5, "0.8")
        )
    epochs = results.study("epoch").set_index("backend")["epoch_seconds"]
    numba_vs_numpy = _ratio(epochs.get("numba"), epochs.get("numpy"))
    rows.append(Target("numba epoch / numpy epoch, batch 128", numba_vs_numpy, False, 1.5, "< 1"))
    batches = sweep(results, "batch", "batch")
    if set(PAIR) <= set(batches.columns):
        for batch in [b for b in batches.index if b <= 16]:
            ratio = _ratio(batches.at[batch, "numpy"], batches.at[batch, "numba"])
            rows.append(
                Target(f"numpy epoch / numba epoch, batch {int(batch)}", ratio, True, SMALL_BATCH_TARGET)
            )
    table = epoch_table(results)
    if not table.empty:
        numpy_floor = table["floor_ratio"].get("numpy", math.nan)
        rows.append(Target("numpy epoch / floor", numpy_floor, False, FLOOR_TARGET))
        rows.append(Target("numba epoch / floor", table["floor_ratio"].get("numba", math.nan), False, None))
        numpy_vs_torch = _ratio(epochs.get("numpy"), epochs.get("pytorch"))
        rows.append(Target("numpy epoch / PyTorch epoch", numpy_vs_torch, False, TORCH_TARGET))
        rows.append(
            Target(
                "numba epoch / PyTorch epoch", _ratio(epochs.get("numba"), epochs.get("pytorch")), False, None
            )
        )
    for row in threads_table(results).itertuples():
        rows.append(Target(f"{row.what}: 1 thread / {row.threads} threads", row.speedup, True, None))
    return rows


# --- findings ---------------------------------------------------------------------------------------------


def times(x: float) -> str:
    """A ratio as the report writes it: 1.3x, 12x, 1,200x."""
    if pd.isna(x):
        return "n/a"
    return f"{x:.2g}x" if x < 10 else f"{x:,.0f}x"


def seconds(s: float) -> str:
    """A duration with a unit a reader takes in at once: 1.23 s, 45.6 ms, 12.3 us."""
    if pd.isna(s):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def faster(a: float, b: float) -> str:
    """How time ``a`` compares with time ``b``: "3x faster" or "2x slower"."""
    return f"{times(b / a)} faster" if a <= b else f"{times(a / b)} slower"


def findings(results: Results) -> list[str]:
    """A few sentences read off the numbers: who wins where, the crossover, the floor, threads, PyTorch."""
    out = _noise_findings(results)
    table = epoch_table(results)
    ours = table[table["backend"] != PEER] if not table.empty else table  # every backend of the run
    if not ours.empty:
        best = ours.loc[ours["epoch_seconds"].idxmin()]
        others = [
            f"{faster(best.epoch_seconds, row.epoch_seconds)} than {row.backend}"
            + (" (scaled)" if row.scaled else "")
            for row in ours.itertuples()
            if row.backend != best.backend
        ]
        out.append(
            f"At batch 128 the fastest backend is **{best.backend}**: an epoch of "
            f"{int(best.epoch_samples):,} samples takes {seconds(best.epoch_seconds)}, "
            f"{' and '.join(others)}."
        )
        floor = best.floor_seconds
        if not pd.isna(floor):
            distances = ", ".join(
                f"{row.backend} {times(row.floor_ratio)}"
                for row in table.itertuples()
                if row.backend != "loops"
            )
            out.append(
                f"The floor for that epoch ({best.epoch_flops / 1e9:.3g} GFLOP of matrix products at the "
                f"measured sgemm rate of {sgemm_rate(results):.3g} GFLOP/s) is {seconds(floor)}; "
                f"the epochs take {distances} that."
            )
    if PEER in table.index:
        torch = table.loc[PEER]
        versus = [
            f"{faster(torch.epoch_seconds, table.at[b, 'epoch_seconds'])} than {b}"
            for b in ours.index
            if b != "loops"  # the baseline: that PyTorch is a thousand times faster says nothing new
        ]
        out.append(
            f"PyTorch ({results.run.get('torch') or 'version unknown'}, {int(torch.threads)} threads) trains "
            f"the same epoch in {seconds(torch.epoch_seconds)}: {' and '.join(versus)}."
        )
    elif not table.empty:
        out.append(
            "PyTorch was not measured in this run (it is not installed), so there is no reference row."
        )
    out += (
        _numpy_findings(results)
        + _batch_findings(results)
        + _small_batch_findings(results)
        + _width_findings(results)
        + _thread_findings(results)
        + _kernel_findings(results)
    )
    return out


def _numpy_findings(results: Results) -> list[str]:
    """Target 4's bounds in the numpy step's own parts: what the products and the gather leave over for
    the rest of the step, within the floor's bound and within PyTorch's."""
    budget = numpy_step_budget(results)
    if budget.empty:
        return []
    parts = budget.set_index("part")
    step, floor_step = parts.at[STEP, "seconds"], budget.attrs["floor_step"]
    bound = parts.at[PRODUCTS_PART, "seconds"] + parts.at[GATHER_PART, "seconds"]
    limits = {f"{FLOOR_TARGET:g}x the floor": FLOOR_TARGET * floor_step}
    torch = epoch_table(results)["epoch_seconds"].get("pytorch")
    if torch is not None:
        torch_step = torch / (budget.attrs["epoch_samples"] / budget.attrs["batch"])
        limits[f"{TORCH_TARGET:g}x PyTorch's {seconds(torch_step)} step"] = TORCH_TARGET * torch_step
    room = "; ".join(
        f"staying within {name} leaves {seconds(limit - bound)} for the rest of the step"
        if limit > bound
        else f"the bound of {name} is exceeded before any other work"
        for name, limit in limits.items()
    )
    return [
        f"A numpy step at batch {budget.attrs['batch']} takes {seconds(step)} ({times(step / floor_step)} "
        f"the floor's {seconds(floor_step)}); its matrix products at the rates NumPy's BLAS reaches at the "
        f"network's shapes and the trainer's batch gather alone take {seconds(bound)}, "
        f"{times(bound / floor_step)} the floor. {room[0].upper() + room[1:]}. The rest takes "
        f"{seconds(step - bound)} (the momentum update alone {seconds(parts.at[UPDATE_PART, 'seconds'])})."
    ]


def _small_batch_findings(results: Results) -> list[str]:
    """Target 3's bound: the numba step that a 4x lead needs against what its two big kernels take, and
    what they would take if both ran at the best rate either of them reaches at any of the batches."""
    budget = small_batch_budget(results)
    if budget.empty:
        return []
    kernels = results.study("small_batch")
    fastest = kernels.loc[kernels["gflops"].idxmax()]
    best = float(fastest["gflops"])
    where = f"the {fastest['kernel']} at batch {int(fastest['batch'])}"
    out = []
    for row in budget.itertuples():
        at_best = row.kernels * row.kernel_gflops / best
        other = row.numba_step - row.kernels
        out.append(
            f"At batch {row.batch}, a {SMALL_BATCH_TARGET:g}x lead over numpy's {seconds(row.numpy_step)} "
            f"step needs a numba step of at most {seconds(row.needed)}; numba's step takes "
            f"{seconds(row.numba_step)}, of which its forward product and fused weight update take "
            f"{seconds(row.kernels)} ({row.kernel_gflops:.3g} GFLOP/s over their FLOPs). Both at the best "
            f"rate measured here ({best:.3g} GFLOP/s, {where}) "
            f"would take {seconds(at_best)}, and with the rest of the step as measured ({seconds(other)}) "
            f"the step {seconds(at_best + other)}."
        )
    return out


def _noise_findings(results: Results) -> list[str]:
    spreads = spread(results)
    if spreads.empty or spreads.max() <= NOISY_SPREAD:
        return []
    worst = results.table.loc[spreads.idxmax()]
    count = f"{(spreads > NOISY_SPREAD).sum()} of {len(spreads)}"
    advice = "trust ratios measured side by side more than absolute times, and compare with a second run"
    return [
        f"**The timings are noisy**: {count} epoch measurements have an IQR above {NOISY_SPREAD:.0%} of "
        f"their median (worst: {worst['name']}, {spreads.max():.0%}); {advice}."
    ]


def _batch_findings(results: Results) -> list[str]:
    batches = sweep(results, "batch", "batch")
    if batches.shape[1] < 2:
        return []
    winners = batches.idxmin(axis=1)
    winners.index = winners.index.astype(int)
    runs = " and ".join(
        f"{w} at batch {', '.join(map(str, winners.index[winners == w]))}" for w in winners.unique()
    )
    switches = [(a, b) for a, b in zip(winners.index[:-1], winners.index[1:]) if winners[a] != winners[b]]
    if not switches:
        crossover = f"there is no crossover: {winners.iloc[0]} is faster at every batch size measured"
    elif len(switches) == 1:
        a, b = switches[0]
        crossover = f"the crossover lies between batch {a} and {b} ({winners[a]} below, {winners[b]} above)"
    else:
        crossover = "the winner changes more than once, so there is no single crossover"
    small, large = batches.index.min(), batches.index.max()
    shrink = {b: batches.at[small, b] / batches.at[large, b] for b in sorted(batches.columns, key=rank)}
    change = " and ".join(
        f"{b}'s epoch gets {times(r)} shorter" if r >= 1 else f"{b}'s epoch gets {times(1 / r)} longer"
        for b, r in shrink.items()
    )
    return [
        f"Against batch size the faster backend is {runs}: {crossover}. "
        f"From batch {int(small)} to {int(large)}, {change}."
    ]


def _width_findings(results: Results) -> list[str]:
    widths = sweep(results, "width", "hidden")
    if len(widths) < 2:
        return []
    flops = results.study("width").groupby("hidden")["flops_per_sample"].first()
    narrow, wide = widths.index.min(), widths.index.max()
    growth = " and ".join(f"{times(widths.at[wide, b] / widths.at[narrow, b])} ({b})" for b in widths.columns)
    return [
        f"From hidden width {int(narrow)} to {int(wide)} the FLOPs grow {times(flops[wide] / flops[narrow])} "
        f"and the epoch time grows {growth}."
    ]


def _thread_findings(results: Results) -> list[str]:
    table = threads_table(results)
    if table.empty:
        return []
    parts = ", ".join(f"{row.what} {faster(row.all, row.one)}" for row in table.itertuples())
    text = f"With {int(table['threads'].max())} threads instead of 1: {parts}."
    numba = table[table["what"] == "numba epoch"]
    if len(numba) and numba["speedup"].iloc[0] < NO_SCALING:
        text += (
            " numba's kernels split their work across the threads, yet its epoch gained nothing measurable "
            "from the second core in this run: the ratios above that involve both cores (the epochs, and "
            "NumPy's multi-threaded BLAS at small batches) describe the machine in that state."
        )
    return [text]


def _kernel_findings(results: Results) -> list[str]:
    kernels = results.study("kernel")
    if kernels.empty:
        return []
    medians = kernels.pivot_table(index="kernel", columns="backend", values="median", aggfunc="first")
    if not set(PAIR) <= set(medians.columns):
        return []
    numba_wins = [k for k in medians.index if medians.at[k, "numba"] < medians.at[k, "numpy"]]
    numpy_wins = [k for k in medians.index if k not in numba_wins]
    return [
        f"Kernel by kernel at batch 128, numba is faster on {', '.join(numba_wins) or 'none'}; "
        f"numpy on {', '.join(numpy_wins) or 'none'}."
    ]
