"""What the benchmarks share: the data they train on, the work they count, and how they time it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kernels.threads import set_threads
from network import MLP
from network.data import DataError, find_dataset, load_dataset
from network.optim import make_optimizer
from network.trainer import Trainer

EPOCH_SAMPLES = 60_000  # an epoch as the literature counts it (MNIST's training set)
INPUTS, CLASSES = 784, 10
DEFAULT_HIDDEN = 128
DEFAULT_BATCH = 128
DTYPE = "float32"
OPTIMIZER = "momentum"  # SGD with momentum 0.9: what the PyTorch reference runs too
TIMING_LR = 0.01  # small enough that no sweep point (batch 1 included) diverges while it is timed
CURVE_LR = 0.1  # at batch 32, trains every backend's short run for the curves without diverging
TIMING_EPOCHS = 10_000  # the schedule's length: the cosine learning rate stays far from 0 while timed
SEED = 0


def layer_sizes(hidden: int = DEFAULT_HIDDEN) -> list[int]:
    return [INPUTS, hidden, CLASSES]


def training_flops(sizes: Sequence[int], samples: int) -> int:
    """Floating-point operations of the matrix products of ``samples`` training steps' worth of rows.

    Per layer of fan-in ``k`` and fan-out ``n`` and per row: forward ``x @ W`` costs 2kn, the weight
    gradient ``X.T @ dZ`` 2kn, and the input gradient ``dZ @ W.T`` 2kn for every layer but the first
    (nothing needs the gradient of the data). Biases, activations and the optimizer are O(kn) per
    step, not per row, or O(n) per row, and are left out: this is the work a perfect BLAS must do.
    """
    pairs = list(zip(sizes[:-1], sizes[1:]))
    per_row = sum(4 * k * n for k, n in pairs) + sum(2 * k * n for k, n in pairs[1:])
    return per_row * samples


@dataclass
class BenchData:
    """The training and test arrays every benchmark draws from, and where they came from."""

    name: str  # "mnist", "fashion-mnist" or "random"
    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    source: str
    notes: list[str]  # why better data sets were passed over

    @property
    def real(self) -> bool:
        return self.name != "random"

    def describe(self) -> dict:
        return {
            "name": self.name,
            "real": self.real,
            "source": self.source,
            "n_train": len(self.X_train),
            "n_test": len(self.X_test),
            "notes": self.notes,
        }


def choose_data() -> BenchData:
    """A full 60,000-image MNIST if one is on disk, else Fashion-MNIST, else labelled random data.

    Nothing is downloaded: a benchmark must not depend on the network or change the user's cache.
    """
    notes = []
    for name in ("mnist", "fashion-mnist"):
        folder = find_dataset(name)
        if folder is None:
            notes.append(f"{name}: not found")
            continue
        try:
            ds = load_dataset(name, data_dir=folder, dtype=DTYPE, download=False)
        except DataError as err:
            notes.append(f"{name}: {err}")
            continue
        if ds.n_train < EPOCH_SAMPLES:
            notes.append(f"{name} in {folder} has only {ds.n_train:,} training images")
            continue
        return BenchData(
            name,
            ds.train_images[:EPOCH_SAMPLES],
            ds.train_labels[:EPOCH_SAMPLES],
            ds.test_images,
            ds.test_labels,
            str(folder),
            notes,
        )
    rng = np.random.default_rng(SEED)
    return BenchData(
        "random",
        rng.random((EPOCH_SAMPLES, INPUTS), dtype=np.float32),
        rng.integers(0, CLASSES, EPOCH_SAMPLES),
        rng.random((10_000, INPUTS), dtype=np.float32),
        rng.integers(0, CLASSES, 10_000),
        "numpy.random.default_rng(0): uniform pixels, uniform labels",
        notes,
    )


def make_trainer(
    data: BenchData,
    backend: str,
    *,
    batch: int,
    hidden: int,
    samples: int,
    lr: float = TIMING_LR,
    epochs: int = TIMING_EPOCHS,
    test_samples: int | None = None,
    fused: bool = True,
) -> Trainer:
    """A trainer of ``[784, hidden, 10]`` on the first ``samples`` training rows of ``data``."""
    net = MLP(layer_sizes(hidden), backend=backend, dtype=DTYPE, seed=SEED, fused=fused)
    return Trainer(
        net,
        make_optimizer(OPTIMIZER, net.params),
        (data.X_train[:samples], data.y_train[:samples]),
        (data.X_test[:test_samples], data.y_test[:test_samples]),
        epochs=epochs,
        batch_size=batch,
        lr=lr,
        seed=SEED,
    )


def use_threads(benchmark, threads: int | None) -> int:
    """Set BLAS and Numba to ``threads`` (None: every available core) and record the count set."""
    n = set_threads(threads)
    benchmark.extra_info["threads"] = n
    return n


def epoch_info(study: str, backend: str, data: BenchData, *, samples: int, batch: int, hidden: int) -> dict:
    """What the report needs to know about an epoch benchmark besides its times."""
    return {
        "study": study,
        "backend": backend,
        "batch": batch,
        "hidden": hidden,
        "layer_sizes": layer_sizes(hidden),
        "samples": samples,
        "epoch_samples": EPOCH_SAMPLES,
        "flops_per_sample": training_flops(layer_sizes(hidden), 1),
        "dataset": data.name,
        "optimizer": OPTIMIZER,
    }


def bench_epoch(
    benchmark,
    data: BenchData,
    *,
    study: str,
    backend: str,
    samples: int,
    rounds: int,
    batch: int = DEFAULT_BATCH,
    hidden: int = DEFAULT_HIDDEN,
    threads: int | None = None,
    fused: bool = True,
) -> None:
    """Time one training epoch (``Trainer.run_epoch``: a permutation and the steps) of ``samples`` rows.

    One warm-up epoch runs first, untimed, so that Numba's compilation and the first touch of every
    buffer stay out of the rounds. The report divides the median by ``samples`` and, where ``samples``
    is not a whole epoch, scales it to ``EPOCH_SAMPLES`` and says so.
    """
    samples = min(samples, len(data.X_train))
    trainer = make_trainer(data, backend, batch=batch, hidden=hidden, samples=samples, fused=fused)
    use_threads(benchmark, threads)
    benchmark.extra_info.update(epoch_info(study, backend, data, samples=samples, batch=batch, hidden=hidden))
    benchmark.extra_info["fused"] = fused and hasattr(trainer.net.backend, "momentum_step")
    benchmark.pedantic(trainer.run_epoch, rounds=rounds, iterations=1, warmup_rounds=1)


def bench_calls(
    benchmark,
    fn: Callable[[], object],
    *,
    rounds: int,
    round_seconds: float,
) -> None:
    """Time ``fn`` per call: a warm-up call (compilation, caches), then enough calls per round to last
    about ``round_seconds``, so that the timer's resolution and the call overhead of a short kernel do
    not dominate."""
    fn()  # compile and warm up, untimed
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    iterations = max(1, min(100_000, int(round_seconds / max(once, 1e-9))))
    benchmark.extra_info["iterations"] = iterations
    benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)


def record_rate(benchmark, *, flops: int = 0, bytes_moved: int = 0) -> None:
    """Store the achieved GFLOP/s or GB/s of the median call in ``extra_info`` (the report reads it)."""
    benchmark.extra_info.update(flops=flops, bytes=bytes_moved)
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: the function ran once, nothing was timed
        return
    median = stats.stats.median
    if flops:
        benchmark.extra_info["gflops"] = flops / median / 1e9
    if bytes_moved:
        benchmark.extra_info["gbytes_per_s"] = bytes_moved / median / 1e9
