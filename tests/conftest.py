"""Shared fixtures: every registered backend, both dtypes, and the float64 reference they answer to."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

import kernels

# Numba compiles on first use (and may, in a fresh clone, for every dtype and layout): no deadlines.
settings.register_profile("scratchnet", deadline=None, max_examples=40, print_blob=True)
settings.load_profile("scratchnet")

REFERENCE = kernels.get_backend("numpy")  # the float64 reference is the numpy backend run in float64


def _backend_or_skip(name: str):
    try:
        return kernels.get_backend(name)
    except ImportError as err:  # a registered backend whose library is missing: say so, never silently
        pytest.skip(f"backend {name!r} not available: {err}")


@pytest.fixture(scope="session", params=kernels.available_backends())
def backend(request):
    return _backend_or_skip(request.param)


@pytest.fixture(scope="session", params=["float32", "float64"])
def dtype(request) -> np.dtype:
    return np.dtype(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """``||actual - expected|| / ||expected||`` in float64: one number per array, scale-free."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.linalg.norm(expected)
    return float(np.linalg.norm(actual - expected) / (scale if scale > 0 else 1.0))


# Tolerances relative to an array's norm. float64: the products sum at most a few hundred terms, each
# rounding at 1.1e-16, so 1e-12 leaves wide room and still catches any real mistake. float32: rounding
# is 6e-8 per operation and a sum of k terms grows like sqrt(k) * eps (k = 784: ~2e-6); the loops
# backend rounds only once (it computes in double), so 1e-5 per operation is safe for every backend.
OP_TOLERANCE = {np.dtype("float64"): 1e-12, np.dtype("float32"): 1e-5}
