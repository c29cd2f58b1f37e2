"""Test accuracy and confusion matrix of a saved checkpoint: ``python -m network.evaluate CHECKPOINT``;
``--show N --out grid.png`` and ``--confusion-image confusion.png`` draw them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from kernels import available_backends, get_backend
from kernels.threads import set_threads
from network.checkpoint import load_checkpoint
from network.data import DataError, load_dataset
from network.pictures import class_names, confusion_figure, image_types, prediction_grid, save_figure
from network.predict import predicted_classes, restored_network
from network.sources import DATASETS
from network.train import OneLineParser, positive_int, report_user_errors

DEFAULT_SHOW = 25


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
    parser = OneLineParser(
        prog="python -m network.evaluate",
        description="Report the test accuracy and confusion matrix of a checkpoint saved by network.train.",
    )
    parser.add_argument("checkpoint", type=Path, help="a .npz written by python -m network.train --save")
    parser.add_argument(
        "--dataset",
        choices=list(DATASETS),
        help="dataset to evaluate on (default: the one the checkpoint was trained on)",
    )
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's IDX files")
    parser.add_argument(
        "--backend", choices=available_backends(), default="numpy", help="kernels for the forward pass"
    )
    parser.add_argument(
        "--test-limit", type=positive_int, metavar="N", help="evaluate on the first N test images"
    )
    parser.add_argument("--threads", type=positive_int, metavar="N", help="threads for Numba and BLAS")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="IMAGE",
        help="draw the first --show test images, each with its predicted class (mistakes in red), to IMAGE "
        "(.png, .pdf, .svg, ...)",
    )
    parser.add_argument(
        "--show", type=positive_int, metavar="N", help=f"images in the --out grid (default {DEFAULT_SHOW})"
    )
    parser.add_argument(
        "--confusion-image", type=Path, metavar="IMAGE", help="draw the confusion matrix to IMAGE"
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.show is not None and args.out is None:
        parser.error("--show needs --out IMAGE, the file to draw the images to")
    args.show = args.show or DEFAULT_SHOW
    for option, path in (("--out", args.out), ("--confusion-image", args.confusion_image)):
        if path is not None and path.suffix[1:].lower() not in image_types():
            parser.error(f"{option}: {path} needs an image suffix: one of .{', .'.join(image_types())}")
    return args


def run(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    get_backend(args.backend)  # first: set_threads sets Numba's threads only once the backend imported it
    set_threads(args.threads)
    dataset = args.dataset or checkpoint.settings.get("dataset", "mnist")
    data = load_dataset(dataset, args.data_dir)
    if data.n_test == 0:
        raise DataError(
            f"{data.source}: no labelled test set to evaluate on (Kaggle's test.csv has no labels; "
            "python -m network.predict labels it)"
        )
    net = restored_network(checkpoint, args.checkpoint, args.backend, data.n_features, data.name)
    X, y = data.test_images[: args.test_limit], data.test_labels[: args.test_limit]
    predicted = predicted_classes(net, X)
    correct = int((predicted == y).sum())
    epochs = checkpoint.trainer_state["epoch"]
    print(
        f"{args.checkpoint}: network {'-'.join(map(str, checkpoint.layer_sizes))}, {checkpoint.dtype}, "
        f"{epochs} epoch{'s' * (epochs != 1)} on {checkpoint.settings.get('dataset', '?')}"
    )
    print(f"test accuracy on {data.name}: {correct / len(y):.2%} ({correct:,} / {len(y):,})")
    counts = confusion_matrix(y, predicted, net.n_classes)
    print(format_confusion(counts))
    draw(args, data.name, (X, y, predicted), counts)
    return 0


def draw(args: argparse.Namespace, dataset: str, test: tuple, counts: np.ndarray) -> None:
    """The images asked for: the grid of the first ``--show`` of ``test`` (images, true and predicted
    classes) to ``--out``, the confusion ``counts`` to ``--confusion-image``."""
    X, y, predicted = test
    names = class_names(dataset, len(counts))
    if args.out is not None:
        n = min(args.show, len(y))
        wrong = int((y[:n] != predicted[:n]).sum())
        title = f"{dataset}: test images 1-{n}, {args.checkpoint.name}"
        save_figure(prediction_grid(X[:n], y[:n], predicted[:n], names, title), args.out)
        print(f"{args.out}: test images 1-{n} with their predicted classes ({wrong} wrong)")
    if args.confusion_image is not None:
        accuracy = np.trace(counts) / counts.sum()
        title = f"{dataset}: {counts.sum():,} test images, accuracy {accuracy:.2%}\n{args.checkpoint.name}"
        save_figure(confusion_figure(counts, names, title), args.confusion_image)
        print(f"{args.confusion_image}: the confusion matrix")


def main(argv: list[str] | None = None) -> int:
    return report_user_errors(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
