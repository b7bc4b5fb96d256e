"""route's benchmark harness: `make bench` (see BENCHMARKS.md and bench/run.py)."""
