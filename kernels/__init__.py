"""Kernel backends: the same operations written three ways.

========  ======================  ==============================================
name      module                  what it measures
========  ======================  ==============================================
loops     ``kernels.loops``       plain Python loops over Python floats
numpy     ``kernels.vectorized``  vectorised NumPy, products through BLAS
numba     ``kernels.jit``         the loops compiled by Numba, its own products
========  ======================  ==============================================

The contract all of them fulfil is in :mod:`kernels.interface`.
"""

from __future__ import annotations

import importlib

from kernels.interface import Backend

# name -> module path; a fourth backend is one more line here (see README, "Adding a backend").
_BACKEND_MODULES = {
    "loops": "kernels.loops",
    "numpy": "kernels.vectorized",
    "numba": "kernels.jit",
}


def available_backends() -> list[str]:
    """The names :func:`get_backend` accepts, whether or not their libraries import."""
    return list(_BACKEND_MODULES)


def get_backend(name: str) -> Backend:
    """The backend module called ``name``.

    Raises ``ValueError`` for an unknown name (listing the valid ones) and ``ImportError`` with a
    one-line explanation when the backend's library (e.g. numba) is not installed.
    """
    try:
        module_path = _BACKEND_MODULES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown backend {name!r}: choose one of {', '.join(available_backends())}"
        ) from None
    try:
        return importlib.import_module(module_path)
    except ImportError as err:
        raise ImportError(
            f"backend {name!r} needs a library that is not installed ({err}); "
            f"install it (pip install -e .) or choose another backend"
        ) from err


__all__ = ["Backend", "available_backends", "get_backend"]
