"""One thread count for everything that computes: Numba's parallel loops and the BLAS under NumPy.

Setting them together keeps a run from oversubscribing the cores (BLAS threads spinning while Numba's
wait, or the reverse), and makes the count a recorded setting rather than whatever the libraries guess.
"""

from __future__ import annotations

import os
import sys

from threadpoolctl import threadpool_info, threadpool_limits


def available_cores() -> int:
    """Cores this process may run on (its affinity mask), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_threads(n: int | None = None) -> int:
    """Use ``n`` threads (default: every available core) for BLAS and Numba; returns the count set.

    Numba's are set if Numba has been imported (``kernels.get_backend("numba")`` imports it: call that
    first). Importing it here would cost a run on another backend 66 MB of memory for nothing."""
    n = available_cores() if n is None else n
    if n < 1:
        raise ValueError(f"thread count must be at least 1, got {n}")
    numba = sys.modules.get("numba")
    if numba is not None:
        n = min(n, numba.config.NUMBA_NUM_THREADS)  # Numba cannot grow past its start-up pool
        numba.set_num_threads(n)
    threadpool_limits(limits=n)
    return n


def blas_info() -> list[dict]:
    """The BLAS libraries NumPy loaded, their versions, architectures and thread counts."""
    return [
        {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
