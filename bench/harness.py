"""What the benchmarks share: the data they train on, the work they count, and how they time it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from bench.machine import sync_probe
from bench.settings import BenchSettings
from kernels import get_backend
from kernels.pixels import PIXEL_DTYPE, PIXEL_MAX, scale_pixels
from kernels.threads import available_cores, set_threads
from network import MLP
from network.data import DataError, load_dataset
from network.optim import make_optimizer
from network.sources import find_dataset
from network.trainer import Diverged, Trainer
from reports.claims import AT_LEAST, AT_MOST
from reports.roles import ARRAY_COMPILER, PEER, PEER_COMPILED, PEERS

EPOCH_SAMPLES = 60_000  # an epoch as the literature counts it (MNIST's training set)
INPUTS, CLASSES = 784, 10
DEFAULT_HIDDEN = 128
DEFAULT_BATCH = 128
DTYPE = "float32"
OPTIMIZER = "momentum"  # SGD with momentum: what the PyTorch reference runs too
MOMENTUM = 0.9  # network.optim.Momentum's default, given to the PyTorch reference's SGD
TIMING_LR = 0.01  # small enough that no sweep point (batch 1 included) diverges while it is timed
CURVE_LR = 0.1  # at batch 32, trains every backend's short run for the curves without diverging
TIMING_EPOCHS = 10_000  # the schedule's length: the cosine learning rate stays far from 0 while timed
SEED = 0
TORCH_MISSING = "PyTorch is not installed (pip install -e '.[torch]')"  # why its benchmarks skip
WARMUP_ROUNDS = 1  # untimed rounds before the timed ones: Numba's compilation, every buffer's first touch
# settle(): after a call returns, a library's worker threads keep spinning for a while, ready for the next,
# each taking a whole core from whatever runs next
SETTLE_SLICE = 0.005  # seconds of sleep per look at the process's CPU use
SETTLE_IDLE_SHARE = 0.05  # while the main thread sleeps, a process using less of a core than this is idle
SETTLE_TIMEOUT = 2.0  # seconds; far past the libraries' spin-down: a process still busy then is not ours


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
    """The training and test sets every benchmark draws from (images as uint8 pixels, as the data sets hold
    them), and where they came from."""

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
            ds = load_dataset(name, data_dir=folder, download=False)
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
        # pixels, as a data set holds them: the trainer's gather scales them as it does a data set's
        rng.integers(0, PIXEL_MAX + 1, (EPOCH_SAMPLES, INPUTS), PIXEL_DTYPE),
        rng.integers(0, CLASSES, EPOCH_SAMPLES),
        rng.integers(0, PIXEL_MAX + 1, (10_000, INPUTS), PIXEL_DTYPE),
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
    optimizer: str = OPTIMIZER,
) -> Trainer:
    """A trainer of ``[784, hidden, 10]`` on the first ``samples`` training rows of ``data``."""
    net = MLP(layer_sizes(hidden), backend=backend, dtype=DTYPE, seed=SEED, fused=fused)
    return Trainer(
        net,
        make_optimizer(optimizer, net.params),
        (data.X_train[:samples], data.y_train[:samples]),
        (data.X_test[:test_samples], data.y_test[:test_samples]),
        epochs=epochs,
        batch_size=batch,
        lr=lr,
        seed=SEED,
        stop_if_not_learning=False,  # a timed epoch or a short curve is measured as it goes
    )


def use_threads(benchmark, threads: int | None) -> int:
    """Set BLAS and Numba to ``threads`` (None: every available core) and record the count set."""
    n = set_threads(threads)
    benchmark.extra_info["threads"] = n
    return n


def epoch_info(
    backend: str,
    data: BenchData,
    *,
    samples: int,
    batch: int,
    hidden: int,
    threads: int,
    optimizer: str = OPTIMIZER,
) -> dict:
    """What the report needs to know about a round of epoch training besides its times: every fact it
    would otherwise have to assume (shapes, sizes, data set, dtype, threads)."""
    sizes = layer_sizes(hidden)
    return {
        "backend": backend,
        "batch": batch,
        "hidden": hidden,
        "layer_sizes": sizes,
        "samples": samples,  # trained per round; the report scales to epoch_samples where they differ
        "epoch_samples": EPOCH_SAMPLES,
        "flops_per_sample": training_flops(sizes, 1),
        "flops": training_flops(sizes, samples),  # of one round
        "dataset": data.name,
        "dtype": DTYPE,
        "optimizer": optimizer,
        "threads": threads,
    }


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Side:
    """Something timed round by round: one side of a paired ratio, or an epoch timed alone.

    ``run`` does one round's work and is all that is timed. ``prepare`` runs, untimed, just before each of
    its rounds: it restores what the other side of a pair may have changed (the thread count), so that
    "1 thread against all threads" alternates as well as "numba against numpy", and it wakes the side's
    own worker threads (for an epoch: one training step), so that the round starts as one of a series of
    back-to-back rounds does. ``info`` is the context the report reads (for an epoch: ``epoch_info`` and
    more).
    """

    label: str
    run: Callable[[], object]
    info: dict
    prepare: Callable[[], object] = _nothing


def trainer_epoch(
    data: BenchData,
    backend: str,
    *,
    samples: int,
    batch: int = DEFAULT_BATCH,
    hidden: int = DEFAULT_HIDDEN,
    threads: int | None = None,
    fused: bool = True,
    optimizer: str = OPTIMIZER,
) -> Side:
    """One training epoch (``Trainer.run_epoch``: a permutation and the steps) of the first ``samples``
    rows in a registered backend, round after round on the same trainer, at ``threads`` threads (None:
    every available core). A non-finite loss raises ``Diverged`` in the round it appears, the warm-up
    included, which fails the benchmark."""
    samples = min(samples, len(data.X_train))
    trainer = make_trainer(
        data, backend, batch=batch, hidden=hidden, samples=samples, fused=fused, optimizer=optimizer
    )
    n = set_threads(threads)
    info = epoch_info(
        backend, data, samples=samples, batch=batch, hidden=hidden, threads=n, optimizer=optimizer
    )
    info["fused"] = fused and optimizer in getattr(trainer.net.backend, "fused_rules", ())
    X, y = trainer.train.images[:batch], trainer.train.labels[:batch]  # pixels: train_step scales them

    def prepare() -> None:
        set_threads(n)
        trainer.net.train_step(X, y, trainer.optimizer, trainer.lr)  # wakes the thread pools the round uses

    return Side(f"{backend} epoch", trainer.run_epoch, info, prepare=prepare)


def pytorch_epoch(
    data: BenchData,
    *,
    samples: int,
    batch: int = DEFAULT_BATCH,
    hidden: int = DEFAULT_HIDDEN,
    threads: int | None = None,
    optimizer: str = OPTIMIZER,
    compiled: bool = False,
) -> Side:
    """``trainer_epoch``'s epoch in PyTorch on the CPU: the same network, optimizer (PyTorch's SGD, with
    ``network.optim``'s momentum, or Adam, whose defaults are ours), learning rate, batch size and
    thread count. ``compiled``: the model and the optimizer's step compiled by ``torch.compile``
    (inductor), one static shape per batch size; they compile here, at the epoch's two batch shapes, and
    ``info["compile_seconds"]`` says how long that took. Raises ``ImportError`` without PyTorch (callers
    skip on it)."""
    import torch

    samples = min(samples, len(data.X_train))
    n = set_threads(threads)
    torch.set_num_threads(n)
    torch.manual_seed(SEED)
    sizes = layer_sizes(hidden)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])  # no ReLU on the logits
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer_of = {
        "sgd": lambda p: torch.optim.SGD(p, lr=TIMING_LR),
        "momentum": lambda p: torch.optim.SGD(p, lr=TIMING_LR, momentum=MOMENTUM),
        "adam": lambda p: torch.optim.Adam(p, lr=TIMING_LR),
    }
    torch_optimizer = optimizer_of[optimizer](model.parameters())
    forward, optimizer_step = model, torch_optimizer.step
    if compiled:
        # forget the graphs of earlier sides: past Dynamo's recompile limit (8 per function) a new shape
        # would silently run eager, and each point of the sweep is two more shapes
        torch._dynamo.reset()
        forward = torch.compile(model, dynamic=False)
        optimizer_step = torch.compile(torch_optimizer.step, dynamic=False)
    # PyTorch is given the scaled floats, as it was before the data sets were held as pixels: its epoch is
    # the peer's usual one (a tensor of floats, indexed a batch at a time), comparable with earlier runs.
    X = torch.from_numpy(scale_pixels(data.X_train[:samples], np.dtype(DTYPE)))
    y = torch.from_numpy(data.y_train[:samples])
    generator = torch.Generator().manual_seed(SEED)
    epochs_done = 0

    def train_step(X_batch, y_batch) -> float:
        torch_optimizer.zero_grad()
        loss = loss_fn(forward(X_batch), y_batch)
        loss.backward()
        optimizer_step()
        return loss.item()

    def epoch() -> None:
        # as Trainer.run_epoch: a permutation, then each step gathers its batch; and as Trainer, every
        # step's loss is read back and checked, so that a diverging run fails and both do that work
        nonlocal epochs_done
        order = torch.randperm(samples, generator=generator)
        for step, start in enumerate(range(0, samples, batch)):
            rows = order[start : start + batch]
            loss = train_step(X[rows], y[rows])
            if not math.isfinite(loss):
                raise Diverged(epochs_done + 1, step + 1, loss, TIMING_LR)
        epochs_done += 1

    def prepare() -> None:
        torch.set_num_threads(set_threads(n))
        train_step(X[:batch], y[:batch])  # wakes the thread pool the round uses

    start = time.perf_counter()
    for size in {samples % batch, min(batch, samples)} - {0}:  # the epoch's batch shapes, compiled here
        train_step(X[:size], y[:size])
    first_steps = time.perf_counter() - start
    name = PEER_COMPILED if compiled else PEER
    info = epoch_info(name, data, samples=samples, batch=batch, hidden=hidden, threads=n, optimizer=optimizer)
    info.update(torch_version=torch.__version__, torch_threads=torch.get_num_threads())
    if compiled:
        info["compile_seconds"] = first_steps
    return Side(f"{name} epoch", epoch, info, prepare=prepare)


def one_call_epoch(data: BenchData, *, samples: int, batch: int, optimizer: str = OPTIMIZER) -> Side:
    """``trainer_epoch``'s epoch of ``ARRAY_COMPILER`` with no Python between its steps: a permutation, then
    every step in one compiled call (``kernels.xla.epoch_in_one_call``, ``lax.scan`` over the batches), the
    parameters and optimizer state kept in XLA's buffers from round to round. Whole batches only:
    ``samples`` should be a multiple of ``batch``. The same network, optimizer, learning rate and seed."""
    from kernels import xla

    samples = min(samples, len(data.X_train))
    steps = samples // batch
    net = MLP(layer_sizes(DEFAULT_HIDDEN), backend=ARRAY_COMPILER, dtype=DTYPE, seed=SEED)
    update = make_optimizer(optimizer, net.params).fused_update(TIMING_LR)
    images = scale_pixels(data.X_train[:samples], np.dtype(DTYPE))  # scaled once, as a JAX user would
    labels = data.y_train[:samples]
    order = np.random.default_rng(SEED)
    params, state = [p for pair in net.params for p in pair], update.state
    epochs_done = 0

    def epoch() -> None:
        nonlocal params, state, epochs_done
        batches = order.permutation(samples)[: steps * batch].reshape(steps, batch)
        losses, params, state = xla.epoch_in_one_call(
            replace(update, state=state), params, images, labels, batches
        )
        if not np.isfinite(losses).all():
            step = int(np.argmin(np.isfinite(losses)))
            raise Diverged(epochs_done + 1, step + 1, float(losses[step]), TIMING_LR)
        epochs_done += 1

    info = epoch_info(
        ARRAY_COMPILER,
        data,
        samples=steps * batch,
        batch=batch,
        hidden=DEFAULT_HIDDEN,
        threads=available_cores(),
        optimizer=optimizer,
    )
    return Side(f"{ARRAY_COMPILER} epoch in one call", epoch, info)


FIXED_COST_BATCH = 8  # up to this batch a step costs about the same: its fixed costs, not its arithmetic


def batch_round_samples(settings: BenchSettings, batch: int) -> int:
    """Rows per round of a measurement at ``batch`` (the batch sweep, the small-batch pairs, the
    techniques): ``settings.sweep_samples``, or below ``FIXED_COST_BATCH`` as many steps as that batch makes
    of them. A step at batch 1 costs nearly what one at batch 8 does, so its rounds last about as long as
    batch 8's instead of eight times as long (at batch 1 to 4 they were a fifth of a full run's time)."""
    return min(settings.sweep_samples, batch * settings.sweep_samples // FIXED_COST_BATCH)


def round_samples(settings: BenchSettings, backend: str) -> int:
    """Rows per timed epoch round: the whole ``settings.epoch_samples`` for PyTorch and for a ``full_size``
    backend, ``settings.loops_samples`` for the others (the report scales their time to an epoch)."""
    if backend in PEERS or get_backend(backend).full_size:
        return settings.epoch_samples
    return settings.loops_samples


def epoch_side(data: BenchData, backend: str, **options) -> Side:
    """``trainer_epoch`` for a registered backend, ``pytorch_epoch`` for the ``PEERS``."""
    if backend in PEERS:
        return pytorch_epoch(data, compiled=backend == PEER_COMPILED, **options)
    return trainer_epoch(data, backend, **options)


def time_side(benchmark, side: Side, *, study: str, rounds: int) -> None:
    """Time ``side`` alone: ``WARMUP_ROUNDS`` untimed rounds, then ``rounds`` timed ones. The row carries
    ``study`` and the side's ``info``."""
    side.prepare()
    benchmark.extra_info.update(study=study, **side.info)
    benchmark.pedantic(side.run, rounds=rounds, iterations=1, warmup_rounds=WARMUP_ROUNDS)


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
    optimizer: str = OPTIMIZER,
) -> None:
    """Time one training epoch of ``samples`` rows in ``backend`` (``epoch_side`` by ``time_side``; ``fused``
    for a registered backend).

    The report divides the median by ``samples`` and, where ``samples`` is not a whole epoch, scales it to
    ``EPOCH_SAMPLES`` and says so.
    """
    options = dict(samples=samples, batch=batch, hidden=hidden, threads=threads, optimizer=optimizer)
    side = (
        epoch_side(data, backend, **options)
        if backend in PEERS
        else trainer_epoch(data, backend, fused=fused, **options)
    )
    time_side(benchmark, side, study=study, rounds=rounds)


def settle() -> None:
    """Return once no thread of this process is still running: sleep while the worker threads of the
    library that ran last spin down (see ``SETTLE_SLICE``), or ``SETTLE_TIMEOUT`` has passed.

    Without it, the side of a pair that runs next shares the cores with the other side's spinning
    threads (``bench_paired`` gives what that does to a ratio).
    """
    deadline = time.perf_counter() + SETTLE_TIMEOUT
    while time.perf_counter() < deadline:
        cpu, wall = time.process_time(), time.perf_counter()  # process_time: every thread of the process
        time.sleep(SETTLE_SLICE)
        if time.process_time() - cpu < SETTLE_IDLE_SHARE * (time.perf_counter() - wall):
            return


def bench_paired(
    benchmark,
    a: Side,
    b: Side,
    *,
    rounds: int,
    quantity: str,
    scale: float = 1.0,
    bound: float | None = None,
    sense: str | None = None,
) -> None:
    """Time ``a`` against ``b`` in alternating rounds, b a b a ..., for the ratios ``scale * a_i / b_i``.

    pytest-benchmark times ``a`` (its ``stats.data``: one time per round, in order); each of a's rounds is
    preceded by a round of ``b``, timed here into ``extra_info["b_seconds"]``, so that both sides of every
    ratio see the same state of a machine that drifts over minutes; each round starts once the other
    side's worker threads have gone idle (``settle``) and its own are awake (``Side.prepare``). Both
    sides get ``WARMUP_ROUNDS`` untimed rounds, b's first, and b's are dropped: ``b_seconds[i]`` is the
    round run just before a's timed round ``i``, and ``sync_us[i]`` the cores' state just before that
    (``bench.machine.sync_probe``). ``bound`` and ``sense`` (``AT_MOST`` or ``AT_LEAST``) state the
    ratio's target, or are both None.
    """
    if sense not in (None, AT_MOST, AT_LEAST) or (bound is None) != (sense is None):
        raise ValueError(
            f"bound {bound!r} with sense {sense!r}: give both ({AT_MOST!r} or {AT_LEAST!r}) or neither"
        )
    b_seconds: list[float] = []
    sync_us: list[float] = []

    def run_b_then_prepare_a() -> None:
        # Each side's round starts once the other side's threads are idle (``settle``: otherwise they
        # share the cores with it) and its own are awake (``prepare``: otherwise a short round's first step
        # waits for an idle core to wake), as in a series of its own rounds, while both sides see the
        # machine of the same minute. Only with both does a paired ratio match the sides timed alone.
        settle()
        set_threads(None)
        sync_us.append(sync_probe())  # the machine's state for this pair (bench/machine.py says why)
        b.prepare()
        start = time.perf_counter()
        b.run()
        b_seconds.append(time.perf_counter() - start)
        settle()
        a.prepare()

    benchmark.extra_info.update(
        study="headline",
        quantity=quantity,
        a=a.label,
        b=b.label,
        scale=scale,
        bound=bound,
        sense=sense,
        a_info=a.info,
        b_info=b.info,
    )
    # pedantic calls setup before every round, its warm-up rounds first (and, under --benchmark-cprofile,
    # once more after the timed rounds): the b rounds paired with a's timed rounds are this slice
    benchmark.pedantic(
        a.run, setup=run_b_then_prepare_a, rounds=rounds, iterations=1, warmup_rounds=WARMUP_ROUNDS
    )
    benchmark.extra_info["b_seconds"] = b_seconds[WARMUP_ROUNDS : WARMUP_ROUNDS + rounds]
    benchmark.extra_info["sync_us"] = sync_us[WARMUP_ROUNDS : WARMUP_ROUNDS + rounds]


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
    benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=WARMUP_ROUNDS)


def record_rate(benchmark, *, flops: int = 0, bytes_moved: int = 0) -> None:
    """Store a call's work in ``extra_info``, ``flops`` and ``bytes`` (its compulsory memory traffic), and
    the median call's GFLOP/s and GB/s for each count given (non-zero): with both, the report can place the
    call on a roofline."""
    benchmark.extra_info.update(flops=flops, bytes=bytes_moved)
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: the function ran once, nothing was timed
        return
    median = stats.stats.median
    if flops:
        benchmark.extra_info["gflops"] = flops / median / 1e9
    if bytes_moved:
        benchmark.extra_info["gbytes_per_s"] = bytes_moved / median / 1e9
