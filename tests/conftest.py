"""Shared fixtures: every registered backend, both dtypes, the float64 reference they answer to, IDX files
made on the spot, and the isolation that keeps every test away from the real cache and the internet."""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import numba
import numpy as np
import pytest
from hypothesis import settings

# The tests run on the analytic blocking, whatever wisdom a tune stored on this machine: which route a
# case takes (the cases are chosen for it) must not depend on the machine (kernels.wisdom).
os.environ["SCRATCHNET_TUNE"] = "off"

import kernels  # noqa: E402
from kernels.threads import set_threads  # noqa: E402
from network.idx import read_idx  # noqa: E402
from network.kaggle import FASHION_MNIST, write_kaggle_csv  # noqa: E402
from network.sources import DATASETS, FILE_NAMES  # noqa: E402

# Numba compiles on first use (and may, in a fresh clone, for every dtype and layout): no deadlines.
# "scratchnet-stress" draws ten times the examples: select it with --hypothesis-profile=scratchnet-stress.
settings.register_profile("scratchnet", deadline=None, max_examples=40, print_blob=True)
settings.register_profile("scratchnet-stress", settings.get_profile("scratchnet"), max_examples=400)
settings.load_profile("scratchnet")

REFERENCE = kernels.get_backend("numpy")  # the float64 reference is the numpy backend run in float64


EVERY_CORE = set_threads(None)  # the thread count a run without --threads uses

# The options of a command-line test's training run, less its width and epochs: seconds on the tiny data
# sets, at a rate chosen for momentum (named: the tuned default optimizer depends on the data set).
QUICK_TRAINING = ["--batch-size", "32", "--lr", "0.1", "--optimizer", "momentum", "--threads", "1"]


@pytest.fixture(autouse=True)
def _every_core():
    """Each test starts on every core, as a run does. A CLI test's ``--threads 1`` would otherwise leave
    the tests after it on one thread, where the kernels' parallel paths never run."""
    if numba.get_num_threads() != EVERY_CORE:
        set_threads(None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The numba backend in float64 is in the slow tier (``pytest -m slow``, which CI runs): it compiles
    every kernel a second time, about half of a first run's compile time, and the study runs float32.
    A test of it has the backend as a parameter, or the ``numba`` mark when it calls its kernels itself."""
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        backend = params.get("backend", params.get("backend_name"))
        numba_test = backend == "numba" or item.get_closest_marker("numba") is not None
        if numba_test and str(params.get("dtype")) == "float64":
            item.add_marker(pytest.mark.slow)


def _backend_or_skip(name: str):
    try:
        return kernels.get_backend(name)
    except ImportError as err:  # a registered backend whose library is missing: say so, never silently
        pytest.skip(str(err))


@pytest.fixture(scope="session", params=kernels.available_backends())
def backend(request):
    return _backend_or_skip(request.param)


@pytest.fixture(scope="session", params=["float32", "float64"])
def dtype(request) -> np.dtype:
    return np.dtype(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """``||actual - expected|| / ||expected||`` in float64: one number per array, scale-free."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.linalg.norm(expected)
    return float(np.linalg.norm(actual - expected) / (scale if scale > 0 else 1.0))


# Tolerances relative to an array's norm. float64: the products sum at most a few hundred terms, each
# rounding at 1.1e-16, so 1e-12 leaves wide room and still catches any real mistake. float32: rounding
# is 6e-8 per operation and a sum of k terms grows like sqrt(k) * eps (k = 784: ~2e-6); the loops
# backend rounds only once (it computes in double), so 1e-5 per operation is safe for every backend.
OP_TOLERANCE = {np.dtype("float64"): 1e-12, np.dtype("float32"): 1e-5}


# --- data: IDX files made by the tests, and isolation from the real cache and network ---------------------

# Captured before the isolation fixture removes it from the environment of every test.
REAL_DATA = os.environ.get("SCRATCHNET_DATA")


# --- helpers ------------------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    return path


def make_dataset(
    folder: Path,
    n_train: int = 20,
    n_test: int = 10,
    rows: int = 4,
    cols: int = 3,
    gz: bool = True,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write the four IDX files of a small random dataset into `folder`; return the arrays by role."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for role in ("train_images", "test_images"):
        arrays[role][0, 0, 0] = 255  # so the scaling is seen to reach exactly 1
    folder.mkdir(parents=True, exist_ok=True)
    for role, array in arrays.items():
        write_idx(gz_file(folder, role) if gz else folder / FILE_NAMES[role], array, gz=gz)
    return arrays


def gz_name(role: str) -> str:
    return f"{FILE_NAMES[role]}.gz"


def gz_file(folder: Path, role: str) -> Path:
    return folder / gz_name(role)


def change_spec(monkeypatch, name: str, **changes) -> None:
    """Replace fields of DATASETS[name] for the duration of one test."""
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(DATASETS[name], **changes))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Keep every test away from the real cache, the environment, /usr/share and the internet."""
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    # a pytest that a test starts is a run of its own, not one of this run's pytest-xdist workers (under
    # which pytest-benchmark would time nothing)
    for name in [name for name in os.environ if name.startswith("PYTEST_XDIST_")]:
        monkeypatch.delenv(name)
    for name in DATASETS:
        change_spec(monkeypatch, name, mirrors=(), system_dirs=())
    real_urlopen = urllib.request.urlopen

    def local_only(request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        assert urlsplit(url).hostname == "127.0.0.1", f"a test tried to reach {url}"
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory) -> Path:
    """A learnable MNIST-shaped dataset (28 x 28, 10 classes): each class is a noisy copy of its own
    random prototype. 600 training and 200 test images; a folder laid out like the real one."""
    rng = np.random.default_rng(2024)
    prototypes = rng.integers(0, 256, (10, 28, 28))
    folder = tmp_path_factory.mktemp("data") / "mnist"
    folder.mkdir()
    for split, n in (("train", 600), ("test", 200)):
        labels = rng.integers(0, 10, n)
        images = np.clip(prototypes[labels] + rng.normal(0, 60, (n, 28, 28)), 0, 255).astype(np.uint8)
        write_idx(gz_file(folder, f"{split}_images"), images)
        write_idx(gz_file(folder, f"{split}_labels"), labels)
    return folder


@pytest.fixture(scope="session")
def tiny_kaggle(tiny_mnist, tmp_path_factory) -> Path:
    """``tiny_mnist`` as Kaggle's files: train.csv with its labels, test.csv with the test images only."""
    folder = tmp_path_factory.mktemp("kaggle")
    train_images, train_labels, test_images = (
        read_idx(gz_file(tiny_mnist, role)) for role in ("train_images", "train_labels", "test_images")
    )
    write_kaggle_csv(folder / "train.csv", train_images, train_labels)
    write_kaggle_csv(folder / "test.csv", test_images)
    return folder


@pytest.fixture(scope="session")
def tiny_fashion_kaggle(tiny_mnist, tmp_path_factory) -> Path:
    """``tiny_mnist`` in Kaggle's Fashion-MNIST layout: both files labelled, pixels numbered from 1."""
    folder = tmp_path_factory.mktemp("fashion-kaggle")
    for split, name in (("train", FASHION_MNIST.train_csv), ("test", FASHION_MNIST.test_csv)):
        images, labels = (read_idx(gz_file(tiny_mnist, f"{split}_{part}")) for part in ("images", "labels"))
        write_kaggle_csv(folder / name, images, labels, FASHION_MNIST)
    return folder


@pytest.fixture
def real_data() -> str:
    """The folder of the real datasets (``SCRATCHNET_DATA``), or a printed skip when it is not set."""
    if not REAL_DATA:
        pytest.skip("set SCRATCHNET_DATA to a folder holding mnist/ (e.g. ../shared/data) to run this test")
    return REAL_DATA
