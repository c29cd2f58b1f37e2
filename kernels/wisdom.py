"""Wisdom: the route thresholds that ``python -m kernels.tune`` measured on this machine, kept for later runs.

As FFTW keeps its plans: measured once per machine, stored, and used only where they were measured. An
entry's key is everything its numbers depend on: the CPU (its model, and the CPU and features Numba
compiles for), the versions of Numba and llvmlite that compile the kernels, the kernels' own source (a
threshold is a crossover between two of their routes), and the dtype. A process
whose key differs finds no wisdom and uses the analytic table (``kernels.blocking``). The file is JSON
in the user's cache folder, ``$XDG_CACHE_HOME/scratchnet/wisdom.json`` (else ``~/.cache/scratchnet``);
``SCRATCHNET_TUNE=off`` ignores it.

Nothing tunes by itself: a first run that stopped for half a minute to measure would surprise its user,
and two runs of one command would differ by whether a tune had happened between them. The numba
backend's line on the CLI says whether its thresholds are analytic or tuned, and how to tune.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import llvmlite
import numba
import numpy as np

from kernels.cpu import cpu_model, target_cpu_name, target_features

TUNE_ENV = "SCRATCHNET_TUNE"  # "off": use no wisdom
WISDOM_FILE = "wisdom.json"
KERNEL_SOURCES = sorted(Path(__file__).parent.glob("jit*.py"))  # the numba backend's compiled code


def kernel_sources_digest() -> str:
    """A hash of the compiled kernels' source files: part of the wisdom's key, and of Numba's cache folder
    (``jit_cache``)."""
    digest = hashlib.sha256()
    for source in KERNEL_SOURCES:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def wisdom_path() -> Path:
    """Where the wisdom is kept: the user's cache folder, as for the data sets."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "scratchnet" / WISDOM_FILE


def key(dtype: np.dtype | str) -> dict[str, str]:
    """What an entry's numbers depend on, for ``dtype`` in this process."""
    return {
        "cpu": cpu_model(),
        "target": target_cpu_name(),
        "features": ",".join(sorted(target_features())),
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "kernels": kernel_sources_digest(),
        "dtype": np.dtype(dtype).name,
    }


def read(path: Path | None = None) -> list[dict]:
    """The stored entries; none where the file is missing or is not wisdom (it is then rewritten whole by
    the next tune)."""
    try:
        entries = json.loads((path or wisdom_path()).read_text())["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return entries if isinstance(entries, list) else []


def lookup(dtype: np.dtype | str, path: Path | None = None) -> dict | None:
    """The entry for ``dtype`` on this machine, or None: none stored, another key, or
    ``SCRATCHNET_TUNE=off``."""
    if os.environ.get(TUNE_ENV, "").lower() == "off":
        return None
    wanted = key(dtype)
    return next((entry for entry in read(path) if entry.get("key") == wanted), None)


def applied(blocking, fields: tuple[str, ...], path: Path | None = None):
    """``blocking`` (a ``kernels.blocking.Blocking``) with the thresholds ``fields`` from this machine's
    wisdom, or as it is where there is none or the entry lacks a field or holds a negative one."""
    entry = lookup(blocking.dtype, path)
    if entry is None:
        return blocking
    measured = entry.get("thresholds", {})
    if not all(isinstance(measured.get(name), int) and measured[name] >= 0 for name in fields):
        return blocking
    chosen = {name: measured[name] for name in fields}
    return dataclasses.replace(blocking, **chosen, source=f"tuned on this machine {entry.get('date', '')}")


def store(dtype: np.dtype | str, thresholds: dict[str, int], path: Path | None = None) -> Path:
    """Keep ``thresholds`` as this machine's wisdom for ``dtype``, replacing only the entry of the same key;
    the file is replaced whole (a temporary file beside it, renamed), never left half written."""
    path = path or wisdom_path()
    entry = {
        "key": key(dtype),
        "date": f"{datetime.now(timezone.utc):%Y-%m-%d}",
        "thresholds": {name: int(value) for name, value in thresholds.items()},
    }
    entries = [other for other in read(path) if other.get("key") != entry["key"]] + [entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        json.dump({"entries": entries}, f, indent=1)
    os.replace(f.name, path)
    return path
