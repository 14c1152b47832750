"""Benchmark scripts (not tests): each writes its measured numbers to results/benchmarks/<name>.md."""
