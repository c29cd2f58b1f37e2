"""How far a correct matrix product may be from the exact one, element by element.

The tests (``tests/test_matmul_zoo.py``) and the benchmarks (``bench/test_matmul_variants.py``, before a
variant is timed) hold a kernel to this one bound, so that a fast wrong kernel never reaches the report.
It lives here, beside the benchmarks and apart from ``harness`` (which pulls in the trainer and the data
loader), because the benchmarks cannot import from ``tests/`` while the tests can import this installed
package; and not in ``kernels/``, which is the library, not its checks.

The bound (Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 3): a dot product of length
``k`` computed in floating point with unit roundoff ``u``, in any order of summation and with or without
fused multiply-adds, is within ``gamma_k * (|a| @ |b|)`` of the exact one, ``gamma_k = k u / (1 - k u)``.
It is relative to the sum of the magnitudes, not to the result, which can cancel to almost nothing.
"""

from __future__ import annotations

import numpy as np


def gamma(k: int, u: float) -> float:
    """Higham's gamma_k: the relative error bound of a sum of ``k`` products, each step rounded once."""
    return k * u / (1 - k * u)


def assert_matmul_within_bound(result: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Raise ``AssertionError`` unless every element of ``result``, a product ``a @ b`` computed in the
    dtype of ``a`` and ``b``, is within its rounding-error bound of ``a @ b`` in float64.

    A NaN (an element of a NaN-filled ``out`` that the kernel never wrote) fails like any wrong value.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    k = a.shape[1]
    u, u64 = np.finfo(a.dtype).eps / 2, np.finfo(np.float64).eps / 2
    # gamma_k(u): the kernel's own rounding. 2 gamma_k(u64): the float64 reference's rounding, and the
    # rounding of |a| @ |b| itself (computed in float64, it can fall short of the true sum by that much
    # relative, times a factor below 1). k * tiny: results that underflow or are flushed to zero.
    magnitude = np.abs(a64) @ np.abs(b64)
    bound = (gamma(k, u) + 2 * gamma(k, u64)) * magnitude + k * np.finfo(a.dtype).tiny
    expected = a64 @ b64
    assert result.shape == expected.shape, f"result of shape {result.shape}, expected {expected.shape}"
    error = np.abs(np.asarray(result, np.float64) - expected)
    inside = error <= bound  # False for NaN
    if not inside.all():
        i, j = np.unravel_index(np.argmin(inside), inside.shape)  # the first one outside
        raise AssertionError(
            f"{np.count_nonzero(~inside)} of {inside.size} elements outside the rounding-error bound; "
            f"[{i}, {j}] is {result[i, j]!r}, expected {expected[i, j]!r} +- {bound[i, j]:.3g}"
        )
