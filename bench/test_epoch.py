"""One training epoch per backend, the number the report leads with, and PyTorch's as the reference.

Network [784, 128, 10], float32, batch 128, SGD with momentum, on the data ``choose_data`` found. Every
registered backend takes part: those with ``full_size`` (numpy, numba) train the whole training set each
round; loops, which lacks it, trains ``settings.loops_samples`` rows and the report scales its time per
sample to a full epoch, labelled as scaled. Each is timed alone, for the per-epoch table; the headline
ratios between them come from alternating rounds (``test_headline.py``).
"""

from __future__ import annotations

import pytest

from bench.harness import TORCH_MISSING, bench_epoch, pytorch_epoch, round_samples, time_side
from kernels import installed_backends


@pytest.mark.benchmark(group="epoch")
@pytest.mark.parametrize("backend", installed_backends())
def test_epoch(benchmark, settings, bench_data, backend):
    bench_epoch(
        benchmark,
        bench_data,
        study="epoch",
        backend=backend,
        samples=round_samples(settings, backend),
        rounds=settings.epoch_rounds,
    )


@pytest.mark.benchmark(group="epoch")
def test_epoch_pytorch(benchmark, settings, bench_data):
    """The same network, batch size, optimizer and thread count in PyTorch on the CPU."""
    pytest.importorskip("torch", reason=TORCH_MISSING)
    side = pytorch_epoch(bench_data, samples=settings.epoch_samples)
    time_side(benchmark, side, study="epoch", rounds=settings.epoch_rounds)
