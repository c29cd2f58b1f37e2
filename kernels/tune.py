"""Measure the numba backend's route thresholds on this CPU and keep them: ``python -m kernels.tune``.

Each threshold of ``kernels.blocking.TUNABLE_FIELDS`` chooses between two routes at a size: the few-row
kernel or the packed tile, one thread or all, a layer split between the cores by w's rows or not, the batch
gather of pixels on one core or all. For each, this times both routes, alternating, over a ladder of
the network's sizes (784 inputs, a hidden layer of 128, 10 classes), each product first checked against the
float64 bound (``bench.bounds``), and sets the threshold at the first size from which the second route wins.
Thresholds measured one at a time can be wrong together (a product's routes depend on several), so they
are then taken one at a time, starting from the analytic ones: each is kept only if the products of a
whole training step, at batches 1 to 256, are nowhere more than 3% slower with it than without. What is
kept is stored as wisdom (``kernels.wisdom``), which the backend reads from then on. The block
sizes and the register tile are not tuned here: they are compiled in, and each candidate would cost a
compile.

Compiling the kernels (or loading them from Numba's cache) is done first and reported apart; the timing
takes about ``--seconds``, a quarter of it the step checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable

import numpy as np

from bench.bounds import assert_matmul_within_bound
from kernels import jit, jit_matmul, wisdom
from kernels.blocking import ANALYTIC, ROUTE_FIELDS, TUNABLE_FIELDS, Blocking, routes
from kernels.jit import RULE_IDS
from kernels.jit_rules import pack_coefficients
from kernels.pixels import PIXEL_DTYPE, PIXEL_MAX, scale_pixels
from kernels.threads import set_threads

INPUTS, HIDDEN, CLASSES = 784, 128, 10
NEVER = np.iinfo(np.int64).max // 2  # a threshold no size reaches
ROWS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128)  # batch sizes of the ladders
GATHER_ROWS = (4, 8, 16, 32, 64, 128, 256)
GATHER_SOURCE_ROWS = 65_536  # uint8 pixels: a data set larger than the caches (51 MB), as a training set is
WINS_BY = 1.02  # the second route must be this much faster to count as a win (not a tie)
STEP_BATCHES = (1, 2, 4, 8, 12, 16, 24, 32, 64, 128, 256)  # the tuned thresholds checked on a step's products
SLOWER_AT_MOST = 1.03  # a threshold that makes a step slower than this at any of them is not kept
STEP_CHECKS_SHARE = 1 / 4  # of --seconds, for the step checks of all thresholds together; the rest ladders
# The update the ladders and the step time: the study's optimizer, whose state (the velocity) a split layer
# keeps in each core's cache from step to step, as training does. With sgd, which has none, the split's
# ladder saw too little of its gain.
RULE = "momentum"
COEFFICIENTS = {"lr": 1e-6, "momentum": 0.9}  # small steps: the weights stay finite however long it runs


def alternating_median(first: Callable[[], object], second: Callable[[], object], seconds: float) -> float:
    """The median over rounds of (time of ``second``) / (time of ``first``), the two run in turns for
    about ``seconds`` in all, each round long enough for the timer and after a call of its own."""
    calls = 1
    while True:  # calls per round: a round of the first route at least a millisecond
        start = time.perf_counter()
        for _ in range(calls):
            first()
        if time.perf_counter() - start > 1e-3:
            break
        calls *= 2
    ratios = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(ratios) < 3:
        times = []
        for route in (first, second):
            route()  # untimed: where the other route left w's lines (which core's cache) is not this one's
            start = time.perf_counter()
            for _ in range(calls):
                route()
            times.append(time.perf_counter() - start)
        ratios.append(times[1] / times[0])
    return float(np.median(ratios))


def with_routes(blocking: Blocking, **fields: int) -> np.ndarray:
    return routes(dataclasses.replace(blocking, **fields))


def product_check(a: np.ndarray, b: np.ndarray, out: np.ndarray, call: Callable[[], object]) -> None:
    """Run ``call`` (``out = a @ b`` by some route) and check ``out`` against the float64 bound."""
    out[...] = np.nan
    call()
    assert_matmul_within_bound(out, a, b)


def first_win(sizes: tuple[int, ...], ratio_at: Callable[[int], float]) -> int | None:
    """The first size from which the second route wins at every later size too, or None."""
    wins = [ratio_at(size) * WINS_BY < 1 for size in sizes]
    for i, size in enumerate(sizes):
        if all(wins[i:]):
            return size
    return None


class Tuner:
    """The measurements, for one dtype, on the thread count set (every core)."""

    def __init__(self, dtype: np.dtype, seconds_each: float, progress: Callable[[str], None]):
        self.dtype, self.seconds_each, self.progress = dtype, seconds_each, progress
        self.blocking = ANALYTIC[dtype.itemsize]
        self.rng = np.random.default_rng(0)

    def random(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape).astype(self.dtype)

    def forward_ratio(self, m: int, n: int, k: int, slow: np.ndarray, fast: np.ndarray) -> float:
        """``a @ b`` of (m x k) @ (k x n) under the routes ``slow`` then ``fast``, both checked."""
        a, b, out = self.random(m, k), self.random(k, n), np.empty((m, n), self.dtype)
        calls = [lambda r=r: jit_matmul.matmul_nn(a, b, out, r) for r in (slow, fast)]
        for call in calls:
            product_check(a, b, out, call)
        return alternating_median(*calls, self.seconds_each)

    def rowvec(self, n: int, k: int, field: str) -> int:
        """Rows below which the few-row kernel beats the packed tile, for b of n columns."""
        few_rows = with_routes(self.blocking, rowvec_below_rows=NEVER, rowvec_wide_below_rows=NEVER)
        tile = with_routes(self.blocking, rowvec_below_rows=0, rowvec_wide_below_rows=0)
        self.progress(f"{field}: few-row kernel or packed tile, ({k} x {n}) at batch 1-{ROWS[-1]}")
        found = first_win(ROWS, lambda m: self.forward_ratio(m, n, k, few_rows, tile))
        return getattr(self.blocking, field) if found is None else found

    def parallel(self, tile_from_rows: int) -> int:
        """Flops from which a product on the packed tile (``tile_from_rows`` rows and more) on every core
        beats one on one."""
        packed = {"rowvec_below_rows": 0, "rowvec_wide_below_rows": 0, "split_min_flop": NEVER}
        serial = with_routes(self.blocking, parallel_min_flop=NEVER, **packed)
        parallel = with_routes(self.blocking, parallel_min_flop=0, **packed)
        self.progress(f"parallel_min_flop: one thread or all, X @ W1 ({INPUTS} x {HIDDEN})")
        rows = tuple(m for m in ROWS if m >= tile_from_rows)  # where the packed tile runs
        found = first_win(rows, lambda m: self.forward_ratio(m, HIDDEN, INPUTS, serial, parallel))
        return self.blocking.parallel_min_flop if found is None else 2 * found * INPUTS * HIDDEN

    def fused_parallel(self) -> int:
        """Flops from which the fused update of W1 (``RULE``) on every core beats one on one."""
        rule, packed = RULE_IDS[RULE], pack_coefficients(COEFFICIENTS, self.dtype)
        w, velocity = self.random(INPUTS, HIDDEN), np.zeros((INPUTS, HIDDEN), self.dtype)
        serial = with_routes(self.blocking, fused_parallel_min_flop=NEVER, split_min_flop=NEVER)
        parallel = with_routes(self.blocking, fused_parallel_min_flop=0, split_min_flop=NEVER)
        self.progress(f"fused_parallel_min_flop: the update of W1 on one thread or all ({INPUTS} x {HIDDEN})")

        def ratio(batch: int) -> float:
            x, dz = self.random(batch, INPUTS), self.random(batch, HIDDEN) * self.dtype.type(1e-3)
            calls = [
                lambda r=r: jit_matmul.matmul_tn_update(x, dz, w, rule, velocity, velocity, packed, r)
                for r in (serial, parallel)
            ]
            return alternating_median(*calls, self.seconds_each)

        found = first_win(tuple(m for m in ROWS if m > 1), ratio)
        return self.blocking.fused_parallel_min_flop if found is None else 2 * found * INPUTS * HIDDEN

    def split(self) -> int:
        """Flops from which a layer split in bands of w's rows beats it whole: the forward and the update
        one after the other, as a step runs them."""
        rule, packed = RULE_IDS[RULE], pack_coefficients(COEFFICIENTS, self.dtype)
        w, velocity = self.random(INPUTS, HIDDEN), np.zeros((INPUTS, HIDDEN), self.dtype)
        whole = with_routes(self.blocking, split_min_flop=NEVER)
        split = with_routes(self.blocking, split_min_flop=0)
        self.progress(f"split_min_flop: the first layer whole or in bands ({INPUTS} x {HIDDEN})")

        def ratio(batch: int) -> float:
            x, dz = self.random(batch, INPUTS), self.random(batch, HIDDEN) * self.dtype.type(1e-3)
            out = np.empty((batch, HIDDEN), self.dtype)
            product_check(x, w, out, lambda: jit_matmul.matmul_nn(x, w, out, split))

            def step(routes_given: np.ndarray) -> None:
                jit_matmul.matmul_nn(x, w, out, routes_given)
                jit_matmul.matmul_tn_update(x, dz, w, rule, velocity, velocity, packed, routes_given)

            return alternating_median(lambda: step(whole), lambda: step(split), self.seconds_each)

        found = first_win(ROWS, ratio)
        return self.blocking.split_min_flop if found is None else 2 * found * INPUTS * HIDDEN

    def gather(self) -> int:
        """Bytes of batch from which the parallel gather beats the one-core gather (``jit.take_rows``' two
        routes), on uint8 pixels scaled to the dtype: what the trainer gathers from a data set."""
        source = self.rng.integers(0, PIXEL_MAX + 1, (GATHER_SOURCE_ROWS, INPUTS), PIXEL_DTYPE)
        self.progress(f"gather_parallel_min_bytes: the pixels' gather on one core or all, rows of {INPUTS}")

        def ratio(batch: int) -> float:
            rows = self.rng.integers(0, GATHER_SOURCE_ROWS, batch)
            out = np.empty((batch, INPUTS), self.dtype)
            jit.gather_pixels_parallel(source, rows, out)
            assert np.array_equal(out, scale_pixels(source[rows], self.dtype))
            one_core = lambda: jit.gather_pixels(source, rows, out)  # noqa: E731
            every_core = lambda: jit.gather_pixels_parallel(source, rows, out)  # noqa: E731
            return alternating_median(one_core, every_core, self.seconds_each)

        found = first_win(GATHER_ROWS, ratio)
        if found is None:
            return self.blocking.gather_parallel_min_bytes
        return found * INPUTS * self.dtype.itemsize

    def warm_up(self) -> None:
        """Compile (or load from Numba's cache) every kernel the ladders call, before any clock."""
        x, w, dz = self.random(2, INPUTS), self.random(INPUTS, HIDDEN), self.random(2, HIDDEN)
        routes_now = routes(self.blocking)
        packed, velocity = pack_coefficients(COEFFICIENTS, self.dtype), np.zeros_like(w)
        jit_matmul.matmul_nn(x, w, np.empty((2, HIDDEN), self.dtype), routes_now)
        jit_matmul.matmul_nt(dz, w, np.empty((2, INPUTS), self.dtype), routes_now)
        jit_matmul.matmul_tn_update(x, dz, w, RULE_IDS[RULE], velocity, velocity, packed, routes_now)
        pixels, row = np.zeros((1, INPUTS), PIXEL_DTYPE), np.zeros(1, np.int64)
        jit.gather_pixels(pixels, row, np.empty((1, INPUTS), self.dtype))
        jit.gather_pixels_parallel(pixels, row, np.empty((1, INPUTS), self.dtype))

    def run(self) -> dict[str, int]:
        """Every tunable threshold, measured (the analytic one where no size of its ladder decides)."""
        wide_below_rows = self.rowvec(HIDDEN, INPUTS, "rowvec_wide_below_rows")
        thresholds = {
            "rowvec_wide_below_rows": wide_below_rows,
            "rowvec_below_rows": self.rowvec(CLASSES, HIDDEN, "rowvec_below_rows"),
            "parallel_min_flop": self.parallel(wide_below_rows),
            "fused_parallel_min_flop": self.fused_parallel(),
            "split_min_flop": self.split(),
            "gather_parallel_min_bytes": self.gather(),
        }
        assert set(thresholds) == set(TUNABLE_FIELDS)
        return thresholds


def combine(
    analytic: Blocking,
    measured: dict[str, int],
    step_check: Callable[[Blocking, Blocking], dict[int, float]],
    progress: Callable[[str], None],
) -> Blocking:
    """``analytic`` with the ``measured`` thresholds that a step check keeps, taken one at a time in the
    order of ``ROUTE_FIELDS``: ``step_check(accepted, candidate)`` gives the candidate's time over the
    accepted one's per batch, and a threshold is kept where none is above ``SLOWER_AT_MOST``. The
    gather's threshold (no product of the step) is kept as measured."""
    accepted = dataclasses.replace(analytic, gather_parallel_min_bytes=measured["gather_parallel_min_bytes"])
    for name in ROUTE_FIELDS:
        if measured[name] == getattr(accepted, name):
            continue
        candidate = dataclasses.replace(accepted, **{name: measured[name]})
        ratios = step_check(accepted, candidate)
        worst = max(ratios, key=ratios.get)
        verdict = "kept" if ratios[worst] <= SLOWER_AT_MOST else "not kept"
        progress(
            f"{name} {measured[name]:,}: {verdict}; step time with / without it "
            f"{min(ratios.values()):.3f} to {ratios[worst]:.3f} (batch {worst})"
        )
        if verdict == "kept":
            accepted = candidate
    return accepted


def _step_products(x, h, z, dz, dh, w1, w2, v1, v2, rule, packed, routes_given) -> None:
    """The products of a training step of two layers: forward, input gradient, both fused updates (v1 and
    v2 the weights' optimizer state)."""
    jit_matmul.matmul_nn(x, w1, h, routes_given)
    jit_matmul.matmul_nn(h, w2, z, routes_given)
    jit_matmul.matmul_nt(dz, w2, dh, routes_given)
    jit_matmul.matmul_tn_update(h, dz, w2, rule, v2, v2, packed, routes_given)
    jit_matmul.matmul_tn_update(x, dh, w1, rule, v1, v1, packed, routes_given)


def step_ratios(
    dtype: np.dtype, tuned: np.ndarray, seconds_each: float, baseline: np.ndarray | None = None
) -> dict[int, float]:
    """Time of a training step's products of [784, 128, 10] under the ``tuned`` routes over their time
    under the ``baseline`` ones (the analytic ones if None), at each of ``STEP_BATCHES``, alternating;
    ``seconds_each`` a batch."""
    rng = np.random.default_rng(1)
    analytic = routes(ANALYTIC[dtype.itemsize]) if baseline is None else baseline
    rule, packed = RULE_IDS[RULE], pack_coefficients(COEFFICIENTS, dtype)
    w1 = rng.standard_normal((INPUTS, HIDDEN)).astype(dtype)
    w2 = rng.standard_normal((HIDDEN, CLASSES)).astype(dtype)
    v1, v2 = np.zeros_like(w1), np.zeros_like(w2)
    ratios = {}
    for batch in STEP_BATCHES:
        x = rng.standard_normal((batch, INPUTS)).astype(dtype)
        h, dh = np.empty((batch, HIDDEN), dtype), np.empty((batch, HIDDEN), dtype)
        z, dz = np.empty((batch, CLASSES), dtype), rng.standard_normal((batch, CLASSES)).astype(dtype)
        arrays = (x, h, z, dz, dh, w1, w2, v1, v2)
        ratios[batch] = alternating_median(
            lambda a=arrays: _step_products(*a, rule, packed, analytic),
            lambda a=arrays: _step_products(*a, rule, packed, tuned),
            seconds_each,
        )
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernels.tune", description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--seconds", type=float, default=26.0, help="timing, in all (default 26)")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    threads = set_threads(None)
    seconds_each = args.seconds * (1 - STEP_CHECKS_SHARE) / 60  # about sixty pairs of routes are timed

    def progress(text: str) -> None:
        print(f"  {text}", flush=True)

    start = time.perf_counter()
    tuner = Tuner(dtype, seconds_each, progress)
    tuner.warm_up()
    print(
        f"kernels.tune: {dtype}, {threads} threads; compiled in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    start = time.perf_counter()
    measured = tuner.run()
    analytic = ANALYTIC[dtype.itemsize]
    for name, value in measured.items():
        print(f"  {name}: {value:,} (analytic {getattr(analytic, name):,})")
    changed = [name for name in ROUTE_FIELDS if measured[name] != getattr(analytic, name)]
    check_seconds = args.seconds * STEP_CHECKS_SHARE / max(1, len(changed)) / len(STEP_BATCHES)
    progress(
        f"a step's products at batch {', '.join(map(str, STEP_BATCHES))}, each threshold with and without"
    )

    def step_check(accepted: Blocking, candidate: Blocking) -> dict[int, float]:
        return step_ratios(dtype, routes(candidate), check_seconds, baseline=routes(accepted))

    kept = combine(analytic, measured, step_check, progress)
    seconds = time.perf_counter() - start
    chosen = {name: getattr(kept, name) for name in TUNABLE_FIELDS}
    path = wisdom.store(dtype, chosen)
    print("  chosen: " + ", ".join(f"{name} {value:,}" for name, value in chosen.items()))
    print(f"measured in {seconds:.1f} s; kept in {path} (SCRATCHNET_TUNE=off ignores it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
