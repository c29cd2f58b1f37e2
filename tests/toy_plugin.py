"""A pytest plugin that registers the ``toy`` backend (``tests/toy_backend.py``) when it is imported.

``pytest -p toy_plugin`` (with ``tests/`` on ``PYTHONPATH``) imports it before any conftest or test
module, so every parametrization over ``kernels.available_backends()`` sees the toy backend: this is how
``tests/test_adding_a_backend.py`` adds a backend without editing ``kernels/__init__.py``.
"""

from kernels import register_backend

register_backend("toy", "toy_backend")
