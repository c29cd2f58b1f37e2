"""What one call into compiled code costs before it computes anything: a compiled function that takes a
one-element float32 array and hands back its element as a Python float (the round trip of a training
step's loss), called from Python. Numba's dispatcher checks the argument's type and calls the machine code;
a jitted JAX function looks up its compiled executable, copies the NumPy argument into a buffer of XLA's,
runs it and copies the result back. Published figures, not measured here: about 0.3 µs for Numba, about
7 µs for JAX's C++ dispatch. A batch-1 step is one such call, so this is a floor under its time.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bench.harness import bench_calls

COMPILERS = ("numba", "jax")


def element_call(compiler: str):
    """The compiled function of ``compiler`` that returns ``x[0]`` (compiled on its first call)."""
    if compiler == "numba":
        import numba

        return numba.njit(cache=True)(_element)
    import jax

    jitted = jax.jit(_element)
    return lambda x: float(jitted(x))  # float() waits for XLA's result and copies it back


def _element(x):
    return x[0]


@pytest.mark.parametrize("compiler", COMPILERS)
def test_empty_call(benchmark, settings, compiler):
    if importlib.util.find_spec(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    benchmark.group = "dispatch"
    benchmark.extra_info.update(study="dispatch", compiler=compiler)
    call, x = element_call(compiler), np.ones(1, np.float32)
    bench_calls(
        benchmark, lambda: call(x), rounds=settings.kernel_rounds, round_seconds=settings.kernel_round_seconds
    )
