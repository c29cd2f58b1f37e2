"""Read IDX files, the format of the original MNIST distribution: a big-endian header followed by raw data.

    bytes 0-1   always zero
    byte  2     element type; 0x08 = unsigned byte, the only type MNIST and Fashion-MNIST use
    byte  3     number of dimensions d
    then        d sizes, each a 32-bit big-endian unsigned integer
    then        prod(sizes) elements in C (row-major) order

So an image file starts with the magic number 0x00000803 followed by (count, rows, columns), and a label file
with 0x00000801 followed by (count). The files are usually distributed gzipped (`*.gz`).
"""

import gzip
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from network.dataset import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08
_CHUNK = 1 << 16  # bytes read into the array at a time


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes, gzipped or not, into a uint8 array shaped as its header says."""
    path = Path(path)
    try:
        with _open_idx(path) as stream:
            shape = _read_idx_header(stream, path)
            return _read_payload(stream, shape, path)
    except EOFError as error:
        raise DataError(f"{path}: the gzip stream is cut off (incomplete download?)") from error
    except (zlib.error, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: corrupt gzip data ({error})") from error
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or error})") from error


def _read_payload(stream: io.BufferedIOBase, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """The data the header promises, read in chunks straight into the array, and one byte more to see
    that there is no more: memory never exceeds what the header declares, however long the stream."""
    expected = math.prod(shape)
    try:
        array = np.empty(expected, dtype=np.uint8)
    except MemoryError:
        raise DataError(f"{path}: the header promises {expected:,} bytes of data, more than memory") from None
    view, filled = memoryview(array), 0
    while filled < expected and (n := stream.readinto(view[filled : filled + _CHUNK])):
        filled += n
    if filled < expected:
        raise DataError(
            f"{path}: truncated: the header promises {expected} bytes of data "
            f"({' x '.join(map(str, shape))}) but the file has {filled}"
        )
    if stream.read(1):
        raise DataError(f"{path}: unexpected bytes after the {expected} bytes the header promises")
    return array.reshape(shape)


def _open_idx(path: Path) -> io.BufferedIOBase:
    # Decide by content, not by suffix: people gunzip files and keep the name, or the other way round.
    with path.open("rb") as probe:
        gzipped = probe.read(len(_GZIP_MAGIC)) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def _read_idx_header(stream: io.BufferedIOBase, path: Path) -> tuple[int, ...]:
    magic = stream.read(4)
    if len(magic) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(magic)} bytes)")
    number = int.from_bytes(magic, "big")
    element_type, ndim = magic[2], magic[3]
    if magic[:2] != b"\0\0":
        raise DataError(
            f"{path}: not an IDX file: magic number 0x{number:08x} "
            "(expected 0x00000803 for images or 0x00000801 for labels)"
        )
    if element_type != _UBYTE:
        raise DataError(
            f"{path}: unsupported element type 0x{element_type:02x} in magic number 0x{number:08x} "
            f"(only unsigned bytes, 0x{_UBYTE:02x}, are supported)"
        )
    if ndim == 0:
        raise DataError(f"{path}: magic number 0x{number:08x} declares no dimensions")
    sizes = stream.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(
            f"{path}: truncated header: {ndim} dimensions need {4 * ndim} bytes of sizes, found {len(sizes)}"
        )
    return struct.unpack(f">{ndim}I", sizes)
