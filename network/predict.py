"""Label the test file of one of Kaggle's layouts (network.kaggle) with a saved checkpoint and write a
submission: ``python -m network.predict CHECKPOINT --data-dir DIR --out submission.csv``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from kernels import available_backends, get_backend
from kernels.threads import set_threads
from network.checkpoint import Checkpoint, CheckpointError, load_checkpoint, restore_weights
from network.dataset import DataError
from network.kaggle import KAGGLE_LAYOUTS, kaggle_layout, load_kaggle_test, write_submission
from network.model import MLP
from network.train import OneLineParser, positive_int, report_user_errors
from network.trainer import EVAL_CHUNK


def restored_network(checkpoint: Checkpoint, path: Path, backend: str, n_features: int, source: str) -> MLP:
    """A network on ``backend`` holding the weights of ``checkpoint`` (read from ``path``); refused, in one
    line, unless it takes ``n_features`` pixels per image, the size of the images of ``source``."""
    if checkpoint.layer_sizes[0] != n_features:
        raise CheckpointError(
            f"{path}: the network takes {checkpoint.layer_sizes[0]} pixels per image, "
            f"{source}'s images have {n_features}"
        )
    net = MLP(checkpoint.layer_sizes, backend=backend, dtype=checkpoint.dtype)
    restore_weights(net, checkpoint, path)
    return net


def predicted_classes(net: MLP, X: np.ndarray) -> np.ndarray:
    """``net``'s class for every row of ``X``, in chunks of ``EVAL_CHUNK`` rows (bounded memory)."""
    return np.concatenate([net.predict(X[i : i + EVAL_CHUNK]) for i in range(0, len(X), EVAL_CHUNK)])


TEST_FILES = " or ".join(f"{layout.test_csv} ({layout.title})" for layout in KAGGLE_LAYOUTS)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m network.predict",
        description=f"Predict the labels of Kaggle's {TEST_FILES} with a checkpoint saved by network.train "
        "and write them as a Kaggle submission (ImageId,Label; ids from 1).",
    )
    parser.add_argument("checkpoint", type=Path, help="a .npz written by python -m network.train --save")
    parser.add_argument("--data-dir", metavar="DIR", required=True, help=f"folder holding {TEST_FILES}")
    parser.add_argument("--out", type=Path, metavar="PATH", required=True, help="the submission CSV to write")
    parser.add_argument(
        "--backend", choices=available_backends(), default="numpy", help="kernels for the forward pass"
    )
    parser.add_argument("--threads", type=positive_int, metavar="N", help="threads for Numba and BLAS")
    return parser


def run(args: argparse.Namespace) -> int:
    get_backend(args.backend)  # first: set_threads sets Numba's threads only once the backend imported it
    set_threads(args.threads)
    checkpoint = load_checkpoint(args.checkpoint)
    layout = kaggle_layout(args.data_dir)
    if layout is None:
        raise DataError(f"{args.data_dir}: holds none of Kaggle's test files, {TEST_FILES}")
    trained_on = checkpoint.settings.get("dataset", layout.dataset)
    if trained_on != layout.dataset:
        raise CheckpointError(
            f"{args.checkpoint}: the network learned {trained_on}; {args.data_dir} holds Kaggle's "
            f"{layout.title} files, which are {layout.dataset}"
        )
    images, source = load_kaggle_test(args.data_dir, layout)
    net = restored_network(checkpoint, args.checkpoint, args.backend, images.shape[1], str(source))
    labels = predicted_classes(net, images)
    write_submission(args.out, labels)
    counts = ", ".join(f"{c}: {n}" for c, n in enumerate(np.bincount(labels, minlength=net.n_classes)))
    print(f"{args.out}: {len(labels):,} predictions for {source} (per class {counts})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return report_user_errors(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
