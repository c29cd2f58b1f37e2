"""The Numba matmul variants of ``kernels.jit_zoo.MATMUL_VARIANTS`` (when it exists) at the forward shape.

Each variant computes ``out = a @ b`` for C-contiguous inputs; NumPy's sgemm at the same shape and thread
count is timed in the same group as the yardstick. Each is checked against the float64 product before it is
timed (``bench.bounds``, the check of ``tests/test_matmul_zoo.py``): a wrong kernel fails its benchmark
instead of reaching the report with a time. A separate module, so that a ``jit_matmul`` under
construction cannot take the other kernel benchmarks down with it.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from bench.bounds import assert_matmul_within_bound
from bench.harness import DEFAULT_BATCH, DEFAULT_HIDDEN, INPUTS, SEED, bench_calls, record_rate, use_threads
from reports.roles import BLAS, COMPILED


def _variants() -> dict:
    try:
        return dict(getattr(importlib.import_module("kernels.jit_zoo"), "MATMUL_VARIANTS", {}))
    except ImportError:  # no numba: the compiled backend's own benchmarks say so
        return {}


VARIANTS = _variants()
M, K, N = DEFAULT_BATCH, INPUTS, DEFAULT_HIDDEN
SHAPE = f"X @ W1: ({M}x{K}) @ ({K}x{N})"


@pytest.mark.benchmark(group=f"matmul variants {SHAPE}")
@pytest.mark.parametrize("variant", ["numpy sgemm", *VARIANTS])
def test_matmul_variant(benchmark, settings, variant):
    if not VARIANTS:
        pytest.skip("kernels.jit_zoo has no MATMUL_VARIANTS: nothing to compare with sgemm")
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((K, N), dtype=np.float32)
    out = np.full((M, N), np.nan, np.float32)  # NaN: a cell the variant never writes fails the check
    matmul = VARIANTS.get(variant, lambda a, b, out: np.matmul(a, b, out=out))
    use_threads(benchmark, None)
    matmul(a, b, out)  # at the thread count it is timed with: serial and parallel paths differ
    assert_matmul_within_bound(out, a, b)  # validate, then time
    benchmark.extra_info.update(
        study="variant",
        variant=variant,
        shape=SHAPE,
        backend=COMPILED if variant in VARIANTS else BLAS,
        dtype=str(a.dtype),
    )
    bench_calls(
        benchmark,
        lambda: matmul(a, b, out),
        rounds=settings.kernel_rounds,
        round_seconds=settings.kernel_round_seconds,
    )
    record_rate(benchmark, flops=2 * M * K * N, bytes_moved=(M * K + K * N + M * N) * a.itemsize)
