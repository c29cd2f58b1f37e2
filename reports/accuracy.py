"""The accuracy the README claims, and the tuning behind the defaults, measured by running the training CLI:

    python -m reports.accuracy [--data-dir DIR] [--tuning]

``--tuning`` trains every candidate of CANDIDATES with each seed of SEEDS on each data set, holding out the
CLI's default validation set (a tenth of the training images, drawn by the seed). Per data set, the
candidate with the best mean final validation accuracy becomes the default: this writes network/tuned.py.
Each run's test accuracy is recorded in tuning.csv too, but plays no part in the choice.

Then the final runs: ``python -m network.train`` with the defaults and ``--val-size 0`` (trained on every
training image) for each bar's epochs and each full-size backend; the test accuracy is measured once, at
the end. The results go to reports/accuracy.md, reports/accuracy.csv and the README's accuracy section.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

import network
from kernels import full_size_backends
from network.files import atomic_write
from network.optim import OPTIMIZERS
from network.sources import DATA_ENV
from network.train import DEFAULTS
from network.tuned import TUNED
from reports.fmt import Columns, frame_table
from reports.readme import README, update_section
from reports.roles import COMPILED

REPORTS = Path(__file__).resolve().parent
ACCURACY_MD = REPORTS / "accuracy.md"
ACCURACY_CSV = REPORTS / "accuracy.csv"
TUNING_CSV = REPORTS / "tuning.csv"
TUNED_PY = Path(network.__file__).resolve().parent / "tuned.py"
MNIST_TRAIN_IMAGES = 60_000  # in the official training set


@dataclass(frozen=True)
class Bar:
    dataset: str
    epochs: int
    accuracy: float  # the final test accuracy must reach this
    reference: str  # where the bar comes from


BARS = [
    Bar("mnist", 10, 0.975,
        "PyTorch 784-256-10, SGD momentum 0.9, lr 0.1, batch 64, on these images: 97.5-97.6%"),
    Bar("fashion-mnist", 15, 0.890,
        "PyTorch 784-256-10 with Adam: 89.1-89.4%; published MLP baselines ~87-88%"),
]  # fmt: skip

# The settings the tuning chooses among (the options of network.tuned, by their argparse names), all with
# cosine decay. A modest grid around the usual choices of each optimizer: width, batch, peak lr, weight decay.
# Plain SGD's rates are about ten times momentum's (momentum 0.9 takes steps ten times as long).
SETTINGS = ("hidden", "batch_size", "optimizer", "lr", "weight_decay")
CANDIDATES = [
    dict(zip(SETTINGS, values))
    for values in [
        ("512", 64, "sgd", 0.2, 0.0),
        ("512", 64, "sgd", 0.5, 0.0),
        ("512", 128, "sgd", 0.5, 0.0),
        ("512", 128, "sgd", 1.0, 0.0),
        ("512", 64, "sgd", 1.0, 0.0),
        ("256", 64, "momentum", 0.1, 0.0),
        ("256", 64, "momentum", 0.05, 0.0),
        ("512", 64, "momentum", 0.1, 0.0),
        ("512", 64, "momentum", 0.05, 0.0),
        ("512", 128, "momentum", 0.2, 0.0),
        ("512", 128, "momentum", 0.1, 0.0),
        ("512", 128, "momentum", 0.05, 0.0),
        ("512", 128, "momentum", 0.1, 0.0005),
        ("1024", 128, "momentum", 0.1, 0.0),
        ("512", 64, "adam", 0.0005, 0.0),
        ("512", 128, "adam", 0.0002, 0.0),
        ("512", 128, "adam", 0.0005, 0.0),
        ("512", 128, "adam", 0.001, 0.0),
        ("512", 128, "adam", 0.002, 0.0),
        ("512", 128, "adam", 0.003, 0.0),
        ("512", 64, "adam", 0.001, 0.0),
    ]
]
SEEDS = (0, 1, 2)
TUNING_BACKEND = COMPILED  # the fastest; the final runs show the backends agree
# One thread per run, tuning and final: on a shared machine, Numba's parallel regions with more threads than
# free cores crawl, far below what one thread trains.
THREADS = "--threads=1"
VAL_SIZE = DEFAULTS["val_size"]  # the tuning runs hold out the CLI's default validation set


TUNED_DOC = """The default settings of each data set and optimizer, chosen by
``python -m reports.accuracy --tuning``, which writes this file: per optimizer, its candidate with the best
mean validation accuracy; the data set's default optimizer is the one whose choice is best.
reports/accuracy.md shows the runs."""


def options(settings: dict) -> list[str]:
    """``{"batch_size": 64, "lr": 0.05, ...}`` -> ``["--batch-size=64", "--lr=0.05", ...]``."""
    return [
        f"--{key.replace('_', '-')}="
        + (f"{value:g}" if isinstance(value := settings[key], float) else f"{value}")
        for key in SETTINGS
    ]


class StoppedNotLearning(RuntimeError):
    """A training run that the CLI stopped because it was not learning (a candidate's lr too high)."""


def train(data_dir: str, *args: str) -> tuple[dict, str]:
    """Run the training CLI; return its --metrics record and the command as a user would type it."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.json"
        cli = [sys.executable, "-m", "network.train", *args, f"--data-dir={data_dir}", f"--metrics={metrics}"]
        done = subprocess.run(cli, capture_output=True, text=True)
        command = " ".join(["python", "-m", "network.train", *args])
        if done.returncode != 0:
            failure = StoppedNotLearning if "not learning" in done.stderr else RuntimeError
            raise failure(f"{command} failed: {done.stderr.strip()}")
        print(command, "->", done.stdout.strip().splitlines()[-1], flush=True)
        return json.loads(metrics.read_text()), command


def _run(backend: str, bar: Bar) -> list[str]:
    return [f"--backend={backend}", f"--dataset={bar.dataset}", f"--epochs={bar.epochs}"]


TUNING_RUN = ["dataset", *SETTINGS, "seed", "val_images", "val_accuracy", "test_accuracy", "commit"]


def measure_candidates(data_dir: str) -> pd.DataFrame:
    """Every candidate with every seed. A run stopped as not learning is kept, with no accuracy (NaN): its
    candidate is not chosen."""
    rows, commit = [], source_commit()
    for bar, settings, seed in itertools.product(BARS, CANDIDATES, SEEDS):
        run = [*_run(TUNING_BACKEND, bar), THREADS, f"--seed={seed}", *options(settings)]
        try:
            record, _ = train(data_dir, *run)
        except StoppedNotLearning as stopped:
            print(stopped, flush=True)
            rows.append([bar.dataset, *settings.values(), seed, None, None, None, commit])
            continue
        val = record["run"]["data"]["validation"], record["epochs"][-1]["val_accuracy"]
        rows.append([bar.dataset, *settings.values(), seed, *val, record["test"]["accuracy"], commit])
    return pd.DataFrame(rows, columns=TUNING_RUN)


def _mean_of_all(values: pd.Series) -> float:
    """The mean, NaN if any run stopped (pandas' mean would skip it and flatter the candidate)."""
    return values.mean(skipna=False)


def summarise(tuning: pd.DataFrame) -> pd.DataFrame:
    """Per data set and candidate: validation and test accuracy, mean, min and max over the seeds; whether it
    is its optimizer's choice (the best mean validation accuracy among that optimizer's candidates), and
    whether it is the data set's default (the best of those choices)."""
    spread = {
        f"{s}_{name}": (f"{s}_accuracy", agg)
        for s in ("val", "test")
        for name, agg in (("mean", _mean_of_all), ("min", "min"), ("max", "max"))
    }
    first = {column: (column, "first") for column in ("commit", "val_images")}
    stopped = tuning.val_accuracy.isna().rename("stopped")
    groups = tuning.assign(stopped=stopped).groupby(["dataset", *SETTINGS], sort=False)
    summary = groups.agg(seeds=("seed", "size"), stopped=("stopped", "sum"), **first, **spread).reset_index()
    best = summary.groupby(["dataset", "optimizer"], sort=False)["val_mean"].transform("max")
    summary["chosen"] = summary["val_mean"] == best
    best = summary.groupby("dataset", sort=False)["val_mean"].transform("max")
    summary["default"] = summary["val_mean"] == best
    return summary


def chosen_settings(summary: pd.DataFrame) -> dict[str, dict]:
    """Per data set, as network.tuned holds them: its default optimizer, and each optimizer's chosen
    settings (the first of any tie)."""
    tuned = {}
    for dataset, group in summary.groupby("dataset", sort=False):
        chosen = group[group.chosen].drop_duplicates("optimizer")
        tuned[dataset] = {
            "optimizer": group[group.default].optimizer.iloc[0],
            "optimizers": {
                r["optimizer"]: {key: _plain(r[key]) for key in SETTINGS if key != "optimizer"}
                for _, r in chosen.iterrows()
            },
        }
    return tuned


def _plain(value: object) -> object:
    """A pandas/NumPy scalar as the Python int, float or str it stands for."""
    return value.item() if hasattr(value, "item") else value


def write_tuned(tuned: dict[str, dict]) -> None:
    with atomic_write(TUNED_PY, "w") as f:  # JSON of strings and numbers is Python
        f.write(f'"""{TUNED_DOC}"""\n\nTUNED = {json.dumps(tuned, indent=4)}\n')


BAR_RUN = ["dataset", "optimizer", "backend", "epochs", "train_images", "test_images", "test_accuracy"]
BAR_RUN += ["train_accuracy", "bar", "met", "mean_epoch_seconds", "command"]


def measure_bars(data_dir: str) -> pd.DataFrame:
    """Each optimizer's defaults (only ``--optimizer`` given) on each data set and full-size backend."""
    rows = []
    for bar, optimizer, backend in itertools.product(BARS, OPTIMIZERS, full_size_backends()):
        run = [*_run(backend, bar), f"--optimizer={optimizer}", "--val-size=0", THREADS]
        record, command = train(data_dir, *run)
        epochs, data, test = record["epochs"], record["run"]["data"], record["test"]["accuracy"]
        rows.append(
            [bar.dataset, optimizer, backend, epochs[-1]["epoch"], data["train"], data["test"], test]
            + [epochs[-1]["train_accuracy"], bar.accuracy, test >= bar.accuracy]
            + [sum(m["seconds"] for m in epochs) / len(epochs), command + " --data-dir DIR"]
        )
    return pd.DataFrame(rows, columns=BAR_RUN)


def source_commit() -> str:
    """The commit of the code measured, ``-dirty`` if tracked files differ from it (``?`` outside git)."""
    git = ["git", "-C", str(REPORTS)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "?"
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"]).returncode != 0
    return head.stdout.strip() + "-dirty" * dirty


def machine() -> str:
    try:
        import cpuinfo

        cpu = cpuinfo.get_cpu_info().get("brand_raw") or platform.machine()
    except ImportError:
        cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def mean_and_range(r: tuple, side: str) -> str:
    if r.stopped:
        return f"stopped, not learning, in {r.stopped} of {r.seeds} seeds"
    mean, low, high = (getattr(r, f"{side}_{agg}") for agg in ("mean", "min", "max"))
    return f"{mean:.2%} ({low:.2%}-{high:.2%})"


def _settings_cell(r: tuple) -> str:
    command = "**" * r.chosen + f"`{' '.join(options(r._asdict()))}`" + "**" * r.chosen
    return command + " (the default)" * r.default


TUNING_COLUMNS: Columns = {
    "settings (each optimizer's choice in bold)": _settings_cell,
    "validation accuracy": lambda r: mean_and_range(r, "val"),
    "test accuracy (not used)": lambda r: mean_and_range(r, "test"),
}


def read_tuning() -> pd.DataFrame:
    return pd.read_csv(TUNING_CSV, dtype={"hidden": str})


def choice_line(optimizer: str, candidates: pd.DataFrame) -> str:
    """How far the optimizer's choice is ahead of its runner-up."""
    chosen = candidates[candidates.chosen].iloc[0]
    others = candidates.val_mean.drop(chosen.name).dropna()
    ahead = (
        f"{chosen.val_mean - others.max():.2%} ahead of its runner-up"
        if len(others)
        else "its only candidate"
    )
    return f"- {optimizer}: `{' '.join(options(chosen))}`, {ahead}"


def tuning_section(summary: pd.DataFrame, defaults: dict[str, dict]) -> str:
    parts = [
        "## Choosing the defaults\n",
        f"Measured at commit {', '.join(summary.commit.unique())}. Each candidate trained on the "
        f"training images less a held-out validation set ({VAL_SIZE:.0%}, drawn by the seed; "
        f"{TUNING_BACKEND} backend, cosine decay, the bar's epochs), seeds {', '.join(map(str, SEEDS))}. "
        "**The choice used the validation accuracy only**: per data set and optimizer, the best mean final "
        "validation accuracy; the data set's default optimizer is the one whose choice is best. The test "
        "accuracy of each run, measured once after its last epoch, is shown for reference; it played no "
        "part. Mean (min-max) over the seeds; every run is in [tuning.csv](tuning.csv).\n",
    ]
    for dataset, group in summary.groupby("dataset", sort=False):
        chosen = group[group.default].iloc[0]
        p, n = chosen.val_mean, int(chosen.val_images)
        agrees = "these are" if defaults.get(dataset) == chosen_settings(group)[dataset] else "**not** yet"
        choices = [
            choice_line(name, c) for name, c in group.groupby("optimizer", sort=False) if c.chosen.any()
        ]
        parts += [
            f"### {dataset}\n",
            frame_table(group, TUNING_COLUMNS) + "\n",
            f"Chosen per optimizer (in bold; {agrees} the defaults in network/tuned.py), the default "
            f"optimizer {chosen.optimizer}:\n",
            "\n".join(choices) + "\n",
            f"On {n:,} validation images one run's accuracy has a binomial standard error of about "
            f"{(p * (1 - p) / n) ** 0.5:.2%}, a mean of {len(SEEDS)} seeds (each its own validation draw) "
            f"about {(p * (1 - p) / n / len(SEEDS)) ** 0.5:.2%}: closer candidates are not told apart.\n",
        ]
    return "\n".join(parts)


BAR_COLUMNS: Columns = {
    "data set": lambda r: r.dataset,
    "optimizer": lambda r: r.optimizer,
    "backend": lambda r: r.backend,
    "epochs": lambda r: r.epochs,
    "trained on": lambda r: f"{r.train_images:,}",
    "test accuracy (once)": lambda r: f"{r.test_accuracy:.2%}",
    "bar": lambda r: f"{r.bar:.1%}",
    "met": lambda r: "yes" if r.met else "**no**",
    "mean epoch": lambda r: f"{r.mean_epoch_seconds:.2f} s",
}


def render(bars: pd.DataFrame, summary: pd.DataFrame | None, defaults: dict[str, dict]) -> tuple[str, str]:
    """The accuracy page, and the shorter section for the README."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    headline = frame_table(bars, BAR_COLUMNS)
    intro = (
        f"Measured by `python -m reports.accuracy` on {when} ({machine()}, commit {source_commit()}): the "
        "defaults of each optimizer (the command gives only `--optimizer`; each optimizer's settings were "
        "chosen on validation accuracy, below), trained on every training image (`--val-size 0`); the test "
        "accuracy is measured once, after the last epoch. Each run was given one thread (`--threads=1`, "
        "which a backend with a thread pool of its own, jax, does not follow) on a machine shared with "
        "other jobs: the epoch times are not benchmarks."
    )
    n_mnist = bars.train_images[bars.dataset == "mnist"].iloc[0]
    mnist_note = (
        f"The MNIST training files measured here (the project's development data) are the first {n_mnist:,} "
        f"images of the official {MNIST_TRAIN_IMAGES:,}, so the MNIST accuracy is after training on those."
        if n_mnist < MNIST_TRAIN_IMAGES
        else ""
    )
    readme = (
        f"## Accuracy\n\n{intro}\n\n{headline}\n\n{mnist_note} How the defaults were chosen, and every run: "
        "[reports/accuracy.md](reports/accuracy.md).\n"
    )
    commands = "\n".join(f"    {c}" for c in dict.fromkeys(bars.command))
    page = [
        "# Accuracy with the default settings\n",
        f"{intro} Commands:\n\n{commands}\n",
        headline + "\n",
        mnist_note + " Where each bar comes from:\n",
        "\n".join(f"- {b.dataset}, {b.epochs} epochs: {b.reference}" for b in BARS) + "\n",
    ]
    if summary is not None:
        page.append(tuning_section(summary, defaults))
    return "\n".join(page), readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.accuracy", description=__doc__.split("\n\n")[0])
    data_help = f"folder holding mnist/ and fashion-mnist/ (default: ${DATA_ENV})"
    parser.add_argument("--data-dir", default=os.environ.get(DATA_ENV), help=data_help)
    tuning_help = "first run the candidates and choose the defaults"
    parser.add_argument("--tuning", action="store_true", help=tuning_help)
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error(f"give --data-dir or set {DATA_ENV}")
    defaults = TUNED
    if args.tuning:
        tuning = measure_candidates(args.data_dir)
        with atomic_write(TUNING_CSV, "w") as f:
            tuning.to_csv(f, index=False)
        defaults = chosen_settings(summarise(read_tuning()))
        write_tuned(defaults)
    summary = summarise(read_tuning()) if TUNING_CSV.exists() else None
    bars = measure_bars(args.data_dir)  # each run a fresh process, which reads the defaults just written
    page, readme = render(bars, summary, defaults)
    with atomic_write(ACCURACY_CSV, "w") as f:
        bars.to_csv(f, index=False)
    with atomic_write(ACCURACY_MD, "w") as f:
        f.write(page)
    update_section(README, "accuracy", readme)
    return 0 if bars.met.all() else 1


if __name__ == "__main__":
    sys.exit(main())
