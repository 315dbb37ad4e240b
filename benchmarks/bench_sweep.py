"""Sweep throughput and per-task overhead.

1. Scaling: the 12-experiment Hessian sweep of the tests (hessian.top_eigs, widths 4/8/12
   x 4 seeds) on a local cluster of 1 vs 2 single-threaded worker processes (loopback).
   Workers are warmed first (imports, one task each), so the timing is steady-state
   throughput; cluster start-up is reported separately. Each task gets 1 thread in both
   cases (otherwise the lone worker would get 2 and the comparison would mix two effects).
2. Overhead: a trivial experiment (a few microseconds of work) run N times as
   - a bare Python loop of function calls (the floor),
   - bare Dask: ``client.map`` + ``gather`` on the same 1-worker cluster (the peer: what
     a user would write by hand),
   - ``run_sweep(scheduler="serial")`` (keys + one Parquet file per task, no Dask),
   - ``run_sweep`` on the 1-worker cluster (everything).
   Overhead per task = (time per task) - (bare call per task).

    python -m benchmarks sweep [--tasks N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from workbench.sweep import Grid, run_sweep
from workbench.sweep.tasks import usable_cores

GRID = Grid.product(width=[4, 8, 12], seed=[0, 1, 2, 3], num_samples=[128], train_steps=[20])


def trivial(x: int) -> dict:
    """The overhead probe: almost no work."""
    return {"y": x * 2 + 1}


def _cluster(n_workers: int):
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address="127.0.0.1:0")
    client = Client(cluster)
    return cluster, client, time.perf_counter() - t0


def _warm(client) -> None:
    from workbench.sweep.experiments.hessian import top_eigs

    def warm():
        top_eigs(width=4, num_samples=32, train_steps=1, k=1)
        return os.getpid()

    client.run(warm)


def scaling(repeats: int) -> list[tuple]:
    rows = []
    for n in (1, 2):
        cluster, client, startup = _cluster(n)
        try:
            _warm(client)
            best = float("inf")
            for _ in range(repeats):
                with tempfile.TemporaryDirectory() as d:
                    t0 = time.perf_counter()
                    res = run_sweep("hessian.top_eigs", GRID, d, scheduler=client,
                                    progress=False, threads=1)
                    best = min(best, time.perf_counter() - t0)
                    assert res.computed == len(GRID), res
                    task_s = float(res.table["_seconds"].sum())
            rows.append((n, startup, best, len(GRID) / best, task_s))
        finally:
            client.close()
            cluster.close()
    return rows


def overhead(num_tasks: int) -> list[tuple]:
    from distributed import wait

    grid = Grid.product(x=list(range(num_tasks)))
    params = list(grid)
    out = []
    t0 = time.perf_counter()
    for p in params:
        trivial(**p)
    bare = (time.perf_counter() - t0) / num_tasks
    out.append(("bare function call", bare))

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run_sweep(trivial, grid, d, scheduler="serial", progress=False)
        out.append(("run_sweep serial (keys + Parquet)", (time.perf_counter() - t0) / num_tasks))
        assert res.computed == num_tasks

    cluster, client, _ = _cluster(1)
    try:
        client.submit(trivial, -1).result()  # warm the connection
        t0 = time.perf_counter()
        futs = client.map(lambda p: trivial(**p), params, pure=False)
        wait(futs)
        client.gather(futs)
        out.append(("bare Dask client.map + gather", (time.perf_counter() - t0) / num_tasks))
        del futs
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            res = run_sweep(trivial, grid, d, scheduler=client, progress=False)
            out.append(("run_sweep on Dask (1 worker)", (time.perf_counter() - t0) / num_tasks))
            assert res.computed == num_tasks
            t0 = time.perf_counter()
            res = run_sweep(trivial, grid, d, scheduler=client, progress=False)
            out.append(("rerun, all cached (per task)", (time.perf_counter() - t0) / num_tasks))
            assert res.cached == num_tasks
    finally:
        client.close()
        cluster.close()
    return [(name, per, per - bare) for name, per in out]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="bench_sweep")
    ap.add_argument("--tasks", type=int, default=200, help="tasks in the overhead probe")
    ap.add_argument("--repeats", type=int, default=2, help="timed repeats (best is kept)")
    ap.add_argument("--quick", action="store_true", help="1 repeat, 50 overhead tasks")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.tasks = 1, 50
    print(f"machine: {usable_cores()} usable cores; torch/BLAS pinned to 1 thread per task")

    rows = scaling(args.repeats)
    print("\n12-experiment Hessian sweep (hessian.top_eigs), warm workers, best of "
          f"{args.repeats}")
    print(f"{'workers':>7} {'start-up s':>10} {'sweep s':>8} {'tasks/s':>8} "
          f"{'sum task s':>10}")
    for n, startup, wall, thr, task_s in rows:
        print(f"{n:>7} {startup:>10.2f} {wall:>8.2f} {thr:>8.2f} {task_s:>10.2f}")
    ratio = rows[0][2] / rows[1][2]
    print(f"scaling 1 -> 2 workers: {ratio:.2f}x throughput (ideal 2.00; the machine has "
          f"{usable_cores()} cores)")

    ov = overhead(args.tasks)
    print(f"\nper-task overhead, trivial experiment, {args.tasks} tasks")
    print(f"{'way of running':36} {'per task ms':>11} {'overhead ms':>11} {'vs Dask map':>11}")
    dask_map = dict((n, p) for n, p, _ in ov)["bare Dask client.map + gather"]
    for name, per, over in ov:
        print(f"{name:36} {per * 1e3:>11.3f} {over * 1e3:>11.3f} {per / dask_map:>10.2f}x")


if __name__ == "__main__":
    main()
