"""Checks a training run makes before it does any work: where it will write, and that a resumed run is
the run its checkpoint started."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from network.checkpoint import CheckpointError, load_checkpoint
from network.files import OutputRefused, check_output, output_lock, real_target

# Every parameter is held at least three times while training: the weights, their gradients and the
# optimizer's scratch (network/model.py, network/optim.py); momentum and Adam keep one or two more.
PARAMETER_COPIES = 3

# The settings whose change silently alters what a resumed run computes: the samples it trains on (the
# seed draws the validation split), its steps and its learning-rate schedule. (The network's shape, its
# dtype and the optimizer are checked against the checkpoint's arrays instead.)
RESUME_SETTINGS = (
    "dataset",
    "limit",
    "val_size",
    "seed",
    "batch_size",
    "lr",
    "warmup",
    "weight_decay",
    "epochs",
)


def option_of(setting: str) -> str:
    """The command-line option of a setting: ``batch_size`` -> ``--batch-size``."""
    return "--" + setting.replace("_", "-")


def same_file(a: Path, b: Path) -> bool:
    """Whether writing ``a`` writes ``b``: the same file through links, or the same path before it exists."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return real_target(a) == real_target(b)


def check_outputs(save: Path | None, metrics: Path | None, resume: Path | None, overwrite: bool) -> None:
    """Refuse, with :class:`OutputRefused` naming the option, outputs that the run could not write or
    must not: not a regular file, an unwritable folder, one file for both, the metrics over the checkpoint
    being resumed, or an output that exists already, unless ``overwrite`` or the run continues it (the
    checkpoint resumed; any metrics file of a resumed run, which it goes on writing)."""
    for option, path in (("--save", save), ("--metrics", metrics)):
        if path is not None:
            try:
                check_output(path)
            except OutputRefused as err:
                raise OutputRefused(f"{option}: {err}") from None
    if save is not None and metrics is not None and same_file(save, metrics):
        raise OutputRefused(f"--save and --metrics both name {save}: give each its own file")
    if metrics is not None and resume is not None and same_file(metrics, resume):
        raise OutputRefused(
            f"--metrics {metrics} is the checkpoint --resume reads: give the metrics another file"
        )
    if save is not None and not (resume is not None and same_file(save, resume)):
        refuse_existing("--save", save, overwrite, f"continue its run with --resume {save}")
    if metrics is not None and resume is None:
        refuse_existing(
            "--metrics", metrics, overwrite, "continue the run it records with --resume CHECKPOINT"
        )


def refuse_existing(option: str, path: Path, overwrite: bool, how_to_continue: str) -> None:
    """Refuse the output ``path`` of ``option`` if it exists and ``overwrite`` is not given: a run would
    replace it, and the record of an earlier run with it."""
    if path.exists() and not overwrite:
        raise OutputRefused(
            f"{option} {path} exists already: {how_to_continue}, or pass --overwrite to replace it"
        )


@contextmanager
def outputs_locked(*paths: Path | None) -> Iterator[None]:
    """Hold :func:`~network.files.output_lock` on each given path while the block runs."""
    with ExitStack() as stack:
        for path in paths:
            if path is not None:
                stack.enter_context(output_lock(path))
        yield


def _shown(value: object) -> str:
    return "not given" if value is None else str(value)


def check_resumed_settings(checkpoint: Path, settings: dict) -> None:
    """Refuse, naming each one with the checkpoint's value and this run's, a change of a
    :data:`RESUME_SETTINGS` entry (a setting the checkpoint does not record is not compared)."""
    stored = load_checkpoint(checkpoint, weights=False).settings
    changed = [
        f"{option_of(key)} {_shown(stored[key])} -> {_shown(settings[key])}"
        for key in RESUME_SETTINGS
        if key in stored and key in settings and stored[key] != settings[key]
    ]
    if changed:
        raise CheckpointError(
            f"{checkpoint}: resuming with other settings would change the run ({'; '.join(changed)}): give "
            "the checkpoint's, or pass --accept-changed-settings to continue with these"
        )


def check_network_fits(layer_sizes: Sequence[int], dtype: str) -> None:
    """Refuse, with a MemoryError saying why, a network that cannot fit in this machine's memory, before
    allocating it (its arrays would be allocated lazily and the process killed mid-run)."""
    n_params = sum((n_in + 1) * n_out for n_in, n_out in zip(layer_sizes, layer_sizes[1:]))
    needed = n_params * np.dtype(dtype).itemsize * PARAMETER_COPIES
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if needed > memory:
        raise MemoryError(
            f"a {'-'.join(map(str, layer_sizes))} network of {n_params:,} {dtype} parameters needs at least "
            f"{needed / 2**30:,.1f} GiB to train, more than this machine's {memory / 2**30:,.1f} GiB: "
            "give smaller --hidden widths"
        )
