"""Checkpoints: one ``.npz`` holding the weights, the optimizer's state and the trainer's position.

Arrays are stored as arrays; everything else (dtype, optimizer name, epoch, RNG state, metrics so far,
the run's settings) as one JSON string, so that loading never needs ``allow_pickle``.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from network.files import atomic_write
from network.model import DTYPES, MLP
from network.optim import Optimizer

FORMAT = 1
OPTIMIZER_PREFIX = "optimizer."


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
        arrays[f"{OPTIMIZER_PREFIX}{key}"] = value
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


def load_checkpoint(path: str | Path, weights: bool = True) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; ``CheckpointError`` names what is wrong.
    ``weights=False`` reads only what the arrays' headers and the metadata say (no params, no states).

    Nothing is loaded before it is known to fit: the entries must be stored uncompressed and together no
    larger than the file (so loading needs no more memory than the file's size, whatever the zip's
    directory claims), every array's header must match its entry's size, and the weights' shapes and dtype
    must be those of ``layer_sizes`` and the metadata before any weight is read.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_checkpoint(archive, path, weights)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a folder, not a checkpoint") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise CheckpointError(f"{path}: not a scratchnet checkpoint ({err})") from None


Headers = dict[str, tuple[tuple[int, ...], np.dtype]]
HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}


def _array_headers(archive: zipfile.ZipFile, path: Path) -> Headers:
    """Each entry's (shape, dtype), read from its .npy header, checked against the entry's size."""
    infos = archive.infolist()
    if (
        any(info.compress_type != zipfile.ZIP_STORED for info in infos)
        or sum(info.file_size for info in infos) > path.stat().st_size
    ):
        raise CheckpointError(f"{path}: compressed entries or entries larger than the file: not a checkpoint")
    headers = {}
    for info in infos:
        name = info.filename.removesuffix(".npy")
        with archive.open(info) as f:
            read_header = HEADER_READERS.get(npy_format.read_magic(f))
            if read_header is None:
                raise CheckpointError(f"{path}: entry {name} is not in a .npy format this program writes")
            shape, _, dtype = read_header(f)
            if dtype.hasobject or f.tell() + math.prod(shape) * dtype.itemsize != info.file_size:
                raise CheckpointError(
                    f"{path}: entry {name}: its header ({dtype} {shape}) does not fit its size"
                )
        headers[name] = shape, dtype
    return headers


def _read_entry(
    archive: zipfile.ZipFile,
    path: Path,
    headers: Headers,
    name: str,
    ndim: int | None = None,
    kinds: str = "",
) -> np.ndarray:
    """Entry ``name``, refused unless it has ``ndim`` dimensions and a dtype kind in ``kinds`` (if given)."""
    if name not in headers:
        raise CheckpointError(f"{path}: not a scratchnet checkpoint (no {name} entry)")
    shape, dtype = headers[name]
    if (ndim is not None and len(shape) != ndim) or (kinds and dtype.kind not in kinds):
        raise CheckpointError(f"{path}: entry {name} is {dtype} {shape}, not what save_checkpoint writes")
    with archive.open(f"{name}.npy") as f:
        return npy_format.read_array(f, allow_pickle=False)


def _read_checkpoint(archive: zipfile.ZipFile, path: Path, weights: bool) -> Checkpoint:
    headers = _array_headers(archive, path)
    meta = _checked_meta(json.loads(str(_read_entry(archive, path, headers, "meta", 0, "U"))), path)
    layer_sizes = tuple(int(n) for n in _read_entry(archive, path, headers, "layer_sizes", 1, "iu"))
    if len(layer_sizes) < 2 or min(layer_sizes) < 1:
        raise CheckpointError(f"{path}: bad layer_sizes {list(layer_sizes)} in the checkpoint")
    shapes = {}
    for i, (n_in, n_out) in enumerate(zip(layer_sizes, layer_sizes[1:])):
        shapes[f"W{i}"], shapes[f"b{i}"] = (n_in, n_out), (n_out,)
    for name, shape in shapes.items():
        found_shape, found_dtype = headers.get(name, (None, None))
        if found_shape != shape or found_dtype.name != meta["dtype"]:
            found = "missing" if found_dtype is None else f"{found_dtype.name} {found_shape}"
            raise CheckpointError(
                f"{path}: {name} is {found}; the metadata and layer_sizes say {meta['dtype']} {shape}"
            )
    optimizer_entries = sorted(set(headers) - set(shapes) - {"meta", "layer_sizes", "order"})
    unknown = [name for name in optimizer_entries if not name.startswith(OPTIMIZER_PREFIX)]
    if unknown:
        raise CheckpointError(f"{path}: entries a scratchnet checkpoint does not have: {', '.join(unknown)}")
    if not weights:
        params, optimizer_state, order = [], {}, None
    else:
        params = [
            tuple(_read_entry(archive, path, headers, f"{p}{i}") for p in "Wb")
            for i in range(len(shapes) // 2)
        ]
        optimizer_state = {
            name.removeprefix(OPTIMIZER_PREFIX): _read_entry(archive, path, headers, name)
            for name in optimizer_entries
        }
        order = _read_entry(archive, path, headers, "order", 1, "i") if "order" in headers else None
    return Checkpoint(
        layer_sizes,
        meta["dtype"],
        meta["optimizer"],
        params,
        optimizer_state,
        dict(meta["trainer"], order=order),
        meta["settings"],
    )


# The metadata's fields and their JSON types; the trainer's counters must also be >= 0.
META_FIELDS = {"optimizer": str, "trainer": dict, "settings": dict}
TRAINER_FIELDS = {"epoch": int, "step_in_epoch": int, "loss_sum": (int, float), "rng": dict, "history": list}
COUNTERS = ("epoch", "step_in_epoch")


def _checked_meta(meta: object, path: Path) -> dict:
    """The metadata with its types checked, so that a hand-edited one fails here in one line."""

    def bad_metadata(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: bad checkpoint metadata: {what}")

    if not isinstance(meta, dict):
        raise bad_metadata(f"a JSON {type(meta).__name__}, not an object")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')}, expected {FORMAT}")
    if meta.get("dtype") not in DTYPES:
        raise bad_metadata(f"dtype {meta.get('dtype')!r}, expected one of {', '.join(DTYPES)}")
    for fields, where in ((META_FIELDS, meta), (TRAINER_FIELDS, meta.get("trainer"))):
        for key, kind in fields.items():
            value = where.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise bad_metadata(f"{key} is {value!r}")
    for key in COUNTERS:
        if meta["trainer"][key] < 0:
            raise bad_metadata(f"{key} is {meta['trainer'][key]}, below 0")
    return meta


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
    for (W, b), (W_saved, b_saved) in zip(net.params, checkpoint.params):  # shapes checked on loading
        W[...] = W_saved
        b[...] = b_saved
