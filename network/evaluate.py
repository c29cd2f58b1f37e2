"""Test accuracy and confusion matrix of a saved checkpoint: ``python -m network.evaluate CHECKPOINT``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from kernels import available_backends
from kernels.threads import set_threads
from network.checkpoint import CheckpointError, load_checkpoint, restore_weights
from network.data import DATASETS, load_dataset
from network.model import MLP
from network.train import OneLineParser, positive_int, report_user_errors
from network.trainer import EVAL_CHUNK


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """``counts[t, p]``: how many samples of class ``t`` were predicted as ``p``."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (true, predicted), 1)
    return counts


def format_confusion(counts: np.ndarray) -> str:
    width = max(5, len(str(counts.max())) + 1)
    header = "true\\pred" + "".join(f"{p:>{width}}" for p in range(len(counts))) + "   recall"
    lines = [header]
    for t, row in enumerate(counts):
        recall = row[t] / row.sum() if row.sum() else float("nan")
        lines.append(f"{t:>9}" + "".join(f"{c:>{width}}" for c in row) + f"  {recall:7.2%}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m network.evaluate",
        description="Report the test accuracy and confusion matrix of a checkpoint saved by network.train.",
    )
    p.add_argument("checkpoint", type=Path, help="a .npz written by python -m network.train --save")
    p.add_argument(
        "--dataset",
        choices=list(DATASETS),
        help="dataset to evaluate on (default: the one the checkpoint was trained on)",
    )
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's IDX files")
    p.add_argument(
        "--backend", choices=available_backends(), default="numpy", help="kernels for the forward pass"
    )
    p.add_argument("--test-limit", type=positive_int, metavar="N", help="evaluate on the first N test images")
    p.add_argument("--threads", type=positive_int, metavar="N", help="threads for Numba and BLAS")
    return p


def run(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    set_threads(args.threads)
    dataset = args.dataset or checkpoint.settings.get("dataset", "mnist")
    data = load_dataset(dataset, args.data_dir, dtype=checkpoint.dtype)
    if checkpoint.layer_sizes[0] != data.n_features:
        raise CheckpointError(
            f"{args.checkpoint}: the network takes {checkpoint.layer_sizes[0]} pixels per image, "
            f"{data.name}'s images have {data.n_features}"
        )
    net = MLP(checkpoint.layer_sizes, backend=args.backend, dtype=checkpoint.dtype)
    restore_weights(net, checkpoint, args.checkpoint)
    X, y = data.test_images[: args.test_limit], data.test_labels[: args.test_limit]
    predicted = np.concatenate([net.predict(X[i : i + EVAL_CHUNK]) for i in range(0, len(X), EVAL_CHUNK)])
    correct = int((predicted == y).sum())
    epochs = checkpoint.trainer_state["epoch"]
    print(
        f"{args.checkpoint}: network {'-'.join(map(str, checkpoint.layer_sizes))}, {checkpoint.dtype}, "
        f"{epochs} epoch{'s' * (epochs != 1)} on {checkpoint.settings.get('dataset', '?')}"
    )
    print(f"test accuracy on {data.name}: {correct / len(y):.2%} ({correct:,} / {len(y):,})")
    print(format_confusion(confusion_matrix(y, predicted, net.n_classes)))
    return 0


def main(argv: list[str] | None = None) -> int:
    return report_user_errors(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
