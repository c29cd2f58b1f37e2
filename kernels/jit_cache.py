"""Where Numba keeps the compiled kernels of the numba backend (``kernels/jit*.py``).

Numba checks a cached function only against its own source file. The fused step in ``jit.py`` has the
products of ``jit_matmul.py``, the tile of ``jit_tile.py`` and the rules of ``jit_rules.py`` compiled
into it, so after an edit of one of those it would keep running the old code from the cache. Caching
under a folder named after a hash of every ``jit*.py`` file makes any edit start from a fresh cache. The
block sizes of ``kernels.blocking`` are constants of the compiled code, so the active ones are hashed too.
``NUMBA_CACHE_DIR``, when set, wins.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

from kernels import blocking, wisdom


def _fingerprint() -> str:
    digest = hashlib.sha256(wisdom.kernel_sources_digest().encode())
    digest.update(blocking.fingerprint().encode())
    return digest.hexdigest()[:16]


if not os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = str(Path(__file__).with_name("__pycache__") / f"numba-{_fingerprint()}")
