"""The performance report: tables, figures and findings built from a pytest-benchmark JSON.

``python -m reports.build reports/benchmark.json`` rebuilds ``performance.md`` and its figures and CSV.
"""
