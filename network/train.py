"""Train the MLP on MNIST or Fashion-MNIST from the command line: ``python -m network.train --help``."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from kernels import Backend, available_backends, get_backend
from kernels.threads import set_threads
from network.checkpoint import CheckpointError, load_checkpoint, restore_weights, save_checkpoint
from network.data import DataError, load_dataset, split_validation
from network.dataset import Dataset
from network.guards import (
    RESUME_SETTINGS,
    check_network_fits,
    check_outputs,
    check_resumed_settings,
    option_of,
    outputs_locked,
)
from network.metrics import versions, write_metrics
from network.model import DTYPES, MLP
from network.optim import OPTIMIZERS, make_optimizer
from network.sources import DATASETS
from network.stopping import SIGNAL_EXIT_BASE, stop_on_signals
from network.trainer import (
    Diverged,
    EpochMetrics,
    NotLearning,
    Trainer,
    checked_set,
    loss_and_accuracy,
    warm_up,
)
from network.tuned import TUNED

# The defaults of the options in TUNED depend on the data set and the optimizer: they are the tuned settings
# (network/tuned.py, chosen on validation accuracy by reports/accuracy.py). These hold for every data set.
DEFAULTS = {
    "epochs": 10,
    "warmup": 0.0,
    # A tenth of the training set, held out to choose settings on (reports/accuracy.py tunes with it); once
    # chosen, --val-size 0 trains them on all of it, and the test set is measured once, at the end.
    "val_size": 0.1,
}


def tuned_settings(dataset: str, optimizer: str | None = None) -> dict:
    """The tuned settings of ``optimizer`` on ``dataset`` (hidden, batch_size, lr, weight_decay and the
    optimizer itself); ``None`` picks the data set's best optimizer. Each optimizer has its own: a rate
    tuned for momentum is tens of times the one Adam learns with."""
    tuned = TUNED[dataset]
    optimizer = optimizer or tuned["optimizer"]
    if optimizer not in tuned["optimizers"]:
        raise ValueError(f"no tuned settings for {optimizer} on {dataset}: give --lr")
    return {"optimizer": optimizer, **tuned["optimizers"][optimizer]}


def default_lr(tuned: dict, batch_size: int) -> float:
    """The ``tuned`` peak learning rate, in proportion to a batch smaller than the tuned one (the linear
    scaling rule: a step of a smaller batch is a noisier one, and at the rate tuned for a larger batch it
    can keep the run from learning at all)."""
    return tuned["lr"] * min(1.0, batch_size / tuned["batch_size"])


def tuned_default(option: str) -> str:
    """The --help text of an option whose default depends on the data set (and on the optimizer)."""

    def shown(value: object) -> str:
        return f"{value:g}" if isinstance(value, float) else f"{value}"

    if option == "optimizer":
        values = ", ".join(f"{tuned['optimizer']} for {name}" for name, tuned in TUNED.items())
        return f"(default: {values})"
    per_data_set = [
        f"{name}: "
        + ", ".join(
            f"{shown(settings[option])} with {optimizer}"
            for optimizer, settings in tuned["optimizers"].items()
        )
        for name, tuned in TUNED.items()
    ]
    return f"(default, per data set and optimizer: {'; '.join(per_data_set)})"


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default in --help, except for options whose default is "not given"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (and exit status 2), without the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def whole_number(text: str, minimum: int, kind: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    return whole_number(text, 1, "a positive whole number")


def non_negative_int(text: str) -> int:
    return whole_number(text, 0, "a whole number >= 0")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else positive_float(text)


def validation_size(text: str) -> int | float:
    """``"5000"`` -> 5000 images, ``"0.1"`` -> a tenth of the training set, ``"0"`` -> none."""
    try:
        count = int(text)
    except ValueError:
        count = None
    if count is not None:
        if count < 0:
            raise argparse.ArgumentTypeError(f"must not be negative, got {count}")
        return count
    try:
        fraction = float(text)
    except ValueError:
        fraction = float("nan")
    if not 0 < fraction < 1:
        raise argparse.ArgumentTypeError(
            f"expected a count of images such as 5000 or a fraction between 0 and 1 such as 0.1, got {text!r}"
        )
    return fraction


def hidden_sizes(text: str) -> tuple[int, ...]:
    """``"128"`` -> (128,), ``"128,64"`` -> (128, 64); each width a positive integer."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer widths such as 128 or 128,64, got {text!r}"
        )
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m network.train",
        description="Train a from-scratch MLP on MNIST-style data with one of the kernel backends. Each "
        "epoch reports the held-out validation set (--val-size) to choose settings on; the test set is "
        "measured once, after the last epoch. A final run of chosen settings trains on all the training "
        "images (--val-size 0).",
        formatter_class=DefaultsFormatter,
    )
    # In this order: it is the order of --help and of the settings that checkpoints and --metrics record.
    add_backend_and_data_options(parser)
    add_hyperparameter_options(parser)
    add_seed_and_dtype_options(parser)
    add_data_size_options(parser)
    add_threads_option(parser)
    add_output_options(parser)
    return parser


def add_backend_and_data_options(parser: argparse.ArgumentParser) -> None:
    """Which kernels compute, and which data set they learn from."""
    parser.add_argument(
        "--backend",
        choices=available_backends(),
        default="numpy",
        help="which kernels compute the network: Python loops, NumPy/BLAS, or Numba JIT",
    )
    parser.add_argument(
        "--dataset", choices=list(DATASETS), default="mnist", help="which dataset to train on"
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the dataset's four IDX files (or a <dataset>/ folder with them), or Kaggle's "
        "CSV files: the digit recognizer's train.csv (then there is no labelled test set) or Fashion-MNIST's "
        "fashion-mnist_train.csv and fashion-mnist_test.csv; otherwise $SCRATCHNET_DATA, then the cache "
        "(~/.cache/scratchnet), then a download",
    )


def add_hyperparameter_options(parser: argparse.ArgumentParser) -> None:
    """The network's hidden widths and how it is optimised."""
    parser.add_argument(
        "--hidden",
        type=hidden_sizes,
        help="hidden layer widths, comma-separated (e.g. 128 or 128,64) " + tuned_default("hidden"),
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=DEFAULTS["epochs"], help="passes over the training set"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, help="samples per step " + tuned_default("batch_size")
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        help="peak learning rate; it follows a cosine from the peak down to 0 over the run "
        + tuned_default("lr")
        + "; with a batch smaller than the default, that lr times batch / default batch",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        default=DEFAULTS["warmup"],
        metavar="EPOCHS",
        help="epochs of linear learning-rate warm-up before the cosine",
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        help="sgd, sgd with momentum 0.9, or adam " + tuned_default("optimizer"),
    )
    parser.add_argument(
        "--weight-decay",
        type=non_negative_float,
        help="L2 penalty on the weights (not the biases), added to their gradients "
        + tuned_default("weight_decay"),
    )


def add_seed_and_dtype_options(parser: argparse.ArgumentParser) -> None:
    """The seed of every random draw, and the floating-point type of every array."""
    parser.add_argument(
        "--seed",
        type=non_negative_int,  # NumPy's generators take no negative seed
        default=0,
        help="seed of the initial weights, the shuffling and the validation split",
    )
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="floating-point type of all arrays"
    )


def add_data_size_options(parser: argparse.ArgumentParser) -> None:
    """How many images train, which are held out for validation, and when the test set is measured."""
    parser.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="use the first N training samples only (the loops backend is slow); --val-size holds out "
        "part of those",
    )
    parser.add_argument(
        "--val-size",
        type=validation_size,
        default=DEFAULTS["val_size"],
        metavar="N|FRACTION",
        help="training images held out (drawn by --seed) to measure after every epoch and choose settings "
        "on: a count, or a fraction of the training set; 0 trains on all of them, as a final run of chosen "
        "settings should",
    )
    parser.add_argument(
        "--test-limit",
        type=positive_int,
        metavar="N",
        help="measure test accuracy on the first N test samples only",
    )
    parser.add_argument(
        "--test-every-epoch",
        action="store_true",
        help="measure the test set after every epoch too, not only once after the last (for a learning curve;"
        " choosing settings by it would make the test accuracy an optimistic estimate)",
    )


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="threads for Numba and BLAS together (default: all available cores)",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """The files a run writes (metrics, checkpoints) and the checkpoint it continues from."""
    parser.add_argument(
        "--metrics",
        type=Path,
        metavar="PATH",
        help="write the run's settings, data sizes and versions, its per-epoch metrics and the final test "
        "result to PATH (.csv or .json), updated after every epoch; an existing PATH is refused unless the "
        "run is resumed (--resume) or --overwrite is given",
    )
    parser.add_argument(
        "--save",
        type=Path,
        metavar="PATH",
        help="save a checkpoint (.npz) after every epoch, and mid-epoch on Ctrl-C, SIGTERM or SIGHUP (the "
        "run then exits with 128 + the signal's number: 130, 143, 129); an existing PATH is refused unless "
        "it is the --resume checkpoint or --overwrite is given",
    )
    parser.add_argument(
        "--resume", type=Path, metavar="PATH", help="continue from a checkpoint written by --save"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="let --save and --metrics replace an existing file"
    )
    parser.add_argument(
        "--accept-changed-settings",
        action="store_true",
        help=f"let --resume continue with other {', '.join(map(option_of, RESUME_SETTINGS))} than the "
        "checkpoint's (otherwise refused: each changes the run)",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.metrics is not None and args.metrics.suffix not in (".csv", ".json"):
        parser.error(f"--metrics: {args.metrics} must end in .csv or .json")
    try:
        tuned = tuned_settings(args.dataset, args.optimizer)
    except ValueError as untuned:
        if args.lr is None:
            parser.error(str(untuned))
        tuned = {**tuned_settings(args.dataset), "optimizer": args.optimizer}
    args.hidden = args.hidden or hidden_sizes(tuned["hidden"])
    for option in ("batch_size", "optimizer", "weight_decay"):
        if getattr(args, option) is None:
            setattr(args, option, tuned[option])
    # Where the learning rate came from, for the first line and the records: "given", "default", or the
    # default scaled to a smaller batch.
    args.lr_source = "given"
    if args.lr is None:
        args.lr = default_lr(tuned, args.batch_size)
        scaled = f"default {tuned['lr']:g} x batch {args.batch_size}/{tuned['batch_size']}"
        args.lr_source = "default" if args.lr == tuned["lr"] else scaled
    return args


def format_epoch(metrics: EpochMetrics, epochs: int) -> str:
    width = len(str(epochs))
    val = (
        ""
        if metrics.val_loss is None
        else f"val loss {metrics.val_loss:.4f}  val acc {metrics.val_accuracy:.2%}  "
    )
    test = "" if metrics.test_accuracy is None else f"test acc {metrics.test_accuracy:.2%}  "
    return (
        f"epoch {metrics.epoch:>{width}}/{epochs}  loss {metrics.train_loss:.4f}  "
        f"train acc {metrics.train_accuracy:.2%}  {val}{test}"
        f"{metrics.seconds:.2f} s  {metrics.samples_per_second:,.0f} samples/s"
    )


def settings_of(args: argparse.Namespace) -> dict:
    """The run's settings as plain values, for checkpoints."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


def run(args: argparse.Namespace) -> int:
    """Load the data, then train on it with the outputs locked."""
    backend = get_backend(args.backend)  # fails early, in one line, if numba is missing
    threads = set_threads(args.threads)
    data = load_dataset(args.dataset, args.data_dir)
    # Locked only now: a lock file creates its output's missing folders, which a run whose data fails to
    # load must not leave behind.
    with outputs_locked(args.save, args.metrics):
        return train_on(args, backend, threads, data)


def train_on(args: argparse.Namespace, backend: Backend, threads: int, data: Dataset) -> int:
    """Train on ``data`` with ``backend`` and ``threads``, as ``args`` say: the first line, the epochs, the
    test measured once; returns the exit status."""
    train, val = split_validation(
        data.train_images[: args.limit], data.train_labels[: args.limit], args.val_size, args.seed
    )
    check_network_fits([data.n_features, *args.hidden, 10], args.dtype)
    net = MLP([data.n_features, *args.hidden, 10], backend=args.backend, dtype=args.dtype, seed=args.seed)
    # Checked now, not after the last epoch. The digit recognizer's Kaggle files have no labelled test set.
    test_images, test_labels = data.test_images[: args.test_limit], data.test_labels[: args.test_limit]
    test = checked_set(net, "test set", test_images, test_labels) if len(test_labels) else None
    optimizer = make_optimizer(args.optimizer, net.params, args.weight_decay)
    trainer = Trainer(
        net,
        optimizer,
        train,
        test if args.test_every_epoch else None,
        validation=val if len(val[1]) else None,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        warmup_epochs=args.warmup,
    )
    if args.resume is not None:
        resume(args.resume, net, optimizer, trainer)

    sizes = {"train": len(train[1]), "validation": len(val[1]), "test": len(test_labels)}
    counts = " / ".join(f"{n:,} {part}" for part, n in sizes.items())
    no_test = "" if sizes["test"] else "; no labelled test set"  # the digit recognizer's test.csv has none
    # a backend that runs differently on different CPUs says how it runs on this one (the numba blocking)
    how = f" with {backend.describe(net.dtype)}" if hasattr(backend, "describe") else ""
    # a backend on a thread pool of its own (jax) runs on it whatever --threads set: no count to print
    count = "" if getattr(backend, "own_thread_pool", False) else f", {threads} thread{'s' * (threads != 1)}"
    print(
        f"scratchnet: backend {backend.name}, {args.dtype}{how}{count}, "
        f"{data.name} ({counts} images from {data.source}{no_test}), "
        f"network {'-'.join(map(str, net.layer_sizes))}, {args.optimizer} lr {args.lr:g} "
        f"({args.lr_source}; cosine), batch {args.batch_size}, seed {args.seed}",
        flush=True,
    )
    if trainer.epoch:
        print(
            f"resumed from {args.resume} after epoch {trainer.epoch}"
            + (f", step {trainer.step_in_epoch}" if trainer.order is not None else ""),
            flush=True,
        )

    # Compile (or load from Numba's cache) every kernel before the clock starts: never inside epoch 1.
    seconds = warm_up(trainer)
    if backend.name == "numba":
        print(
            f"numba: kernels compiled or loaded from cache in {seconds:.2f} s (not counted in any epoch)",
            flush=True,
        )

    description = {
        "settings": settings_of(args),
        "data": {"name": data.name, "source": str(data.source), **sizes},
        "threads": threads,
        "versions": versions(),
    }
    code = train_loop(args, trainer, description)
    if code == 0 and test is not None:
        final_test(args, trainer, test, description)
    return code


def final_test(args: argparse.Namespace, trainer: Trainer, test: tuple, description: dict) -> None:
    """Measure the test set once, after the last epoch: print it and add it to the --metrics file."""
    loss, accuracy = loss_and_accuracy(trainer.net, *test)
    print(
        f"test (measured once, after epoch {trainer.epoch}): loss {loss:.4f}  accuracy {accuracy:.2%} "
        f"on {len(test[1]):,} images",
        flush=True,
    )
    if args.metrics:
        result = {"epoch": trainer.epoch, "loss": loss, "accuracy": accuracy, "images": len(test[1])}
        write_metrics(args.metrics, description, trainer.history, result)


def resume(path: Path, net: MLP, optimizer, trainer: Trainer) -> None:
    checkpoint = load_checkpoint(path)
    restore_weights(net, checkpoint, path)
    if checkpoint.optimizer != optimizer.name:
        raise CheckpointError(
            f"{path}: the checkpoint was trained with --optimizer {checkpoint.optimizer}, "
            f"this run asks for {optimizer.name}"
        )
    # Its position is a count of steps: in batches of another size it would skip or repeat samples.
    saved_batch = checkpoint.settings.get("batch_size", trainer.batch_size)
    if checkpoint.trainer_state["order"] is not None and saved_batch != trainer.batch_size:
        raise CheckpointError(
            f"{path}: saved mid-epoch in batches of {saved_batch}, it continues only in those "
            f"(this run asks for --batch-size {trainer.batch_size})"
        )
    try:
        optimizer.load_state(checkpoint.optimizer_state)
        trainer.load_state(checkpoint.trainer_state)
    except (ValueError, TypeError, KeyError) as err:  # a hand-edited history or RNG state
        raise CheckpointError(f"{path}: {err}") from None


def train_loop(args: argparse.Namespace, trainer: Trainer, description: dict) -> int:
    def request_stop() -> None:
        trainer.stop_requested = True

    show_bar = sys.stderr.isatty()
    with stop_on_signals(request_stop) as received:
        try:
            while not trainer.finished:
                with tqdm(
                    total=trainer.n_train,
                    initial=trainer.step_in_epoch * args.batch_size,
                    desc=f"epoch {trainer.epoch + 1}",
                    unit=" samples",
                    leave=False,
                    disable=not show_bar,
                ) as bar:
                    metrics = trainer.train_epoch(on_batch=bar.update)
                if metrics is None:
                    stopped = f"interrupted in epoch {trainer.epoch + 1} by {received.name}"
                    if args.save:
                        save(args, trainer)
                        print(f"{stopped}: saved {args.save}; continue with --resume {args.save}", flush=True)
                    else:
                        print(f"{stopped} (nothing saved: no --save)", flush=True)
                    return received.exit_code
                print(format_epoch(metrics, args.epochs), flush=True)
                if args.save:  # first: a metrics file that cannot be written must not cost the checkpoint
                    save(args, trainer)
                if args.metrics:
                    write_metrics(args.metrics, description, trainer.history)
        except KeyboardInterrupt:  # a second signal
            kept = f"; {args.save} holds the last completed save" if args.save and args.save.exists() else ""
            print(f"stopped at once by a second {received.name}{kept}", file=sys.stderr)
            return received.exit_code
        except (Diverged, NotLearning) as err:
            kept = f"; the last good checkpoint is {args.save}" if args.save and args.save.exists() else ""
            print(f"error: {err}{kept}", file=sys.stderr)
            return 1
    return 0


def save(args: argparse.Namespace, trainer: Trainer) -> None:
    save_checkpoint(args.save, trainer.net, trainer.optimizer, trainer.state(), settings_of(args))


def report_user_errors(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``command(args)``, with a user's mistake (data, checkpoint, missing library, unwritable path, a network
    too large for memory) reported as one line on stderr and exit status 1 instead of a traceback. Ctrl-C
    outside the training loop (which saves on it) is one line too, with exit status 130."""
    try:
        return command(args)
    except (DataError, CheckpointError, ImportError, OSError, MemoryError) as err:  # OutputRefused is OSError
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C) outside training: nothing to save", file=sys.stderr)
        return SIGNAL_EXIT_BASE + signal.SIGINT


def run_guarded(args: argparse.Namespace) -> int:
    """:func:`run`, refused if it resumes with changed settings (or, once its data has loaded, if another
    run writes its outputs)."""
    if args.resume is not None and not args.accept_changed_settings:
        check_resumed_settings(args.resume, settings_of(args))
    return run(args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_outputs(args.save, args.metrics, args.resume, args.overwrite)
    except OSError as err:  # OutputRefused, or a path that cannot even be looked at (permission denied)
        build_parser().error(str(err))
    return report_user_errors(run_guarded, args)


if __name__ == "__main__":
    sys.exit(main())
