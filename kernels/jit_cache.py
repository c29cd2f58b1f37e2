"""Where Numba keeps the compiled kernels of ``kernels.jit`` and ``kernels.jit_matmul``.

Numba checks a cached function only against its own source file. The fused step in ``jit.py`` has
the products of ``jit_matmul.py`` compiled into it, so after an edit of ``jit_matmul.py`` it would
keep running the old products from the cache. Caching under a folder named after a hash of both
files makes any edit of either start from a fresh cache. ``NUMBA_CACHE_DIR``, when set, wins.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

_SOURCES = [Path(__file__).with_name(name) for name in ("jit.py", "jit_matmul.py")]


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for source in _SOURCES:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


if not os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = str(Path(__file__).with_name("__pycache__") / f"numba-{_fingerprint()}")
