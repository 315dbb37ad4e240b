"""Benchmarks against peer tools; run with `python3 dev.py bench`."""
