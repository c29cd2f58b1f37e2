"""Every variant of the Numba matmul zoo (``kernels.jit_zoo.MATMUL_VARIANTS``, the kernels the
benchmarks time side by side) against the float64 product, and the check itself against planted bugs.

The check is ``bench.bounds.assert_matmul_within_bound``, the one the benchmark runs before it times a
variant: every element within the rounding-error bound of a dot product of length k,
``gamma_k * (|a| @ |b|)`` with ``gamma_k = k u / (1 - k u)`` and ``u = eps / 2`` of the dtype, derived from
the computation rather than chosen.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from bench.bounds import assert_matmul_within_bound

pytest.importorskip("numba", reason="the matmul zoo is the numba backend's")
# After the skip: without numba there is no zoo; with it, a jit_matmul that fails to import must fail here.
from kernels.blocking import DTYPES, active_blocking  # noqa: E402
from kernels.jit_zoo import MATMUL_VARIANTS  # noqa: E402

pytestmark = pytest.mark.numba  # every variant is a numba kernel

KC = max(active_blocking(dtype).kc for dtype in DTYPES)  # k steps per block, of either dtype

# (m, k, n): batches of 1 (the row-vector kernel's one-row block), k = 0 (out must be zeroed), widths
# that leave edge row and column tiles, a few rows with b wider than a row block, k over KC in
# three blocks with a short last one, an out of narrow tiles with edge rows and columns (the output
# layer's n = 10), and the benchmark's own shape (X @ W1 at batch 128).
SHAPES = [
    (1, 1, 1),
    (1, 784, 128),
    (3, 0, 5),
    (5, 17, 1),
    (7, 33, 130),
    (17, 129, 33),
    (37, 2 * KC + 1, 19),
    (37, 128, 10),
    (128, 784, 128),
]


def run_checked(matmul: Callable[[np.ndarray, np.ndarray, np.ndarray], object], a, b) -> None:
    """``matmul(a, b, out)`` into a NaN-filled ``out`` (so that a cell it never writes is caught), then the
    benchmark's check."""
    out = np.full((a.shape[0], b.shape[1]), np.nan, a.dtype)
    matmul(a, b, out)
    assert_matmul_within_bound(out, a, b)


def operands(shape: tuple[int, int, int], dtype, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    m, k, n = shape
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("variant", MATMUL_VARIANTS)
def test_every_variant_within_the_rounding_bound(variant, dtype, shape):
    run_checked(MATMUL_VARIANTS[variant], *operands(shape, dtype))


def skips_last_k(a, b, out):
    np.matmul(a[:, :-1], b[:-1], out=out)


def transposes_b(a, b, out):
    np.matmul(a, b.T, out=out)


def skips_last_column(a, b, out):
    np.matmul(a, b[:, :-1], out=out[:, :-1])


def rounds_to_half(a, b, out):
    out[...] = a.astype(np.float16) @ b.astype(np.float16)


@pytest.mark.parametrize("bug", [skips_last_k, transposes_b, skips_last_column, rounds_to_half])
@pytest.mark.parametrize("size", [5, 96, KC + 44])  # square, so that b.T has b's shape
def test_the_check_catches_planted_bugs(bug, dtype, size):
    """One term of k missing, b transposed, a column never written, and float16 arithmetic each fail the
    check: the bound is tight enough to see a wrong kernel, even one that is merely less precise."""
    a, b = operands((size, size, size), dtype)
    run_checked(lambda a, b, out: np.matmul(a, b, out=out), a, b)  # and the right product passes it
    with pytest.raises(AssertionError, match="outside the rounding-error bound"):
        run_checked(bug, a, b)
