"""Checkpoints that were not written by save_checkpoint, or were edited by hand: refused in one line,
before loading anything larger than the file itself, and before a network is built."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import make_dataset

from network import MLP
from network.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from network.evaluate import main as evaluate_main
from network.optim import make_optimizer


def saved(path: Path, layer_sizes: tuple[int, ...] = (12, 5, 10)) -> Path:
    net = MLP(list(layer_sizes), seed=0)
    optimizer = make_optimizer("adam", net.params)
    trainer_state = {
        "epoch": 1,
        "step_in_epoch": 0,
        "order": None,
        "loss_sum": 0.0,
        "rng": np.random.default_rng(0).bit_generator.state,
        "history": [],
    }
    save_checkpoint(path, net, optimizer, trainer_state, {"dataset": "mnist"})
    return path


def entries(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def rewritten(path: Path, **changes: np.ndarray) -> Path:
    np.savez(path, **{**entries(path), **changes})
    return path


def with_meta(path: Path, edit) -> Path:
    meta = json.loads(str(entries(path)["meta"]))
    return rewritten(path, meta=np.array(json.dumps(edit(meta))))


def refused(path: Path, message: str) -> None:
    with pytest.raises(CheckpointError, match=message) as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value)


def test_a_saved_checkpoint_loads_without_pickle(tmp_path):
    path = saved(tmp_path / "c.npz")
    assert all(array.dtype != object for array in entries(path).values())  # np.load refuses pickles
    checkpoint = load_checkpoint(path)
    assert checkpoint.layer_sizes == (12, 5, 10) and checkpoint.dtype == "float32"
    assert checkpoint.trainer_state["rng"] == np.random.default_rng(0).bit_generator.state
    assert set(checkpoint.optimizer_state) == {"t", "m_0", "m_1", "m_2", "m_3", "v_0", "v_1", "v_2", "v_3"}


def test_a_compressed_entry_is_refused_unread(tmp_path):
    """Compressed, 2 MB of zeros take a few kB: the bound "no more memory than the file" needs stored ones."""
    path = saved(tmp_path / "c.npz")
    np.savez_compressed(path, **entries(path), hidden=np.zeros(1 << 21, np.uint8))
    assert path.stat().st_size < 1 << 20
    refused(path, "compressed entries or entries larger than the file")


def npy_claiming(shape: tuple[int, ...], payload: bytes) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + payload


def test_a_header_promising_more_than_its_entry_is_refused(tmp_path):
    path = saved(tmp_path / "c.npz")
    with zipfile.ZipFile(path, "a") as archive:  # 10^9 float32s (4 GB) declared, 8 bytes there
        archive.writestr("order.npy", npy_claiming((10**9,), bytes(8)))
    refused(path, r"entry order: its header \(float32 \(1000000000,\)\) does not fit its size")


def test_layer_sizes_that_the_weights_do_not_have_are_refused(tmp_path):
    path = rewritten(saved(tmp_path / "c.npz"), layer_sizes=np.array([12, 10**9, 10]))
    refused(path, r"W0 is float32 \(12, 5\); the metadata and layer_sizes say float32 \(12, 1000000000\)")


def test_weights_of_another_dtype_are_refused(tmp_path):
    path = saved(tmp_path / "c.npz")
    refused(rewritten(path, W1=entries(path)["W1"].astype(np.float16)), r"W1 is float16 \(5, 10\)")


def test_an_unknown_entry_is_refused(tmp_path):
    path = saved(tmp_path / "c.npz")
    refused(rewritten(path, extra=np.zeros(3)), "entries a scratchnet checkpoint does not have: extra")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda meta: [meta], "bad checkpoint metadata: a JSON list, not an object"),
        (lambda meta: {**meta, "dtype": "float16"}, "bad checkpoint metadata: dtype 'float16'"),
        (lambda meta: {**meta, "trainer": {**meta["trainer"], "epoch": "x"}}, "metadata: epoch is 'x'$"),
        (
            lambda meta: {**meta, "trainer": {**meta["trainer"], "epoch": -3}},
            "metadata: epoch is -3, below 0",
        ),
        (lambda meta: {**meta, "settings": None}, "metadata: settings is None"),
        (lambda meta: {**meta, "format": 99}, "checkpoint format 99, expected 1"),
    ],
    ids=["list", "dtype", "epoch x", "epoch -3", "settings", "format"],
)
def test_hand_edited_metadata_is_one_line(tmp_path, edit, message):
    refused(with_meta(saved(tmp_path / "c.npz"), edit), message)


def test_evaluate_refuses_a_network_for_other_images(capsys, tmp_path):
    make_dataset(tmp_path / "mnist", rows=4, cols=3)  # 12 pixels; the checkpoint's network takes 16
    checkpoint = saved(tmp_path / "c.npz", (16, 5, 10))
    assert evaluate_main([str(checkpoint), "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {checkpoint}: the network takes 16 pixels per image, mnist's images have 12\n"
