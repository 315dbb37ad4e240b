"""Run benchmarks: ``python -m benchmarks [NAME ...]`` (all when no name is given).

Each ``benchmarks/bench_<name>.py`` exposes ``main(argv)`` and prints its own table with
ratios against the peer tool measured in the same run.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    # leading words are benchmark names; everything from the first option on is passed to
    # each of them (so `latency --presses 30` keeps its value)
    i = next((j for j, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, rest = argv[:i], argv[i:]
    names = names or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available()}")
        return 2
    for name in names:
        print(f"\n=== benchmark: {name} ===", flush=True)
        t0 = time.perf_counter()
        mod = importlib.import_module(f"benchmarks.bench_{name}")
        mod.main(rest)
        print(f"--- {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
