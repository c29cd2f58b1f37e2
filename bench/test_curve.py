"""A short real training run per backend: loss and test accuracy per epoch, for the report's curves.

Not a timing: the group exists so that the run lands in the same JSON, with the per-epoch metrics in
``extra_info["history"]``. A backend without ``full_size`` (loops) trains a few hundred samples; the others
a larger subset.
"""

from __future__ import annotations

import pytest

from bench.harness import CURVE_LR, DEFAULT_HIDDEN, make_trainer, use_threads
from kernels import get_backend, installed_backends

CURVE_BATCH = 32  # small enough that loops' few hundred samples still make several steps per epoch


@pytest.mark.benchmark(group="curve")
@pytest.mark.parametrize("backend", installed_backends())
def test_training_curve(benchmark, settings, bench_data, backend):
    if get_backend(backend).full_size:
        samples, test_samples = settings.curve_samples, settings.curve_test_samples
    else:
        samples, test_samples = settings.loops_curve_samples, settings.loops_curve_test_samples
    trainer = make_trainer(
        bench_data,
        backend,
        batch=CURVE_BATCH,
        hidden=DEFAULT_HIDDEN,
        samples=samples,
        lr=CURVE_LR,
        epochs=settings.curve_epochs,
        test_samples=test_samples,
    )
    use_threads(benchmark, None)

    def train() -> list[dict]:
        return [trainer.train_epoch().as_dict() for _ in range(settings.curve_epochs)]

    history = benchmark.pedantic(train, rounds=1, iterations=1)
    benchmark.extra_info.update(
        study="curve",
        backend=backend,
        batch=CURVE_BATCH,
        hidden=DEFAULT_HIDDEN,
        samples=trainer.n_train,
        test_samples=len(trainer.test.labels),
        lr=CURVE_LR,
        dataset=bench_data.name,
        dtype=str(trainer.net.dtype),
        history=history,
    )
