"""Benchmarks of scratchnet's backends (pytest-benchmark); run with ``pytest bench/ --benchmark-only``.

The run ends by writing ``benchmark.json`` and the report built from it (see :mod:`reports.build`).
"""
