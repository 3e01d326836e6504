"""Benchmarks of kitta-notebook against the sandbox on 127.0.0.1: `python -m benchmarks`.

Each figure is a ratio against its own baseline measured in the same run.
Results go to `benchmarks/results.json` and `benchmarks/RESULTS.md`.
"""
