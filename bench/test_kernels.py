"""Kernel micro-benchmarks at the shapes of a [784, 128, 10] step at batch 128, and the machine's sgemm rate.

Each row of ``KERNELS`` is one operation; ``test_kernel`` times it in every backend, and its group puts the
backends side by side. Every row records both the call's floating-point operations and its compulsory
memory traffic (every operand read once and the output written once, at their itemsizes), so that each
kernel of each backend can be placed on a roofline: FLOP/byte against GFLOP/s. All arrays are float32
and preallocated, as the network's workspaces are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from bench.harness import (
    CLASSES,
    DEFAULT_BATCH,
    DEFAULT_HIDDEN,
    DTYPE,
    INPUTS,
    SEED,
    bench_calls,
    record_rate,
    use_threads,
)
from kernels import get_backend, installed_backends
from network import aligned
from reports.roles import BLAS

B, D, H, C = DEFAULT_BATCH, INPUTS, DEFAULT_HIDDEN, CLASSES
PEAK_SIZE = 2048  # the large square product that shows what the BLAS can do on this machine

# Floating-point operations per element of the (m, n) operand, counting exp as one operation. Work done
# once per row (softmax_xent's log of the row sum and its -1 at the label) is left out.
ELEMENTWISE_FLOPS = 1  # add_bias: an add; relu: a compare; relu_backward: a select; column_sums: an add
SOFTMAX_FLOPS = 5  # the row max's compare, the subtraction, exp, the row sum's add, the division by the sum
SOFTMAX_XENT_FLOPS = SOFTMAX_FLOPS + 1  # and the gradient's division by the batch size


def _floats(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return aligned.copy(rng.standard_normal(shape, dtype=DTYPE))  # on a cache line, as the network's


def _empty(*shape: int) -> np.ndarray:
    return aligned.empty(shape, DTYPE)


def _labels(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, C, B)


@dataclass(frozen=True)
class Kernel:
    name: str  # test id and group
    op: str  # the Backend function timed
    shape: str  # in the network's terms, for the report
    make_args: Callable[[np.random.Generator], tuple[np.ndarray, ...]]  # the inputs, then ``out``
    flops: int  # per call; a product's 2mkn, an element-wise operation's count per element times elements


KERNELS = [
    Kernel("matmul_forward", "matmul", f"X @ W1: ({B}x{D}) @ ({D}x{H})",
           lambda r: (_floats(r, B, D), _floats(r, D, H), _empty(B, H)), 2 * B * D * H),
    Kernel("matmul_weight_grad", "matmul_tn", f"X.T @ dZ1: ({D}x{B}) @ ({B}x{H})",
           lambda r: (_floats(r, B, D), _floats(r, B, H), _empty(D, H)), 2 * B * D * H),
    Kernel("matmul_input_grad", "matmul_nt", f"dZ2 @ W2.T: ({B}x{C}) @ ({C}x{H})",
           lambda r: (_floats(r, B, C), _floats(r, H, C), _empty(B, H)), 2 * B * C * H),
    Kernel("matmul_forward_out", "matmul", f"h @ W2: ({B}x{H}) @ ({H}x{C})",
           lambda r: (_floats(r, B, H), _floats(r, H, C), _empty(B, C)), 2 * B * H * C),
    Kernel("matmul_weight_grad_out", "matmul_tn", f"h.T @ dZ2: ({H}x{B}) @ ({B}x{C})",
           lambda r: (_floats(r, B, H), _floats(r, B, C), _empty(H, C)), 2 * B * H * C),
    Kernel("add_bias", "add_bias", f"({B}x{H}) + ({H},)",
           lambda r: (_floats(r, B, H), _floats(r, H), _empty(B, H)), ELEMENTWISE_FLOPS * B * H),
    Kernel("relu", "relu", f"({B}x{H})",
           lambda r: (_floats(r, B, H), _empty(B, H)), ELEMENTWISE_FLOPS * B * H),
    Kernel("relu_backward", "relu_backward", f"({B}x{H})",
           lambda r: (_floats(r, B, H), _floats(r, B, H), _empty(B, H)), ELEMENTWISE_FLOPS * B * H),
    Kernel("softmax", "softmax", f"({B}x{C})",
           lambda r: (_floats(r, B, C), _empty(B, C)), SOFTMAX_FLOPS * B * C),
    Kernel("softmax_xent", "softmax_xent", f"({B}x{C}) and {B} labels",
           lambda r: (_floats(r, B, C), _labels(r), _empty(B, C)), SOFTMAX_XENT_FLOPS * B * C),
    Kernel("column_sums", "column_sums", f"({B}x{H}) -> ({H},)",
           lambda r: (_floats(r, B, H), _empty(H)), ELEMENTWISE_FLOPS * B * H),
]  # fmt: skip


def compulsory_bytes(*arrays: np.ndarray) -> int:
    """Memory traffic that no implementation avoids: every operand read once, the output written once."""
    return sum(a.nbytes for a in arrays)


@pytest.mark.parametrize("backend", installed_backends())
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
def test_kernel(benchmark, settings, kernel, backend):
    benchmark.group = f"kernel {kernel.name} {kernel.shape}"
    module = get_backend(backend)
    fn = getattr(module, kernel.op)
    *inputs, out = kernel.make_args(np.random.default_rng(SEED))
    use_threads(benchmark, None)
    benchmark.extra_info.update(
        study="kernel", kernel=kernel.name, op=kernel.op, shape=kernel.shape, dtype=DTYPE, backend=backend
    )
    rounds = settings.kernel_rounds if module.full_size else settings.loops_kernel_rounds
    bench_calls(
        benchmark, lambda: fn(*inputs, out=out), rounds=rounds, round_seconds=settings.kernel_round_seconds
    )
    record_rate(benchmark, flops=kernel.flops, bytes_moved=compulsory_bytes(*inputs, out))


@pytest.mark.benchmark(group="sgemm peak")
@pytest.mark.parametrize("threads", [1, None], ids=["1-thread", "all-threads"])
def test_sgemm_peak(benchmark, settings, threads):
    """NumPy's BLAS on a large float32 product: the best rate it reaches on this machine."""
    rng = np.random.default_rng(SEED)
    a, b = _floats(rng, PEAK_SIZE, PEAK_SIZE), _floats(rng, PEAK_SIZE, PEAK_SIZE)
    out = _empty(PEAK_SIZE, PEAK_SIZE)
    use_threads(benchmark, threads)
    benchmark.extra_info.update(
        study="sgemm", kernel="sgemm", shape=f"{PEAK_SIZE}^3", dtype=DTYPE, backend=BLAS
    )
    bench_calls(benchmark, lambda: np.matmul(a, b, out=out), rounds=settings.kernel_rounds, round_seconds=0.0)
    record_rate(benchmark, flops=2 * PEAK_SIZE**3, bytes_moved=compulsory_bytes(a, b, out))
