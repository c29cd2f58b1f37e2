"""The study's claims: the bound each headline ratio is held to, and where the bound comes from.

``bench/test_headline.py`` tags its ratios with these bounds; the report's *Claims we test* states each
bound, its verdict and its reason from this one table. The bounds are the targets issue 12 set for the
compiled backend against the BLAS one (and issue 24 kept for every CPU).
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.roles import BLAS, COMPILED

AT_MOST, AT_LEAST = "at most", "at least"  # how a headline ratio is held to its bound


@dataclass(frozen=True)
class Claim:
    bound: float
    sense: str  # AT_MOST or AT_LEAST
    applies_to: str  # the ratios it bounds, in words
    why: str


COMPILED_OVER_BLAS = Claim(
    0.7,
    AT_MOST,
    f"{COMPILED} epoch / {BLAS} epoch at batch 128, every optimizer",
    "where the products dominate the step, compiled loops earn their keep only by products near the "
    "machine's peak and one fused pass for the update (applied to the weight gradient's tile while it is "
    f"in cache), against {BLAS}'s composed passes over the weights",
)
SMALL_BATCH = {
    batch: Claim(
        bound,
        AT_LEAST,
        f"{BLAS} epoch / {COMPILED} epoch at batch {batch}, every optimizer",
        f"at small batches the fixed costs dominate: {BLAS} pays a call and a dispatch for each of the "
        "step's twenty-odd operations, the compiled step is one call; the bound falls as the products' "
        "share grows",
    )
    for batch, bound in ((1, 6.0), (8, 3.0), (16, 2.5))
}
FLOOR = {
    COMPILED: Claim(
        1.5,
        AT_MOST,
        f"{COMPILED} epoch / floor (batch 128)",
        "the floor is the epoch's FLOPs at the measured all-core FMA peak: products near the peak leave "
        "half of it again for everything else (activations, softmax, the update's memory traffic)",
    )
}
THREADS = {
    COMPILED: Claim(
        1.6,
        AT_LEAST,
        f"{COMPILED} epoch, 1 thread / all threads (batch 128)",
        "two cores that do not share their FMA units (the peak probe checks it, else the bound does not "
        "apply) at 80% parallel efficiency on a step whose products are split between them",
    )
}
ALL = [COMPILED_OVER_BLAS, *SMALL_BATCH.values(), *FLOOR.values(), *THREADS.values()]
