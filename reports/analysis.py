"""The numbers the report states, as data frames: the machine's limits, the paired headline ratios with
their intervals, the epoch, kernel, sweep and budget tables, and the comparison of several runs. Nothing
here formats text; every quantity is computed from the recorded rows."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from kernels import available_backends
from network.optim import OPTIMIZERS
from reports.claims import AT_MOST
from reports.results import Results
from reports.roles import BLAS, COMPILED, LOOPS, PEERS

CONFIDENCE = 0.95  # of the headline ratios' intervals
SEPARATED = 3.0  # standard errors of their difference: two runs' ratios this far apart disagree
DRIFT = 0.05  # the peak probe moving more than this between the run's start and end: the machine changed
INDEPENDENT = 0.9  # all cores at least this fraction of n x one core: the cores do not share the FMA units
NOISY_SPREAD = 0.10  # an IQR above this fraction of the median: the rounds of that benchmark were noisy
EPOCH_STUDIES = ["epoch", "batch", "width", "threads", "technique"]
# A side's fastest round of a block this much above its fastest of the run: the machine slowed the block. It
# lies between the fastest rounds' own spread on a quiet machine (a few percent) and what a core shared with
# another tenant costs (tens of percent).
SLOWED = 0.10
SPLIT = 1.5  # wide FMAs at most this much faster than half-width ones: the CPU splits them in two
HEADLINE_FIELDS = [
    "quantity", "ratio", "low", "high", "pairs", "bound", "sense", "verdict",
    "a_fastest", "b_fastest", "blocks", "slowed", "sync_us", "compares_threads",
]  # fmt: skip
RUN_COLUMNS = {  # headline column -> its name, suffixed with the run's index, in compare()
    "ratio": "ratio", "low": "low", "high": "high", "verdict": "verdict", "a_fastest": "a", "b_fastest": "b",
    "sync_us": "sync",
}  # fmt: skip


def rank(backend: str) -> int:
    """A backend's place in the tables: the registry's order, then the peers, then anything else (a backend
    of a saved run that is not registered now)."""
    order = [*available_backends(), *PEERS]
    return order.index(backend) if backend in order else len(order)


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("backend", key=lambda s: s.map(rank), kind="stable")


# --- the machine's limits ---------------------------------------------------------------------------------


def peaks(results: Results) -> pd.DataFrame:
    p = results.study("peak").copy()
    p["per_core"] = p["gflops"] / p["threads"]
    return p


def work_dtype(results: Results) -> str | None:
    """The dtype the network trains in, as its epoch rows recorded it (any row's, where there are none)."""
    rows = results.study("epoch")
    dtypes = (rows if len(rows) else results.table)["dtype"].dropna()
    return dtypes.mode().iloc[0] if len(dtypes) else None


def _probe(results: Results, dtype: str | None) -> pd.DataFrame:
    """The probe's rows of ``dtype``; by default (or where a row recorded none) of the network's dtype."""
    p = peaks(results)
    return p[p["dtype"] == (work_dtype(results) if dtype is None or pd.isna(dtype) else dtype)]


def _widest(results: Results, dtype: str | None, all_cores: bool = False) -> pd.DataFrame:
    """The probe's rows of ``dtype`` at the widest vectors (and only those on all cores, if asked)."""
    p = _probe(results, dtype)
    p = p[p["vector_bits"] == p["vector_bits"].max()]
    return p[p["threads"] == p["threads"].max()] if all_cores else p


def peak_rate(results: Results, dtype: str | None = None) -> float:
    """The machine's limit for ``dtype``: the fastest all-core rate of the probe at the widest vectors."""
    return float(_widest(results, dtype, all_cores=True)["gflops"].max())


def core_scaling(results: Results, dtype: str | None = None) -> float:
    """All cores' rate over n x one core's (1: independent cores; 0.5 on 2 cores: they share the units)."""
    p = _widest(results, dtype).groupby("threads")["gflops"].median()
    return float(p.iloc[-1] / (p.index[-1] / p.index[0] * p.iloc[0])) if len(p) > 1 else math.nan


def width_gain(results: Results, dtype: str | None = None) -> tuple[float, float, float]:
    """(narrow bits, wide bits, wide rate / narrow rate) on one core: near 2 when the wide FMAs run at full
    width, near 1 when the CPU splits them in halves."""
    p = _probe(results, dtype)
    rates = p[p["threads"] == p["threads"].min()].groupby("vector_bits")["gflops"].median()
    if len(rates) < 2:
        return math.nan, math.nan, math.nan
    return rates.index[0], rates.index[-1], float(rates.iloc[-1] / rates.iloc[0])


def peak_drift(results: Results, dtype: str | None = None) -> float:
    """Relative change of the all-core peak from the run's start to its end."""
    p = _widest(results, dtype, all_cores=True).groupby("when")["gflops"].median()
    return float(p["end"] / p["start"] - 1) if {"start", "end"} <= set(p.index) else math.nan


def bandwidth(results: Results) -> pd.DataFrame:
    """The triad's GB/s per cache level (rows, smallest first) and thread count (columns); ``attrs``
    holds the working sets alike (a private level holds one working set per core, so they differ)."""
    b = results.study("bandwidth")
    if b.empty:
        return pd.DataFrame()
    order = b.groupby("level")["working_set"].min().sort_values().index
    rates = b.pivot_table(index="level", columns="threads", values="gbytes_per_s").loc[order]
    sets = b.pivot_table(index="level", columns="threads", values="working_set")
    rates.attrs["working_sets"] = sets.loc[order]
    return rates


def sgemm_rates(results: Results) -> pd.Series:
    """NumPy's BLAS on its large square product, GFLOP/s by thread count: a reference line, not the limit."""
    return results.study("sgemm").groupby("threads")["gflops"].max()


def floor_seconds(results: Results, flops: float, dtype: str | None = None) -> float:
    """The least time ``flops`` of products can take: all of them at the machine's measured peak."""
    return flops / (peak_rate(results, dtype) * 1e9)


# --- headline: ratios from alternating rounds ---------------------------------------------------------------


def block_ratio(a: Sequence[float], b: Sequence[float], scale: float = 1.0) -> float:
    """A block's ratio: ``scale`` times its sides' fastest rounds, ``min(a) / min(b)``.

    A round is the code's own time plus whatever else the machine did meanwhile, which only adds; the
    fastest round is the closest to the code's own cost (Python's ``timeit`` says so of its repeats).
    Pairing the rounds in time still matters: both sides get the same moments in which to be fast."""
    return scale * min(a) / min(b)


def block_processes(results: Results) -> str:
    """Where the headline blocks ran, for the method's sentence: each block in a Python process of its own
    (``bench.blocks``, which records each block's process), or all in the run's one process."""
    names = results.study("headline")["name"]
    processes = {results.extra[name].get("process") for name in names} - {None}
    if len(processes) < 2:
        return "all in one process"
    return f"each block in a Python process of its own ({len(processes)} processes)"


def block_fastest(a: Sequence[float], b: Sequence[float], scale: float = 1.0) -> tuple[float, float]:
    """A headline block's sides' fastest rounds, b's in a's unit (over the block's ``scale``): what
    ``at_full_speed`` judges; their quotient is ``block_ratio``."""
    return min(a), min(b) / scale


def at_full_speed(a_fastest: Sequence[float], b_fastest: Sequence[float]) -> list[bool]:
    """Which blocks the machine ran at full speed: both sides' fastest rounds of the block within
    ``SLOWED`` of that side's fastest over all the blocks. ``b_fastest`` in a common unit (a floor's probe
    calls differ in length between blocks: divide by the block's scale first)."""
    a_best, b_best = min(a_fastest, default=math.nan), min(b_fastest, default=math.nan)
    return [a <= (1 + SLOWED) * a_best and b <= (1 + SLOWED) * b_best for a, b in zip(a_fastest, b_fastest)]


def t_quantile(p: float, df: int) -> float:
    """Student's t distribution's ``p`` quantile, ``0.5 < p < 1``: its density integrated on a fine grid
    (SciPy is not a dependency for this one number). Accurate to about 1e-6 for ``p <= 0.995``."""
    x = np.linspace(0.0, 1_000.0, 2_000_001)
    density = (1 + x * x / df) ** (-(df + 1) / 2)
    norm = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    cdf = 0.5 + norm * np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(x))])
    return float(np.interp(p, cdf, x))


def blocks_interval(block_ratios: Sequence[float]) -> tuple[float, float, float]:
    """A ratio and its ``CONFIDENCE`` interval by the method of batch means, a ratio's blocks being the
    batches; (ratio, low, high). The pairs of one block share the machine's state of that moment, so they
    are not independent draws; blocks spread over the run are. The ratio is the mean of the blocks'
    ratios on a log scale (a ratio and its inverse get one interval), the interval Student's t over the
    blocks. Fewer than two blocks give no interval."""
    logs = np.log(np.asarray(block_ratios, float))
    if len(logs) == 0:
        return math.nan, math.nan, math.nan
    centre = logs.mean()
    if len(logs) < 2:
        return math.exp(centre), math.nan, math.nan
    half = t_quantile((1 + CONFIDENCE) / 2, len(logs) - 1) * logs.std(ddof=1) / math.sqrt(len(logs))
    return math.exp(centre), math.exp(centre - half), math.exp(centre + half)


def verdict(low: float, high: float, bound: float, sense: str | None) -> str:
    """ "met" when the whole interval is on the bound's good side, "not met" when it is wholly on the other,
    "unclear" when it straddles the bound; "" without a bound."""
    if bound is None or pd.isna(bound) or pd.isna(low):
        return ""
    good_low, good_high = (-math.inf, bound) if sense == AT_MOST else (bound, math.inf)
    if good_low <= low and high <= good_high:
        return "met"
    if high < good_low or low > good_high:
        return "not met"
    return "unclear"


def blocks_meeting(blocks: list[float], bound: float, sense: str | None) -> int:
    """How many of a ratio's blocks' ratios are on the good side of its bound (as ``verdict`` judges)."""
    return sum(verdict(x, x, bound, sense) == "met" for x in blocks)


def compares_threads(extra: dict) -> bool:
    """Whether a headline ratio sets one thread count against another, as its two sides recorded them: a
    bound on that speed-up presumes cores that do not share their FMA units."""
    return extra.get("a_info", {}).get("threads") != extra.get("b_info", {}).get("threads")


def headline(results: Results) -> pd.DataFrame:
    """One row per headline quantity: ratio, interval, bound, verdict, pairs. The ratio comes from the
    blocks the machine ran at full speed (``at_full_speed``); ``slowed`` holds the other blocks' ratios, which
    the report shows apart. A bound on a thread count's speed-up applies only where the probe found the
    cores independent."""
    rows = []
    independent = core_scaling(results) >= INDEPENDENT
    study = results.study("headline")
    for quantity, blocks in study.sort_values("block", kind="stable").groupby("quantity", sort=False):
        names = list(blocks["name"])
        sides = [(results.rounds[name], results.extra[name].get("b_seconds") or []) for name in names]
        measured = [(a, b, scale) for (a, b), scale in zip(sides, blocks["scale"]) if len(a) and len(b)]
        fastest = [block_fastest(a, b, scale) for a, b, scale in measured]
        full = at_full_speed([a for a, _ in fastest], [b for _, b in fastest])
        ratios = [block_ratio(a, b, scale) for a, b, scale in measured]
        kept = [r for r, fast in zip(ratios, full) if fast]
        bound, sense = blocks["bound"].iloc[0], blocks["sense"].iloc[0]
        threads_compared = compares_threads(results.extra[names[0]])
        if threads_compared and not independent:
            bound = math.nan  # the target's premise does not hold on this machine; the report says why
        ratio, low, high = blocks_interval(kept)
        a_seconds, b_seconds = ([t for side in sides for t in side[k]] for k in (0, 1))
        sync = [t for name in names for t in results.extra[name].get("sync_us") or []]
        rows.append(
            {"quantity": quantity, "ratio": ratio, "low": low, "high": high, "bound": bound}
            | {"pairs": sum(min(len(a), len(b)) for a, b, _ in measured)}
            | {"sense": sense if not pd.isna(bound) else None, "verdict": verdict(low, high, bound, sense)}
            | {"a_fastest": min(a_seconds, default=math.nan), "b_fastest": min(b_seconds, default=math.nan)}
            | {"blocks": kept, "slowed": [r for r, fast in zip(ratios, full) if not fast]}
            | {"sync_us": float(np.median(sync)) if sync else math.nan, "compares_threads": threads_compared}
        )
    return pd.DataFrame(rows, columns=HEADLINE_FIELDS)


def _standard_error(row: pd.Series) -> float:
    """The standard error of a headline ratio's log, from the interval ``blocks_interval`` gave."""
    if len(row.blocks) < 2 or pd.isna(row.low):
        return math.nan
    return math.log(row.high / row.low) / (2 * t_quantile((1 + CONFIDENCE) / 2, len(row.blocks) - 1))


def shift(rows: list[pd.Series]) -> float:
    """The largest difference between the runs' ratios (logs) over its standard error, from both runs'
    blocks: two runs of a steady machine stay within ``SEPARATED`` of each other, though one run's ratio
    falls outside the other's interval more often (that interval is for its own mean, not another run's)."""
    worst = 0.0
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            se_a, se_b = _standard_error(a), _standard_error(b)
            if math.isnan(se_a) or math.isnan(se_b):
                return math.nan
            apart, se = abs(math.log(a.ratio / b.ratio)), math.hypot(se_a, se_b)
            worst = max(worst, apart / se if se > 0 else (math.inf if apart > 0 else 0.0))
    return worst


def half_widths(results: Results) -> pd.Series:
    """Each headline interval's half-width relative to its ratio (on the log scale the interval is
    symmetric in): 0.05 for a ratio known to 5%."""
    h = headline(results).set_index("quantity")
    return np.sqrt(h["high"] / h["low"]) - 1


def compare(runs: list[Results]) -> pd.DataFrame:
    """The headline quantities of several runs side by side, and whether they agree: every run's ratio
    inside every other run's interval, and one verdict for all; whether a bound is met in one and not
    met in another; and how far apart they are in standard errors (``shift``)."""
    frames = [headline(r).set_index("quantity") for r in runs]
    quantities = list(dict.fromkeys(q for f in frames for q in f.index))
    rows = []
    for q in quantities:
        present = [f.loc[q] for f in frames if q in f.index]
        inside = all(o.low <= p.ratio <= o.high for p in present for o in present)
        row = {"quantity": q, "agree": len(present) == len(runs) and inside}
        row["same_verdict"] = len({p.verdict for p in present}) == 1
        row["contradicts"] = {"met", "not met"} <= {p.verdict for p in present}
        row["shift_se"] = shift(present)
        for i, f in enumerate(frames):
            for column, name in RUN_COLUMNS.items():
                row[f"{name}_{i}"] = f.at[q, column] if q in f.index else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


# --- epochs, kernels, sweeps ------------------------------------------------------------------------------


def epoch_table(results: Results) -> pd.DataFrame:
    """One row per backend of the epoch study: time, spread, rate, fraction of the peak, distance from the
    floor, and the speed-up over the slowest backend."""
    e = ordered(results.study("epoch")).set_index("backend", drop=False)
    if e.empty:
        return e
    e["spread"] = e["iqr"] / e["median"]
    e["of_peak"] = [g / peak_rate(results, d) for g, d in zip(e["gflops"], e["dtype"])]
    e["floor_seconds"] = [floor_seconds(results, f, d) for f, d in zip(e["epoch_flops"], e["dtype"])]
    e["floor_ratio"] = e["epoch_seconds"] / e["floor_seconds"]
    e["speedup"] = e["epoch_seconds"].max() / e["epoch_seconds"]
    return e


def kernel_table(results: Results) -> pd.DataFrame:
    """Median seconds per call, one row per kernel (with its shape), one column per backend."""
    k = results.study("kernel")
    k = k.pivot_table(index=["kernel", "shape"], columns="backend", values="median", sort=False)
    return k[sorted(k.columns, key=rank)]


def roofline_points(results: Results) -> pd.DataFrame:
    k = results.study("kernel").dropna(subset=["intensity", "gflops"])
    return ordered(k)[["kernel", "backend", "shape", "dtype", "intensity", "gflops", "threads"]]


def variant_table(results: Results) -> pd.DataFrame:
    """The matmul zoo against the peak at its thread count and against NumPy's sgemm at the same shape."""
    v = results.study("variant").sort_values("gflops", ascending=False).copy()
    sgemm = v.loc[v["backend"] == BLAS, "gflops"]
    v["of_sgemm"] = v["gflops"] / sgemm.iloc[0] if len(sgemm) else math.nan
    v["of_peak"] = [g / peak_rate(results, d) for g, d in zip(v["gflops"], v["dtype"])]
    return v


def study_optimizer(results: Results) -> str | None:
    """The optimizer the study's epochs train with, as the epoch rows recorded it (None where there are
    none): the sweeps' every backend ran with it, the batch sweep's BLAS and compiled ones with the others
    too."""
    optimizers = results.study("epoch")["optimizer"].dropna()
    return optimizers.mode().iloc[0] if len(optimizers) else None


def sweep_points(results: Results, study: str) -> pd.DataFrame:
    """A sweep's points with the study's optimizer (``study_optimizer``; a point that recorded none
    counts as one)."""
    points = results.study(study)
    optimizer = study_optimizer(results)
    if optimizer is None:
        return points
    return points[points["optimizer"].isna() | (points["optimizer"] == optimizer)]


def sweep(results: Results, study: str, key: str) -> pd.DataFrame:
    """A sweep's epoch seconds from each point's fastest round (scaled), one row per ``key`` value, one
    column per backend: the estimate the headline's blocks use, so that a speed-up read off the threads
    sweep is the one the headline's thread ratio measures."""
    points = sweep_points(results, study)
    if points.empty:
        return pd.DataFrame()
    table = points.pivot_table(index=key, columns="backend", values="epoch_fastest", aggfunc="first")
    return table[sorted(table.columns, key=rank)]


def technique_table(results: Results) -> pd.DataFrame:
    """Per technique, optimizer and batch size: the epoch without and with it, the gain, and the gain
    expected."""
    rows = []
    keys = ["technique", "optimizer", "batch"]
    for (technique, optimizer, batch), pair in results.study("technique").groupby(keys, sort=False):
        # technique_on: whether the technique was used; a run before it was recorded has only "fused"
        on = pair["technique_on"].where(pair["technique_on"].notna(), pair["fused"])
        by_on = pair.set_index(on.astype(str) == "True")["epoch_seconds"]
        without, with_ = by_on.get(False, math.nan), by_on.get(True, math.nan)
        expected = pair[["expected_gain", "expected_why"]].iloc[0]
        rows.append([technique, optimizer, int(batch), without, with_, *expected])
    table = pd.DataFrame(rows, columns=[*keys, "without", "with", "expected", "why"])
    table["gain"] = table["without"] / table["with"]
    return table


def blas_step_budget(results: Results) -> pd.DataFrame:
    """The BLAS backend's step of the epoch study in parts timed alone (its products and element-wise
    kernels at the step's shapes, the batch gather, the optimizer's update) and the rest by difference,
    each against the step and the floor's step."""
    epochs = epoch_table(results)
    kernels = results.study("kernel")
    kernels = kernels[kernels["backend"] == BLAS]
    update = results.study("optimizer")
    if BLAS not in epochs.index or kernels.empty or update.empty:
        return pd.DataFrame()
    e = epochs.loc[BLAS]
    gather = _gathers(results, BLAS).get((int(e.batch), int(e.threads)), math.nan)
    is_product = kernels["kernel"].str.startswith("matmul")
    products, others = kernels[is_product], kernels[~is_product]
    steps = e.epoch_samples / e.batch
    step = e.epoch_seconds / steps
    parts = {
        f"{name}: " + ", ".join(group["kernel"]): group["median"].sum()
        for name, group in [("matrix products", products), ("element-wise", others)]
    }
    parts |= {
        "batch gather (trainer)": gather,
        f"{update['kernel'].iloc[0]} (NumPy)": float(update["median"].iloc[0]),
    }
    parts["the rest: bias adds, column sums, Python"] = step - sum(parts.values())
    parts["whole step"] = step
    table = pd.DataFrame({"part": list(parts), "seconds": list(parts.values())})
    table["floor_ratio"] = table["seconds"] / (e.floor_seconds / steps)
    table["share"] = table["seconds"] / step
    table.attrs["batch"] = int(e.batch)
    return table


# the parts of a fused step, each timed alone: bench/test_budget.py times them under these names
STEP_PARTS = ("forward product", "weight gradient + update", "output layer")
FIRST_LAYER = STEP_PARTS[:2]  # the products that can run near the peak; the rest of a step cannot
CALL, GATHER = "call from Python", "batch gather"
PRODUCTS_NEED = "products need"  # of the peak, to meet the bound with every other part as it is
PRODUCTS_RUN = "products run at"  # of the peak, as timed alone
BLAS_STEP, COMPILED_STEP = f"{BLAS} step", f"{COMPILED} step"  # columns of compiled_step_budget


def _gathers(results: Results, backend: str) -> pd.Series:
    """The trainer's batch gather with ``backend``, median seconds by (batch, threads)."""
    g = results.study("gather")
    if g.empty:
        return pd.Series(dtype=float)
    g = g[g["backend"] == backend]
    return g.set_index([g["batch"].astype(int), g["threads"].astype(int)])["median"]


def shapes(results: Results, study: str, kernel: str) -> list[str]:
    """The shapes ``kernel``'s rows of ``study`` recorded, each once."""
    rows = results.study(study)
    return list(dict.fromkeys(rows.loc[rows["kernel"] == kernel, "shape"].dropna()))


def _step_kernels(results: Results) -> pd.DataFrame:
    """The parts of the compiled backend's step timed alone (``bench/test_budget.py``): median seconds and
    FLOPs by (part, optimizer or "", batch, threads); the part is one of ``STEP_PARTS`` or ``CALL``."""
    k = results.study("step_kernel")
    if k.empty:
        return pd.DataFrame(columns=["median", "flops"])
    keys = [k["kernel"], k["optimizer"].fillna(""), k["batch"].astype(int), k["threads"].astype(int)]
    return k.set_index(keys)[["median", "flops"]]


def _parts(results: Results, info: dict, threads: int) -> dict[str, tuple[float, float]] | None:
    """(seconds, FLOPs) of each part of the compiled backend's step an epoch side's ``info`` describes, on
    ``threads`` threads: ``STEP_PARTS``, the output layer less the cost of a step's call from Python (its
    timing, a call of its own, carries one), that call, and the batch gather; None where one was not
    timed."""
    kernels, gathers = _step_kernels(results), _gathers(results, COMPILED)
    parts = (*STEP_PARTS, CALL)
    optimizers = ("", *[info["optimizer"]] * (len(parts) - 1))
    keys = [(part, opt, info["batch"], threads) for part, opt in zip(parts, optimizers)]
    if not all(key in kernels.index for key in keys) or (info["batch"], threads) not in gathers.index:
        return None
    timed = {part: (kernels.at[key, "median"], kernels.at[key, "flops"]) for part, key in zip(parts, keys)}
    call = timed.pop(CALL)[0]
    timed["output layer"] = (timed["output layer"][0] - call, timed["output layer"][1])
    return timed | {CALL: (call, math.nan), GATHER: (gathers[(info["batch"], threads)], math.nan)}


def _compiled_pairs(results: Results, other: str) -> dict[str, dict]:
    """The headline quantities whose sides are the compiled backend and ``other`` (``COMPILED``: a thread
    count against another), with one block's extra_info each."""
    pairs = {}
    for quantity, blocks in results.study("headline").groupby("quantity", sort=False):
        extra = results.extra[blocks["name"].iloc[0]]
        backends = sorted(extra.get(side, {}).get("backend") or "" for side in ("a_info", "b_info"))
        if backends == sorted([COMPILED, other]):
            pairs[quantity] = extra
    return pairs


def compiled_step_budget(results: Results) -> pd.DataFrame:
    """Per optimizer and batch of a headline pair of the compiled backend against the BLAS one: both steps
    (fastest rounds), the compiled step the bound allows, its parts timed alone and the rest, and the rate
    (of the all-core peak) the first layer's products need to meet it, beside the rate they run at."""
    heads = headline(results).set_index("quantity")
    rows = []
    for quantity, extra in _compiled_pairs(results, BLAS).items():
        compiled_first = extra["a_info"]["backend"] == COMPILED
        info = extra["a_info" if compiled_first else "b_info"]
        parts = _parts(results, info, info["threads"])
        if parts is None:
            continue
        steps = info["samples"] / info["batch"]
        a_step, b_step = heads.loc[quantity, ["a_fastest", "b_fastest"]] / steps
        compiled_step, blas_step = (a_step, b_step) if compiled_first else (b_step, a_step)
        bound = heads.loc[quantity, "bound"]  # on a / b
        seconds = {part: t for part, (t, _) in parts.items()}
        needed = blas_step * bound if compiled_first else blas_step / bound
        products = sum(seconds[part] for part in FIRST_LAYER)
        left = needed - (compiled_step - products)
        flops = sum(parts[part][1] for part in FIRST_LAYER) / (peak_rate(results, info["dtype"]) * 1e9)
        rows.append(
            {"quantity": quantity, "optimizer": info["optimizer"], "batch": int(info["batch"])}
            | {BLAS_STEP: blas_step, COMPILED_STEP: compiled_step, "needed for the bound": needed, **seconds}
            | {"the rest": compiled_step - sum(seconds.values())}
            | {PRODUCTS_NEED: flops / left if left > 0 else math.inf, PRODUCTS_RUN: flops / products}
        )
    return pd.DataFrame(rows)


def thread_budget(results: Results) -> pd.DataFrame:
    """The compiled backend's step on one thread and on all (the fastest rounds of the thread speed-up pair's
    sides) in the parts of ``compiled_step_budget``: each part's speed-up, and its all-core time against
    the floor of its FLOPs."""
    pairs = [e for e in _compiled_pairs(results, COMPILED).values() if compares_threads(e)]
    if not pairs:
        return pd.DataFrame()
    pair = pairs[0]
    one, every = sorted((pair["a_info"], pair["b_info"]), key=lambda info: info["threads"])
    parts = [_parts(results, one, side["threads"]) for side in (one, every)]
    if None in parts:
        return pd.DataFrame()
    steps = one["samples"] / one["batch"]
    head = headline(results).set_index("quantity").loc[pair["quantity"]]
    columns = {}
    for name, side, side_parts in zip(("one thread", "all threads"), (one, every), parts):
        step = head["a_fastest" if side is pair["a_info"] else "b_fastest"] / steps
        seconds = [t for t, _ in side_parts.values()]
        columns[name] = [*seconds, step - sum(seconds), step]
    flops = [f for _, f in parts[0].values()] + [math.nan, one["flops"] / steps]
    table = pd.DataFrame({"part": [*parts[0], "the rest", "whole step"], **columns})
    positive = (table["one thread"] > 0) & (table["all threads"] > 0)  # the rest can come out below zero
    table["speed-up"] = (table["one thread"] / table["all threads"]).where(positive)
    table["x floor"] = table["all threads"] / [floor_seconds(results, f, one["dtype"]) for f in flops]
    table.attrs.update(threads=int(every["threads"]), batch=int(one["batch"]), optimizer=one["optimizer"])
    return table


def subnormal_cost(results: Results) -> pd.DataFrame:
    """Adam's batch-1 update of W1 per backend (rows), its first moment zero and subnormal (columns)."""
    rows = results.study("subnormal")
    if rows.empty:
        return pd.DataFrame(columns=["zero", "subnormal"])
    table = rows.pivot_table(index="backend", columns="variant", values="median")
    return table.rename(columns=lambda variant: variant.removesuffix(" first moment")).reindex(
        columns=["zero", "subnormal"]
    )


def spread(results: Results) -> pd.Series:
    """IQR / median of every epoch measurement with more than one round: the run's own noise."""
    timed = results.table[results.table["study"].isin(EPOCH_STUDIES) & results.table["rounds"].gt(1)]
    return (timed.set_index("name")["iqr"] / timed.set_index("name")["median"]).dropna()


def _fastest_and_median(points: pd.DataFrame) -> pd.DataFrame:
    """Sweep points with their fastest and median rounds scaled to an epoch. One side is clearly faster
    than another where its median round is faster than the other's fastest: most of its rounds beat all
    of the other's, and one round that the machine slowed cannot decide alone."""
    return points.assign(
        fastest=points["min"] * points["epoch_scale"], median=points["median"] * points["epoch_scale"]
    )


def lead(results: Results) -> pd.DataFrame:
    """Per optimizer (columns) and batch size (rows) of the batch sweep: the BLAS backend's epoch over the
    compiled one's, from their fastest rounds; ``attrs["unclear"]`` lists the (optimizer, batch) points
    where the lead is not clear either way (``_fastest_and_median``)."""
    points = results.study("batch")
    points = _fastest_and_median(points[points["backend"].isin([BLAS, COMPILED])])
    if points.empty:
        return pd.DataFrame()
    fastest, median = (
        points.pivot_table(index=["batch", "optimizer"], columns="backend", values=value)
        for value in ("fastest", "median")
    )
    if not {BLAS, COMPILED} <= set(fastest.columns):
        return pd.DataFrame()
    ratio = (fastest[BLAS] / fastest[COMPILED]).unstack("optimizer")
    ratio = ratio[[optimizer for optimizer in OPTIMIZERS if optimizer in ratio]]  # the network's order
    clear = (median[COMPILED] < fastest[BLAS]) | (median[BLAS] < fastest[COMPILED])
    ratio.attrs["unclear"] = list(clear[~clear].index.swaplevel())
    return ratio


def lead_gaps(lead: pd.DataFrame) -> list[tuple[float, str, float, bool]]:
    """The points of ``lead`` where the compiled backend is not clearly ahead: (batch, optimizer, ratio,
    whether the rounds overlap there), in the table's order; none where it leads everywhere."""
    unclear = set(lead.attrs.get("unclear", []))
    return [
        (batch, optimizer, ratio, (optimizer, batch) in unclear)
        for batch, row in lead.iterrows()
        for optimizer, ratio in row.items()
        if ratio <= 1 or (optimizer, batch) in unclear
    ]


def dearer_smaller_steps(results: Results, backend: str = COMPILED) -> list[tuple[str, int, int]]:
    """(optimizer, smaller batch, larger batch) wherever ``backend``'s step at a batch of the sweep is clearly
    dearer than at the next larger one (``_fastest_and_median``)."""
    points = _fastest_and_median(results.study("batch"))
    points = points[points["backend"] == backend]
    dearer = []
    for optimizer, rows in points.groupby("optimizer", sort=False):
        rows = rows.sort_values("batch")
        steps = rows["batch"] / rows["epoch_samples"]  # an epoch's share of one step
        fastest, median = (rows[column] * steps for column in ("fastest", "median"))
        for i in range(len(rows) - 1):
            if fastest.iloc[i] > median.iloc[i + 1]:
                dearer.append((optimizer, int(rows["batch"].iloc[i]), int(rows["batch"].iloc[i + 1])))
    return dearer


def crossover(results: Results) -> tuple[pd.Series, list[tuple[int, int]], list[int]]:
    """The fastest backend at each batch size of the sweep (by fastest round), the pairs of batches where it
    changes, and the batch sizes where its lead is unclear: its median round no faster than another
    backend's fastest (``_fastest_and_median``)."""
    points = sweep_points(results, "batch")
    winners = sweep(results, "batch", "batch").idxmin(axis=1)
    if points.empty:
        return winners, [], []
    scaled = _fastest_and_median(points)
    fastest = scaled.pivot_table(index="batch", columns="backend", values="fastest", aggfunc="first")
    median = scaled.pivot_table(index="batch", columns="backend", values="median", aggfunc="first")
    unclear = [
        batch
        for batch, winner in winners.items()
        if (fastest.loc[batch].drop(winner) <= median.loc[batch, winner]).any()
    ]
    switches = [(a, b) for a, b in zip(winners.index[:-1], winners.index[1:]) if winners[a] != winners[b]]
    return winners, switches, unclear


def dispatch_table(results: Results) -> pd.DataFrame:
    """The cost of an empty compiled call, one row per compiler (``bench/test_dispatch.py``)."""
    d = results.study("dispatch")
    if d.empty:
        return d
    d = d[["compiler", "median", "iqr"]].copy()
    d["spread"] = d["iqr"] / d["median"]
    return d


def compile_table(results: Results) -> pd.DataFrame:
    """torch.compile's compile seconds at each batch size of the batch sweep (both of an epoch's batch
    shapes), beside that point's epoch."""
    points = sweep_points(results, "batch")
    if points.empty or "compile_seconds" not in points:
        return pd.DataFrame()
    compiled = points.dropna(subset=["compile_seconds"]).sort_values("batch")
    return compiled[["backend", "batch", "compile_seconds", "epoch_seconds"]]


# --- the vector width as a variable (python -m bench.widths) -----------------------------------------------

WIDTH_BACKENDS = (LOOPS, BLAS, COMPILED)  # each speed-up is a backend over the one before it
# the width study's speed-ups, named "fast over slow": name -> (slow, fast)
WIDTH_SPEEDUPS = {
    f"{fast} over {slow}": (slow, fast) for slow, fast in zip(WIDTH_BACKENDS, WIDTH_BACKENDS[1:])
}
WIDTH_FIELDS = ("isa", "vector_bits", "numba_cpu", "openblas_core", "batch", "dataset")


def vector_widths(levels: list[dict]) -> pd.DataFrame:
    """One row per ISA level the width study measured: what ran there, each backend's fastest time a
    sample, and each backend's speed-up over the one before it (``WIDTH_BACKENDS``), the mean over the
    blocks at full speed with its interval, as the headline's."""
    rows = []
    for level in levels:
        fastest = level["fastest_seconds_per_sample"]
        row = {key: level[key] for key in WIDTH_FIELDS}
        row |= {f"{name} seconds": min(fastest[name]) for name in WIDTH_BACKENDS}
        for name, (slow, fast) in WIDTH_SPEEDUPS.items():
            full = at_full_speed(fastest[slow], fastest[fast])
            ratios = [s / f for s, f, kept in zip(fastest[slow], fastest[fast], full) if kept]
            ratio, low, high = blocks_interval(ratios)
            row |= {name: ratio, f"{name} low": low, f"{name} high": high}
            row[f"{name} slowed"] = len(full) - sum(full)
        rows.append(row)
    return pd.DataFrame(rows)
