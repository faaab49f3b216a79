"""Benchmarks (not tests): `make bench` runs them and appends the figures to docs/benchmarks.md."""
