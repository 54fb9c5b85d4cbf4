"""Benchmark suite of issue 7: `python -m bench.run` (see docs/BENCHMARKS.md)."""
