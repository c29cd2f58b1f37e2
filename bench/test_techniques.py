"""What the numba backend's fused training step buys: the same epochs with it and without it.

Without it (``MLP(fused=False)``) the network composes the backend's operations and NumPy's optimizer;
with it, one compiled call runs forward, loss, backward and the momentum update. ``EXPECTED`` is the
gain we expected, written down before this benchmark first ran, so that the report can set the
expectation beside the measurement. (The matrix product's techniques are measured by
``test_matmul_variants.py``: naive, i-k-j, register-tiled without and with packing.)
"""

from __future__ import annotations

import pytest

from bench.harness import bench_epoch

# batch size -> expected speed-up of the fused step over the composed one, and why
EXPECTED = {
    1: (
        2.0,
        "a step is ~15 Python-to-Numba calls (microseconds each) and three passes over W; fused: "
        "one call, one pass",
    ),
    16: (1.3, "the products grow 16x, the saved dispatch and passes stay the same"),
    128: (1.05, "the products dominate; only dispatch and one pass over the gradient are saved"),
}


@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize("batch", list(EXPECTED))
def test_fused_step(benchmark, settings, bench_data, batch, fused):
    benchmark.group = f"technique fused step, batch={batch}"
    expected, why = EXPECTED[batch]
    benchmark.extra_info.update(technique="fused training step", expected_gain=expected, expected_why=why)
    bench_epoch(
        benchmark,
        bench_data,
        study="technique",
        backend="numba",
        batch=batch,
        samples=settings.sweep_samples,
        rounds=settings.sweep_rounds,
        fused=fused,
    )
