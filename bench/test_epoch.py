"""One training epoch per backend, the number the report leads with, and PyTorch's as the reference.

Network [784, 128, 10], float32, batch 128, SGD with momentum, on the data ``choose_data`` found. Every
registered backend takes part: those with ``full_size`` (numpy, numba) train the whole training set each
round; loops, which lacks it, trains ``settings.loops_samples`` rows and the report scales its time per
sample to a full epoch, labelled as scaled.
"""

from __future__ import annotations

import pytest

from bench.harness import (
    DEFAULT_BATCH,
    DEFAULT_HIDDEN,
    SEED,
    TIMING_LR,
    bench_epoch,
    epoch_info,
    layer_sizes,
    use_threads,
)
from kernels import available_backends, get_backend


@pytest.mark.benchmark(group="epoch")
@pytest.mark.parametrize("backend", available_backends())
def test_epoch(benchmark, settings, bench_data, backend):
    samples = settings.epoch_samples if get_backend(backend).full_size else settings.loops_samples
    bench_epoch(
        benchmark, bench_data, study="epoch", backend=backend, samples=samples, rounds=settings.epoch_rounds
    )


@pytest.mark.benchmark(group="epoch")
def test_epoch_pytorch(benchmark, settings, bench_data):
    """The same network, batch size, optimizer and thread count in PyTorch on the CPU."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[torch]')")
    samples = min(settings.epoch_samples, len(bench_data.X_train))
    torch.set_num_threads(use_threads(benchmark, None))
    torch.manual_seed(SEED)
    sizes = layer_sizes(DEFAULT_HIDDEN)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])  # no ReLU on the logits
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=TIMING_LR, momentum=0.9)
    X = torch.from_numpy(bench_data.X_train[:samples])
    y = torch.from_numpy(bench_data.y_train[:samples])
    generator = torch.Generator().manual_seed(SEED)

    def epoch() -> None:
        # as Trainer.run_epoch: a permutation, then each step gathers its batch
        order = torch.randperm(samples, generator=generator)
        for start in range(0, samples, DEFAULT_BATCH):
            batch = order[start : start + DEFAULT_BATCH]
            optimizer.zero_grad()
            loss_fn(model(X[batch]), y[batch]).backward()
            optimizer.step()

    benchmark.extra_info.update(
        epoch_info(
            "epoch", "pytorch", bench_data, samples=samples, batch=DEFAULT_BATCH, hidden=DEFAULT_HIDDEN
        ),
        torch_version=torch.__version__,
        torch_threads=torch.get_num_threads(),
    )
    benchmark.pedantic(epoch, rounds=settings.epoch_rounds, iterations=1, warmup_rounds=1)
