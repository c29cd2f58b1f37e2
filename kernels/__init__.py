"""Kernel backends: the same operations written four ways.

========  ======================  ===========================================================
name      module                  what it measures
========  ======================  ===========================================================
loops     ``kernels.loops``       plain Python loops over Python floats
numpy     ``kernels.vectorized``  vectorised NumPy, products through BLAS
numba     ``kernels.jit``         the loops compiled by Numba, its own products
jax       ``kernels.xla``         the vectorised form compiled by XLA; optional, the extra jax
========  ======================  ===========================================================

The contract all of them fulfil is in :mod:`kernels.interface`. A backend kept outside this package is
added with :func:`register_backend`.
"""

from __future__ import annotations

import importlib
import re

from kernels.interface import Backend

# A name is a command-line choice, a pytest id and a report column: lower case, no spaces or punctuation.
_NAME = re.compile(r"[a-z][a-z0-9_]*")

# name -> module path; a fourth backend is one more line here (see README, "Adding a backend").
_BACKEND_MODULES = {
    "loops": "kernels.loops",
    "numpy": "kernels.vectorized",
    "numba": "kernels.jit",
    "jax": "kernels.xla",
}


def available_backends() -> list[str]:
    """The names :func:`get_backend` accepts, whether or not their libraries import."""
    return list(_BACKEND_MODULES)


def register_backend(name: str, module_path: str) -> None:
    """Add the backend ``name``, implemented by the module ``module_path``, to the registry.

    For a backend kept outside this package (a plugin, an experiment), which cannot add its line to
    ``_BACKEND_MODULES``: call it before anything reads :func:`available_backends` (the test and
    benchmark parametrizations do so when their modules are imported, so a pytest plugin given with
    ``-p`` is early enough). The module is not imported here, as for the backends in the dict.

    Raises ``ValueError`` if ``name`` is taken or not a lower-case identifier, or if ``module_path`` is
    not a dotted module path.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"bad backend name {name!r}: use lower-case letters, digits and _, e.g. 'mine'")
    if name in _BACKEND_MODULES:
        raise ValueError(f"backend {name!r} is already registered (module {_BACKEND_MODULES[name]})")
    if not isinstance(module_path, str) or not all(part.isidentifier() for part in module_path.split(".")):
        raise ValueError(f"bad module path {module_path!r} for backend {name!r}: e.g. 'mypkg.kernels'")
    _BACKEND_MODULES[name] = module_path


def missing_backends() -> dict[str, str]:
    """Each registered backend whose library does not import (an optional one, jax, whose extra is not
    installed), with :func:`get_backend`'s one line saying why. Imports every backend."""
    missing = {}
    for name in available_backends():
        try:
            get_backend(name)
        except ImportError as err:
            missing[name] = str(err)
    return missing


def installed_backends() -> list[str]:
    """The names of :func:`available_backends` whose libraries import: those the tests, the benchmarks and
    the reports run (each says which are missing, from :func:`missing_backends`)."""
    missing = missing_backends()
    return [name for name in available_backends() if name not in missing]


def full_size_backends() -> list[str]:
    """The installed backends whose module sets ``full_size = True``: those the sweeps and the accuracy
    runs use."""
    return [name for name in installed_backends() if get_backend(name).full_size]


def get_backend(name: str) -> Backend:
    """The backend module called ``name``.

    Raises ``ValueError`` for an unknown name (listing the valid ones) and ``ImportError`` with a
    one-line explanation when the backend's library (e.g. numba) is not installed; the explanation quotes
    the backend's own ``ImportError``, which says how to install an optional one (jax).
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
            f"install it or choose another backend"
        ) from err


__all__ = [
    "Backend",
    "available_backends",
    "full_size_backends",
    "get_backend",
    "installed_backends",
    "missing_backends",
    "register_backend",
]
