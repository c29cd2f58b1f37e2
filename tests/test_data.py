"""Tests for loading data: IDX reading, validation, the search order and downloading (from 127.0.0.1 only)."""

import gzip
import hashlib
import re
import socket
import struct
import tempfile
import threading
import tracemalloc
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import REAL_DATA, change_spec, gz_file, gz_name, idx_bytes, make_dataset, write_idx
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from network import download
from network.data import DataError, load_dataset
from network.download import download_dataset
from network.idx import read_idx
from network.sources import FILE_NAMES, cache_dir, find_dataset, search_paths


def path_error(path: Path, problem: str) -> str:
    """A `match` pattern for a DataError that starts with `path` and then mentions `problem` (a regex)."""
    return f"^{re.escape(str(path))}: .*{problem}"


# --- read_idx -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    array = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    result = read_idx(write_idx(tmp_path / "x", array, gz=gz))
    np.testing.assert_array_equal(result, array)
    assert result.dtype == np.uint8 and result.flags.writeable


@given(arrays(np.uint8, array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6)), st.booleans())
def test_read_idx_uses_the_header_dims(array, gz):
    with tempfile.TemporaryDirectory() as folder:
        result = read_idx(write_idx(Path(folder) / "x.idx", array, gz=gz))
    assert result.shape == array.shape
    np.testing.assert_array_equal(result, array)


def test_read_idx_detects_gzip_by_content_not_suffix(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "gzipped-without-suffix", array)), array)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "plain.gz", array, gz=False)), array)


def test_read_idx_wrong_magic_number(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(b"\x12\x34\x08\x01" + bytes(8)))
    with pytest.raises(DataError, match=path_error(path, "not an IDX file: magic number 0x12340801")):
        read_idx(path)


def test_read_idx_unsupported_element_type(tmp_path):
    path = tmp_path / "floats"
    path.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + bytes(4))
    with pytest.raises(DataError, match=path_error(path, "unsupported element type 0x0d")):
        read_idx(path)


def test_read_idx_zero_dimensions(tmp_path):
    path = tmp_path / "scalar"
    path.write_bytes(b"\x00\x00\x08\x00\x07")
    with pytest.raises(DataError, match=path_error(path, "declares no dimensions")):
        read_idx(path)


@pytest.mark.parametrize("content", [b"", b"\x00\x00"], ids=["empty", "two-bytes"])
def test_read_idx_too_short_for_a_header(tmp_path, content):
    path = tmp_path / "short"
    path.write_bytes(content)
    with pytest.raises(DataError, match=path_error(path, "too short to be an IDX file")):
        read_idx(path)


def test_read_idx_header_cut_off(tmp_path):
    path = tmp_path / "cut-header"
    path.write_bytes(idx_bytes(np.zeros((2, 3, 4)))[:10])
    with pytest.raises(DataError, match=path_error(path, "truncated header: 3 dimensions need 12 bytes")):
        read_idx(path)


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_truncated_data(tmp_path, gz):
    raw = idx_bytes(np.zeros((5, 4, 4)))[:-7]
    path = tmp_path / "truncated"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(
        DataError, match=path_error(path, "truncated: the header promises 80 bytes .* has 73")
    ):
        read_idx(path)


def test_read_idx_trailing_garbage(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros((2, 2))) + b"junk")
    with pytest.raises(DataError, match=path_error(path, "unexpected bytes after the 4 bytes the header")):
        read_idx(path)


def test_read_idx_stops_at_the_first_byte_the_header_does_not_promise(tmp_path):
    """A small gzip that inflates to far more than its header declares: the reader's memory stays at
    the declared size (reading the whole stream first held all of it: 32 MiB here)."""
    inflated = 32 << 20
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((2, 2))) + bytes(inflated), compresslevel=1))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="unexpected bytes after the 4 bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < inflated / 16


def test_read_idx_gzip_stream_cut_off(tmp_path):
    compressed = gzip.compress(idx_bytes(np.random.default_rng(1).integers(0, 256, (50, 8, 8))))
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match=path_error(path, "gzip stream is cut off")):
        read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(np.random.default_rng(1).integers(0, 256, (50, 8, 8)))))
    compressed[-6] ^= 0xFF  # inside the CRC/length trailer: the data inflates but does not check out
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(DataError, match=path_error(path, "corrupt gzip data")):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "nowhere.gz"
    with pytest.raises(DataError, match=path_error(path, "cannot read the file")):
        read_idx(path)


# --- load_dataset: conversion and validation ----------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_load_dataset_keeps_the_pixels_as_the_files_hold_them(tmp_path, gz):
    """One byte a pixel: scaled to the network's dtype a batch at a time, never the whole set at once."""
    arrays = make_dataset(tmp_path, n_train=20, n_test=10, rows=4, cols=3, gz=gz)
    ds = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert (ds.name, ds.source) == ("mnist", tmp_path)
    assert (ds.n_train, ds.n_test, ds.n_features) == (20, 10, 12)
    for role in ("train", "test"):
        images, original = getattr(ds, f"{role}_images"), arrays[f"{role}_images"]
        assert images.dtype == np.uint8
        assert images.shape == (len(original), 12) and images.flags.c_contiguous
        np.testing.assert_array_equal(images, original.reshape(len(original), -1))
        labels = getattr(ds, f"{role}_labels")
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(labels, arrays[f"{role}_labels"])


def test_load_dataset_accepts_a_mix_of_gzipped_and_plain_files(tmp_path):
    make_dataset(tmp_path / "gz")
    arrays = make_dataset(tmp_path / "mixed")
    write_idx(tmp_path / "mixed" / FILE_NAMES["test_images"], arrays["test_images"], gz=False)
    gz_file(tmp_path / "mixed", "test_images").unlink()
    mixed = load_dataset("mnist", data_dir=tmp_path / "mixed", download=False)
    gzipped = load_dataset("mnist", data_dir=tmp_path / "gz", download=False)
    np.testing.assert_array_equal(mixed.test_images, gzipped.test_images)


def test_load_dataset_unknown_name():
    with pytest.raises(DataError, match="unknown dataset 'cifar'.*mnist, fashion-mnist"):
        load_dataset("cifar")


def test_image_and_label_counts_disagree(tmp_path):
    make_dataset(tmp_path, n_test=10)
    labels = write_idx(gz_file(tmp_path, "test_labels"), np.zeros(9, dtype=np.uint8))
    images = gz_file(tmp_path, "test_images")
    pattern = f"^{re.escape(str(images))} has 10 images but {re.escape(str(labels))} has 9 labels$"
    with pytest.raises(DataError, match=pattern):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_labels_outside_0_to_9(tmp_path):
    make_dataset(tmp_path, n_train=20)
    labels = np.zeros(20, dtype=np.uint8)
    labels[[7, 11]] = [10, 200]
    path = write_idx(gz_file(tmp_path, "train_labels"), labels)
    with pytest.raises(DataError, match=path_error(path, r"label 10 at index 7 is outside 0-9 \(2 such")):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_images_must_be_three_dimensional(tmp_path):
    make_dataset(tmp_path, n_train=20)
    path = write_idx(gz_file(tmp_path, "train_images"), np.zeros((20, 12)))
    with pytest.raises(DataError, match=path_error(path, r"expected images \(count, rows, columns\)")):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_labels_must_be_one_dimensional(tmp_path):
    make_dataset(tmp_path, n_test=10)
    path = write_idx(gz_file(tmp_path, "test_labels"), np.zeros((10, 1)))
    with pytest.raises(DataError, match=path_error(path, r"expected labels \(count\)")):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_images_must_not_be_empty(tmp_path):
    make_dataset(tmp_path)
    path = write_idx(gz_file(tmp_path, "train_images"), np.zeros((0, 4, 3)))
    write_idx(gz_file(tmp_path, "train_labels"), np.zeros(0))
    with pytest.raises(DataError, match=path_error(path, "holds no pixels")):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_train_and_test_image_sizes_differ(tmp_path):
    make_dataset(tmp_path, n_test=10, rows=4, cols=3)
    write_idx(gz_file(tmp_path, "test_images"), np.zeros((10, 3, 4)))
    with pytest.raises(DataError, match=r"image sizes differ \(4x3 vs 3x4\)"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_loading_never_writes_to_the_data_folder(tmp_path):
    make_dataset(tmp_path)
    before = {path: path.stat().st_mtime_ns for path in tmp_path.iterdir()}
    load_dataset("mnist", data_dir=tmp_path, download=False)
    assert {path: path.stat().st_mtime_ns for path in tmp_path.iterdir()} == before


# --- where the files are looked for -------------------------------------------------------------------------


@pytest.mark.parametrize("nested", [False, True], ids=["files-in-dir", "dir/name"])
def test_search_order_data_dir_then_env_then_cache(tmp_path, monkeypatch, nested):
    def place(folder: Path, n_train: int) -> Path:
        target = folder / "mnist" if nested else folder
        make_dataset(target, n_train=n_train)
        return target

    make_dataset(cache_dir("mnist"), n_train=13)
    assert cache_dir("mnist") == tmp_path / "xdg-cache" / "scratchnet" / "mnist"
    assert load_dataset("mnist", download=False).n_train == 13

    from_env = place(tmp_path / "env", n_train=12)
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    assert find_dataset("mnist") == from_env
    assert load_dataset("mnist", download=False).n_train == 12

    explicit = place(tmp_path / "explicit", n_train=11)
    assert find_dataset("mnist", tmp_path / "explicit") == explicit
    assert load_dataset("mnist", data_dir=str(tmp_path / "explicit"), download=False).n_train == 11


def test_a_named_sub_folder_beats_files_directly_in_the_folder(tmp_path):
    make_dataset(tmp_path, n_train=11)  # MNIST, say
    make_dataset(tmp_path / "fashion-mnist", n_train=12)  # the same file names
    assert find_dataset("fashion-mnist", tmp_path) == tmp_path / "fashion-mnist"
    assert find_dataset("mnist", tmp_path) == tmp_path
    assert load_dataset("fashion-mnist", data_dir=tmp_path, download=False).n_train == 12


def test_data_dir_may_start_with_a_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    make_dataset(tmp_path / "home" / "data" / "mnist")
    assert find_dataset("mnist", "~/data") == tmp_path / "home" / "data" / "mnist"


def test_search_paths_lists_every_place_in_order(tmp_path, monkeypatch):
    system = tmp_path / "usr-share-datasets" / "fashion-mnist"
    change_spec(monkeypatch, "fashion-mnist", system_dirs=(system,))
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    assert search_paths("fashion-mnist", tmp_path / "dir") == [
        tmp_path / "dir" / "fashion-mnist",
        tmp_path / "dir",
        tmp_path / "env" / "fashion-mnist",
        tmp_path / "env",
        tmp_path / "xdg-cache" / "scratchnet" / "fashion-mnist",
        system,
    ]
    assert search_paths("mnist") == [tmp_path / "env" / "mnist", tmp_path / "env", cache_dir("mnist")]


def test_system_folder_is_the_last_resort(tmp_path, monkeypatch):
    system = tmp_path / "usr-share-datasets" / "fashion-mnist"
    change_spec(monkeypatch, "fashion-mnist", system_dirs=(system,))
    make_dataset(system)
    assert find_dataset("fashion-mnist") == system
    make_dataset(cache_dir("fashion-mnist"))
    assert find_dataset("fashion-mnist") == cache_dir("fashion-mnist")


def test_incomplete_folders_are_skipped(tmp_path, monkeypatch):
    make_dataset(tmp_path / "env")
    gz_file(tmp_path / "env", "train_labels").unlink()
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    assert find_dataset("mnist") is None
    make_dataset(cache_dir("mnist"))
    assert find_dataset("mnist") == cache_dir("mnist")


def test_explicit_data_dir_missing_a_file_is_an_error(tmp_path, monkeypatch):
    make_dataset(tmp_path / "env")  # a complete copy elsewhere must not be used instead
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    folder = tmp_path / "mine"
    make_dataset(folder)
    gz_file(folder, "test_labels").unlink()
    with pytest.raises(
        DataError,
        match=path_error(folder, f"not a complete mnist dataset: missing {FILE_NAMES['test_labels']} "),
    ):
        load_dataset("mnist", data_dir=folder)


def test_explicit_data_dir_reports_the_nested_layout_when_present(tmp_path):
    nested = tmp_path / "mnist"
    make_dataset(nested)
    gz_file(nested, "train_images").unlink()
    with pytest.raises(DataError, match=path_error(nested, f"missing {FILE_NAMES['train_images']}")):
        find_dataset("mnist", tmp_path)


def test_explicit_data_dir_that_does_not_exist(tmp_path):
    with pytest.raises(DataError, match=path_error(tmp_path / "typo", "no such folder")):
        load_dataset("mnist", data_dir=tmp_path / "typo")


def test_not_found_without_download_lists_the_places(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", download=False)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("mnist: dataset not found")
    assert str(tmp_path / "env" / "mnist") in message and str(cache_dir("mnist")) in message


def test_cache_dir_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir("mnist") == tmp_path / "home" / ".cache" / "scratchnet" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache_dir("mnist") == tmp_path / "home" / ".cache" / "scratchnet" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("fashion-mnist") == tmp_path / "xdg" / "scratchnet" / "fashion-mnist"


# --- downloading from a local server ------------------------------------------------------------------------


class Server:
    """An HTTP server on 127.0.0.1: serves `files` (URL path -> bytes), 404s the rest, counts requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests[self.path] += 1
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval keeps shutdown() (which waits for the next poll) from slowing every test.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix}/"

    def publish(self, prefix: str, folder: Path) -> None:
        for path in folder.iterdir():
            self.files[f"/{prefix}/{path.name}"] = path.read_bytes()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.close()


@pytest.fixture
def published(tmp_path, monkeypatch, server):
    """A tiny dataset served at server.url("good"), with its md5 sums registered as the published ones."""
    source = tmp_path / "published"
    arrays = make_dataset(source, n_train=20, n_test=10, rows=28, cols=28)
    md5 = {role: hashlib.md5(gz_file(source, role).read_bytes()).hexdigest() for role in FILE_NAMES}
    change_spec(monkeypatch, "mnist", md5=md5)
    server.publish("good", source)
    return arrays


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def gz_names() -> set[str]:
    return {gz_name(role) for role in FILE_NAMES}


def test_download_then_load(tmp_path, server, published):
    dest = tmp_path / "dl"
    assert download_dataset("mnist", dest=dest, mirrors=[server.url("good")], progress=False) == dest
    assert {path.name for path in dest.iterdir()} == gz_names()
    ds = load_dataset("mnist", data_dir=dest, download=False)
    assert (ds.n_train, ds.n_test, ds.n_features) == (20, 10, 784)
    np.testing.assert_array_equal(ds.test_labels, published["test_labels"])


def test_load_dataset_downloads_into_the_cache(monkeypatch, server, published):
    change_spec(monkeypatch, "mnist", mirrors=(server.url("good"),))
    ds = load_dataset("mnist")
    assert ds.source == cache_dir("mnist") and ds.n_train == 20
    assert sum(server.requests.values()) == 4
    assert load_dataset("mnist").n_train == 20  # found in the cache now, nothing fetched
    assert sum(server.requests.values()) == 4


def test_download_shows_progress_when_asked(tmp_path, server, published, capsys):
    download_dataset("mnist", dest=tmp_path / "dl", mirrors=[server.url("good")], progress=True)
    assert FILE_NAMES["train_images"] in capsys.readouterr().err


def test_a_404_mirror_is_skipped(tmp_path, server, published):
    dest = tmp_path / "dl"
    download_dataset("mnist", dest=dest, mirrors=[server.url("missing"), server.url("good")], progress=False)
    assert {path.name for path in dest.iterdir()} == gz_names()
    assert all(server.requests[f"/missing/{name}"] == 1 for name in gz_names())
    assert all(server.requests[f"/good/{name}"] == 1 for name in gz_names())


def test_a_refused_connection_is_skipped(tmp_path, server, published):
    dest = tmp_path / "dl"
    download_dataset("mnist", dest=dest, mirrors=[closed_port_url(), server.url("good")], progress=False)
    assert {path.name for path in dest.iterdir()} == gz_names()


def test_a_silent_mirror_times_out_and_is_skipped(tmp_path, monkeypatch, server, published):
    dest = tmp_path / "dl"
    download_dataset("mnist", dest=dest, mirrors=[server.url("good")], progress=False)
    gz_file(dest, "test_labels").unlink()  # one file left to fetch: one timeout to wait for, not four
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT", 0.3)
    with socket.socket() as silent:  # accepts connections (via the backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        mirror = f"http://127.0.0.1:{silent.getsockname()[1]}/mnist/"
        download_dataset("mnist", dest=dest, mirrors=[mirror, server.url("good")], progress=False)
    assert {path.name for path in dest.iterdir()} == gz_names()
    assert server.requests[f"/good/{gz_name('test_labels')}"] == 2


def test_checksum_mismatch_leaves_nothing_behind(tmp_path, server, published):
    corrupt = f"/good/{gz_name('test_labels')}"
    server.files[corrupt] = server.files[corrupt][:-1] + bytes([server.files[corrupt][-1] ^ 0xFF])
    dest = tmp_path / "dl"
    with pytest.raises(DataError, match=f"{gz_name('test_labels')} failed from every mirror .*md5"):
        download_dataset("mnist", dest=dest, mirrors=[server.url("good")], progress=False)
    # The three good files stay (verified); the bad one exists neither under its name nor as a temporary file.
    assert {path.name for path in dest.iterdir()} == gz_names() - {gz_name("test_labels")}


def test_a_corrupt_first_mirror_falls_back_to_a_good_one(tmp_path, server, published):
    server.publish("bad", tmp_path / "published")
    bad = f"/bad/{gz_name('train_images')}"
    server.files[bad] = server.files[bad][:100]
    dest = tmp_path / "dl"
    download_dataset("mnist", dest=dest, mirrors=[server.url("bad"), server.url("good")], progress=False)
    assert {path.name for path in dest.iterdir()} == gz_names()
    assert load_dataset("mnist", data_dir=dest, download=False).n_train == 20


def test_all_mirrors_failing_is_one_line_naming_the_places(tmp_path, monkeypatch, server, published):
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    mirrors = [server.url("missing"), closed_port_url()]
    change_spec(monkeypatch, "mnist", mirrors=tuple(mirrors))
    with pytest.raises(DataError) as caught:
        load_dataset("mnist")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"could not download mnist: {gz_name('train_images')} failed from every mirror")
    assert "HTTP 404" in message and "refused" in message.lower()
    assert str(tmp_path / "env") in message and str(cache_dir("mnist")) in message
    assert "SCRATCHNET_DATA" in message and "--data-dir" in message
    assert not any(cache_dir("mnist").iterdir())


def test_verified_files_are_not_fetched_again(tmp_path, server, published):
    dest = tmp_path / "dl"
    mirrors = [server.url("good")]
    download_dataset("mnist", dest=dest, mirrors=mirrors, progress=False)
    assert sum(server.requests.values()) == 4
    download_dataset("mnist", dest=dest, mirrors=mirrors, progress=False)
    assert sum(server.requests.values()) == 4
    # A file that no longer matches its checksum is replaced, and only that one.
    gz_file(dest, "test_images").write_bytes(b"stale")
    download_dataset("mnist", dest=dest, mirrors=mirrors, progress=False)
    assert sum(server.requests.values()) == 5
    assert server.requests[f"/good/{gz_name('test_images')}"] == 2
    assert load_dataset("mnist", data_dir=dest, download=False).n_test == 10


# --- the real data, when SCRATCHNET_DATA points at it -------------------------------------------------------


def real_dataset_or_skip(name: str):
    if not REAL_DATA:
        pytest.skip("set SCRATCHNET_DATA to a folder holding the real data to run this test")
    try:
        folder = find_dataset(name, REAL_DATA)
    except DataError as error:
        pytest.skip(f"SCRATCHNET_DATA has no {name}: {error}")
    if folder.name != name:  # MNIST and Fashion-MNIST share file names: only a named folder says which it is
        pytest.skip(f"cannot tell which dataset {folder} holds; put the real {name} in {folder / name}")
    return load_dataset(name, data_dir=REAL_DATA, download=False)


def check_real(ds, n_train: int, n_test: int) -> None:
    assert (ds.n_train, ds.n_test, ds.n_features) == (n_train, n_test, 784)
    for images, labels in [(ds.train_images, ds.train_labels), (ds.test_images, ds.test_labels)]:
        assert images.dtype == np.uint8 and images.flags.c_contiguous
        assert images.min() == 0 and images.max() == 255
        assert len(labels) == len(images) and set(np.unique(labels)) == set(range(10))


def test_real_mnist():
    ds = real_dataset_or_skip("mnist")
    # The training set may be a prefix of the official one: expect whatever count its header states.
    gzipped = gz_file(ds.source, "train_labels")
    path = gzipped if gzipped.is_file() else ds.source / FILE_NAMES["train_labels"]
    with gzip.open(path) if path == gzipped else path.open("rb") as labels:
        header_count = struct.unpack(">II", labels.read(8))[1]
    check_real(ds, n_train=header_count, n_test=10_000)


def test_real_fashion_mnist():
    check_real(real_dataset_or_skip("fashion-mnist"), n_train=60_000, n_test=10_000)


def test_a_download_onto_a_folder_is_one_line_and_leaves_it(tmp_path):
    target = tmp_path / gz_name("train_images")
    target.mkdir()
    with pytest.raises(DataError, match=f"^{tmp_path}: cannot write the download \\({target} is a folder"):
        download_dataset("mnist", tmp_path, mirrors=["http://127.0.0.1:9/"])
    assert target.is_dir() and sorted(p.name for p in tmp_path.iterdir()) == [target.name]
