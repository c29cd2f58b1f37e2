"""What the compiled backend's fused training step buys: the same epochs with it and without it.

Without it (``MLP(fused=False)``) the network composes the backend's operations and NumPy's optimizer;
with it, one compiled call runs forward, loss, backward and the optimizer's update (every optimizer is a
rule of ``kernels.jit_rules``). ``EXPECTED`` is the gain we expected, written down before this benchmark
first ran, so that the report can set the expectation beside the measurement. The backend is
``reports.roles.COMPILED``. (The matrix product's techniques are measured by ``test_matmul_variants.py``:
naive, i-k-j, register-tiled without and with packing.)
"""

from __future__ import annotations

import pytest

from bench.harness import (
    batch_round_samples,
    bench_epoch,
    one_call_epoch,
    time_side,
    trainer_epoch,
)
from kernels import missing_backends
from reports.roles import ARRAY_COMPILER, COMPILED

# (optimizer, batch size) -> expected speed-up of the fused step over the composed one, and why
EXPECTED = {
    ("sgd", 1): (
        2.0,
        "a step is ~15 Python-to-Numba calls (microseconds each) and two NumPy passes over W; fused: one "
        "call, one pass",
    ),
    ("sgd", 16): (1.2, "the products grow 16x, the saved dispatch and passes stay the same"),
    ("sgd", 128): (1.03, "the products dominate; only dispatch and one pass are saved"),
    ("momentum", 1): (
        2.0,
        "a step is ~15 Python-to-Numba calls (microseconds each) and three passes over W; fused: "
        "one call, one pass",
    ),
    ("momentum", 16): (1.3, "the products grow 16x, the saved dispatch and passes stay the same"),
    ("momentum", 128): (1.05, "the products dominate; only dispatch and a pass over the gradient are saved"),
    ("adam", 1): (
        4.0,
        "Adam's NumPy update is ~10 passes over every parameter, several times the batch-1 products; "
        "fused: one pass",
    ),
    ("adam", 16): (2.0, "the products grow 16x, the update's ~10 passes stay"),
    ("adam", 128): (1.15, "the products dominate; the update's passes are ~15% of the step"),
}


@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize(("optimizer", "batch"), list(EXPECTED))
def test_fused_step(benchmark, settings, bench_data, optimizer, batch, fused):
    benchmark.group = f"technique fused step, batch={batch}, {optimizer}"
    expected, why = EXPECTED[optimizer, batch]
    benchmark.extra_info.update(
        technique="fused training step", technique_on=fused, expected_gain=expected, expected_why=why
    )
    bench_epoch(
        benchmark,
        bench_data,
        study="technique",
        backend=COMPILED,
        batch=batch,
        samples=batch_round_samples(settings, batch),
        rounds=settings.sweep_rounds,
        fused=fused,
        optimizer=optimizer,
    )


# batch size -> expected speed-up of the whole epoch in one call over a call per step (momentum), and why
ONE_CALL_EXPECTED = {
    1: (
        4.0,
        "a step is a jit dispatch (~10 µs) and copies of every parameter and state in and out (~1.6 MB), "
        "against ~0.4 MFLOP of arithmetic; in one call: neither",
    ),
    8: (2.5, "the arithmetic grows 8x, the dispatch and the copies stay"),
    128: (1.2, "the products dominate; the copies are a pass over the parameters per 128 samples"),
}


@pytest.mark.parametrize("one_call", [False, True], ids=["call-per-step", "one-call"])
@pytest.mark.parametrize("batch", list(ONE_CALL_EXPECTED))
def test_epoch_in_one_call(benchmark, settings, bench_data, batch, one_call):
    """The compiler of the vectorised form without Python between its steps: what dispatch costs it."""
    if ARRAY_COMPILER in (missing := missing_backends()):
        pytest.skip(missing[ARRAY_COMPILER])
    benchmark.group = f"technique epoch in one call, batch={batch}"
    expected, why = ONE_CALL_EXPECTED[batch]
    # whole batches: the one call takes no partial one
    samples = batch_round_samples(settings, batch) // batch * batch
    side = (
        one_call_epoch(bench_data, samples=samples, batch=batch)
        if one_call
        else trainer_epoch(bench_data, ARRAY_COMPILER, samples=samples, batch=batch)
    )
    benchmark.extra_info.update(
        technique=f"{ARRAY_COMPILER}: whole epoch in one call (lax.scan)",
        technique_on=one_call,
        expected_gain=expected,
        expected_why=why,
    )
    time_side(benchmark, side, study="technique", rounds=settings.sweep_rounds)
