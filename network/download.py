"""Download a data set's four gzipped IDX files from its mirrors, each checked against its published MD5."""

import hashlib
import http.client
import io
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from network.dataset import DataError
from network.files import atomic_write
from network.sources import FILE_NAMES, cache_dir, dataset_spec, how_to_provide

DOWNLOAD_TIMEOUT = 30.0  # seconds of silence before a mirror counts as failed
_CHUNK = 1 << 16  # bytes read from a response or a file at a time


class _ChecksumMismatch(Exception):
    pass


# Anything that makes one mirror useless, so the next one is worth a try.
_MIRROR_ERRORS = (OSError, http.client.HTTPException, _ChecksumMismatch)


def download_dataset(
    name: str,
    dest: str | Path | None = None,
    mirrors: Sequence[str] | None = None,
    progress: bool | None = None,
) -> Path:
    """Download the four .gz files of dataset `name` into `dest` (default: `cache_dir(name)`); return `dest`.

    Mirrors (default: the dataset's public ones) are tried in order for each file; a file counts as downloaded
    only once its MD5 matches the published one (`DATASETS[name].md5`). Files already in `dest` with the right
    MD5 are kept. A file is written to a temporary name in `dest` and renamed into place once verified, so
    `dest` never holds a partial or unverified file under a real name. `progress` shows a bar on stderr
    (default: when stderr is a terminal).
    """
    spec = dataset_spec(name)
    dest = cache_dir(name) if dest is None else Path(dest).expanduser()
    mirrors = spec.mirrors if mirrors is None else tuple(mirrors)
    progress = sys.stderr.isatty() if progress is None else progress
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"{dest}: cannot create the download folder ({error.strerror or error})") from error
    for role, stem in FILE_NAMES.items():
        target = dest / f"{stem}.gz"
        if _md5_of_file(target) != spec.md5[role]:
            _download_file(name, target, mirrors, spec.md5[role], progress)
    return dest


def _download_file(name: str, target: Path, mirrors: Sequence[str], md5: str, progress: bool) -> None:
    try:
        # atomic_write: the file appears under its real name only once a mirror's bytes matched the MD5.
        with atomic_write(target) as out:
            failures = []
            for mirror in mirrors:
                url = mirror + ("" if mirror.endswith("/") else "/") + target.name
                out.seek(0)
                out.truncate()
                try:
                    _fetch(url, out, md5, progress)
                    break
                except _MIRROR_ERRORS as error:
                    failures.append(f"{url}: {_describe(error)}")
                    if progress:
                        tqdm.write(failures[-1], file=sys.stderr)
            else:
                tried = "; ".join(failures) or "no mirrors configured"
                raise DataError(
                    f"could not download {name}: {target.name} failed from every mirror ({tried}); "
                    + how_to_provide(name)
                )
    except OSError as error:  # OutputRefused included: a refused target says why in its message
        raise DataError(f"{target.parent}: cannot write the download ({error.strerror or error})") from error


def _fetch(url: str, out: io.BufferedIOBase, md5: str, progress: bool) -> None:
    """Stream `url` into `out`, raising _ChecksumMismatch unless the bytes have the MD5 `md5`."""
    digest = hashlib.md5(usedforsecurity=False)
    request = urllib.request.Request(url, headers={"User-Agent": "scratchnet"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
        length = response.headers.get("Content-Length")
        with tqdm(
            total=int(length) if length and length.isdigit() else None,
            desc=url.rsplit("/", 1)[-1],
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not progress,
        ) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    if digest.hexdigest() != md5:
        raise _ChecksumMismatch(f"md5 {digest.hexdigest()} does not match the published {md5}")


def _md5_of_file(path: Path) -> str | None:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as file:
            while chunk := file.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _describe(error: BaseException) -> str:
    """A short one-line reason for a failed download."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason
    text = (isinstance(error, OSError) and error.strerror) or str(error) or type(error).__name__
    return " ".join(text.split())
