"""Checkpoints: one ``.npz`` holding the weights, the optimizer's state and the trainer's position.

Arrays are stored as arrays; everything else (dtype, optimizer name, epoch, RNG state, metrics so far,
the run's settings) as one JSON string, so that loading never needs ``allow_pickle``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from network.files import atomic_write
from network.model import MLP
from network.optim import Optimizer

FORMAT = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not fit the run: the message is one line."""


@dataclass
class Checkpoint:
    layer_sizes: tuple[int, ...]
    dtype: str
    optimizer: str
    params: list[tuple[np.ndarray, np.ndarray]]
    optimizer_state: dict[str, np.ndarray]
    trainer_state: dict
    settings: dict


def save_checkpoint(
    path: str | Path, net: MLP, optimizer: Optimizer, trainer_state: dict, settings: dict
) -> None:
    """Write the checkpoint atomically: a crash or Ctrl-C leaves the previous file as it was."""
    arrays: dict[str, np.ndarray] = {"layer_sizes": np.array(net.layer_sizes)}
    for i, (W, b) in enumerate(net.params):
        arrays[f"W{i}"], arrays[f"b{i}"] = W, b
    for key, value in optimizer.state().items():
        arrays[f"optimizer.{key}"] = value
    state = dict(trainer_state)
    if state.get("order") is not None:
        arrays["order"] = state["order"]
    state.pop("order", None)
    meta = {
        "format": FORMAT,
        "dtype": net.dtype.name,
        "optimizer": optimizer.name,
        "trainer": state,
        "settings": settings,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; ``CheckpointError`` names what is wrong."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise CheckpointError(f"{path}: not a scratchnet checkpoint ({err})") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{path}: checkpoint format {meta.get('format')}, expected {FORMAT}")
        layer_sizes = tuple(int(n) for n in arrays.pop("layer_sizes"))
        params = [(arrays.pop(f"W{i}"), arrays.pop(f"b{i}")) for i in range(len(layer_sizes) - 1)]
        trainer_state = dict(meta["trainer"], order=arrays.pop("order", None))
        prefix = "optimizer."
        optimizer_state = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        return Checkpoint(
            layer_sizes,
            meta["dtype"],
            meta["optimizer"],
            params,
            optimizer_state,
            trainer_state,
            meta["settings"],
        )
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: not a scratchnet checkpoint (missing or bad entry {err})") from None


def restore_weights(net: MLP, checkpoint: Checkpoint, source: str | Path) -> None:
    """Copy the checkpoint's weights into ``net``, refusing one of another architecture or dtype."""
    wanted = "-".join(map(str, net.layer_sizes))
    found = "-".join(map(str, checkpoint.layer_sizes))
    if checkpoint.layer_sizes != net.layer_sizes:
        raise CheckpointError(f"{source}: the checkpoint is a {found} network, this run asks for {wanted}")
    if checkpoint.dtype != net.dtype.name:
        raise CheckpointError(
            f"{source}: the checkpoint is {checkpoint.dtype}, this run asks for {net.dtype}"
        )
    for (W, b), (W_saved, b_saved) in zip(net.params, checkpoint.params):
        if W.shape != W_saved.shape or b.shape != b_saved.shape:
            raise CheckpointError(f"{source}: weight shapes do not match the {found} architecture")
        W[...] = W_saved
        b[...] = b_saved
