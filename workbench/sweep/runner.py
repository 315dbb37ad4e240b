"""Run a sweep on Dask: submit the missing tasks, save each result the moment it arrives.

    from workbench.sweep import run_sweep, Grid
    res = run_sweep("hessian.top_eigs", Grid.product(width=[8, 16, 32], seed=[0, 1]),
                    "runs/widths")                      # local cluster, processes
    res.table                                           # tidy pandas table
    run_sweep(..., scheduler="tcp://10.0.0.5:8786")     # an existing Dask cluster

Where the work happens: the client (this process) computes each task's key, skips keys
already saved in the folder, submits the rest to the Dask scheduler, and writes each
result's Parquet file as soon as its future completes (``distributed.as_completed``). The
workers never touch the folder, so a multi-node cluster needs no shared file system. If a
worker dies, Dask reschedules its unfinished tasks on the others; if the whole run stops
(Ctrl-C, lost client, ``on_result`` returning False), every result that had arrived is on
disk and a rerun computes only what is missing.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import InputFormatError, WorkbenchError
from workbench.sweep.grid import Grid
from workbench.sweep.keys import task_key
from workbench.sweep.progress import make_progress
from workbench.sweep.registry import Experiment, resolve
from workbench.sweep.store import SweepStore, make_row
from workbench.sweep.tasks import run_task, usable_cores

log = logging.getLogger("workbench.sweep")

LOCAL_KINDS = ("processes", "threads")


@dataclass(frozen=True)
class SweepResult:
    """What ``run_sweep`` returns.

    ``table``: one row per finished task of this grid (cached or computed), in grid order:
    parameter columns, output columns, metadata columns starting with '_'.
    ``cached``/``computed``/``failed`` count tasks; ``failures`` holds (params, message)
    pairs; ``interrupted`` is True when the run stopped before every task was tried;
    ``seconds`` is the wall time of the run."""

    table: pd.DataFrame = field(repr=False)
    folder: Path
    experiment: str
    version: str
    total: int
    cached: int
    computed: int
    failed: int
    failures: tuple[tuple[dict, str], ...] = field(repr=False)
    interrupted: bool
    seconds: float

    @property
    def complete(self) -> bool:
        """True when every task of the grid has a saved result."""
        return len(self.table) == self.total

    def __len__(self) -> int:
        return len(self.table)


def _local_cluster(kind: str, n_workers: int | None, threads_per_worker: int):
    from distributed import LocalCluster

    processes = kind == "processes"
    if n_workers is None:
        n_workers = max(1, usable_cores() // max(1, threads_per_worker))
    # the scheduler's HTTP server (metrics, dashboard) on a free loopback port: never 8787,
    # which another cluster or a user's dashboard may hold
    if not processes:  # worker threads in this process: in-process comms, no sockets
        return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                            processes=False, dashboard_address="127.0.0.1:0")
    return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                        processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0")


def connect(scheduler: Any = None, *, n_workers: int | None = None,
            threads_per_worker: int = 1):
    """A (client, owned_objects) pair for ``scheduler``:

    - None or "processes": a new in-process LocalCluster of worker processes (loopback);
      "threads": the same with worker threads in this process;
    - an address string ("tcp://host:8786", "tls://..."): connect to that scheduler;
    - a ``distributed.Client``: used as is; a cluster object: a client for it.

    ``owned_objects`` are what the caller must close afterwards (the client and cluster it
    created here, not those handed in). Starting a local cluster costs about a second.
    """
    from distributed import Client

    if scheduler is None:
        scheduler = "processes"
    if isinstance(scheduler, Client):
        return scheduler, []
    if isinstance(scheduler, str):
        if scheduler in LOCAL_KINDS:
            cluster = _local_cluster(scheduler, n_workers, threads_per_worker)
            client = Client(cluster)
            return client, [client, cluster]
        if "://" not in scheduler:
            raise InputFormatError(
                f"scheduler {scheduler!r} is neither 'processes', 'threads', 'serial' nor an "
                "address like 'tcp://host:8786'")
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise InputFormatError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") \
                from exc
        return client, [client]
    if hasattr(scheduler, "scheduler_address"):
        client = Client(scheduler)
        return client, [client]
    raise InputFormatError(f"unsupported scheduler {scheduler!r}")


def threads_by_worker(client) -> dict[str, int]:
    """Threads per task for each worker now in the cluster: the cores of its host divided by
    the task slots (nthreads) of all workers on that host, at least 1. So 2 single-threaded
    workers on a 2-core machine get 1 thread per task, not 2 each. Costs one round trip."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    # a worker may die or leave meanwhile: its error is returned (not raised) and skipped;
    # its tasks will run elsewhere, and a newcomer's tasks fall back to auto_threads()
    cores = {a: c for a, c in client.run(usable_cores, on_error="return").items()
             if isinstance(c, int)}
    slots: dict[str, int] = {}
    for info in workers.values():
        slots[info["host"]] = slots.get(info["host"], 0) + int(info["nthreads"])
    return {addr: max(1, cores[addr] // max(1, slots[info["host"]]))
            for addr, info in workers.items() if addr in cores}


def _target_for_workers(exp: Experiment):
    """A string import path when the experiment has one (workers import it themselves),
    otherwise the function (shipped by cloudpickle)."""
    return exp.target if isinstance(exp.target, str) else exp.load()


def plan(experiment: str | Callable | Experiment,
         grid: Grid | Mapping | Sequence) -> tuple[Experiment, str, Grid, list[str]]:
    """Resolve the experiment, its code version, the grid and each point's task key.
    Imports the experiment's module (to hash its source) unless it has a fixed version."""
    exp = resolve(experiment)
    g = Grid.coerce(grid)
    version = exp.code_version()
    keys = [task_key(exp.name, p, version) for p in g]
    return exp, version, g, keys


def missing(experiment, grid, folder) -> list[dict]:
    """The parameter sets of ``grid`` that have no saved result in ``folder`` yet."""
    _exp, _version, g, keys = plan(experiment, grid)
    have = SweepStore(folder).keys()
    return [p for p, k in zip(g, keys) if k not in have]


def run_sweep(experiment: str | Callable | Experiment,
              grid: Grid | Mapping | Sequence,
              folder: str | os.PathLike,
              *,
              scheduler: Any = None,
              n_workers: int | None = None,
              threads_per_worker: int = 1,
              threads: int | None = None,
              progress: Any = True,
              on_result: Callable[[dict], Any] | None = None,
              recompute: bool = False,
              retries: int = 0) -> SweepResult:
    """Run ``experiment(**params)`` for every parameter set of ``grid``, saving each result
    to ``folder`` as it arrives, and return the tidy table (see SweepResult).

    - ``experiment``: a registered name ("hessian.top_eigs"; ``workbench.sweep.names()``),
      "module:function", a function, or an Experiment. It returns a dict of scalars or
      small 1-d arrays.
    - ``grid``: a Grid, a dict of value lists (Cartesian product) or a list of dicts.
    - ``scheduler``: None/"processes" (local cluster of processes on 127.0.0.1, default),
      "threads", "serial" (this process, no Dask: for debugging), an address
      "tcp://host:port", or a ``distributed.Client`` (kept open).
    - ``n_workers``/``threads_per_worker``: size of a local cluster (default: one
      single-threaded worker per usable core).
    - ``threads``: BLAS/torch/numba threads per task; None: the worker's cores divided by
      its concurrent task slots, so workers do not oversubscribe.
    - ``progress``: True (text bar in a terminal, HTML bar in Jupyter), "text",
      "notebook", False.
    - ``on_result(event)``: called on the client after each arrival (and its file write)
      with a dict: kind ("result"/"error"), key, params, row or error, done, failed, total.
      Return False to stop the sweep (the rest is cancelled; a rerun resumes).
    - ``recompute``: ignore saved results of this grid and compute everything again.
    - ``retries``: Dask retries of a failing task (a killed worker's running task is
      always rescheduled by Dask; that does not count as a retry).

    Cost: one experiment call per missing task, plus ~1 s to start a local cluster and a few
    ms per task for scheduling and the Parquet write (benchmarks/bench_sweep.py).
    """
    t_start = time.perf_counter()
    exp, version, g, keys = plan(experiment, grid)
    if len(g) == 0:
        raise InputFormatError("the sweep grid is empty")
    store = SweepStore(folder)
    store.write_manifest(exp.name, version, g, exp.description)
    have = set() if recompute else store.keys()
    todo = [(k, p) for k, p in zip(keys, g) if k not in have]
    # the same parameter set twice cannot happen (Grid de-duplicates); keys are unique
    cached = len(g) - len(todo)
    reporter = make_progress(progress)
    reporter.start(len(g), cached)

    state = dict(done=0, failed=0, stop=False)
    failures: list[tuple[dict, str]] = []
    new_rows: dict[str, dict] = {}

    def handle(key: str, params: dict, payload: dict | None, exc: BaseException | None,
               tb_text: str = "") -> None:
        event: dict[str, Any] = dict(key=key, params=params, total=len(g), cached=cached)
        if exc is None:
            try:
                row = make_row(key, exp.name, version, params, payload["outputs"],
                               payload["meta"])
                store.write_result(row)
                new_rows[key] = row
            except WorkbenchError as err:
                exc, tb_text = err, ""
            else:
                state["done"] += 1
                event.update(kind="result", row=row)
        if exc is not None:
            msg = f"{type(exc).__name__}: {exc}"
            store.write_error(key, exp.name, params, msg, tb_text)
            failures.append((params, msg))
            state["failed"] += 1
            event.update(kind="error", error=msg)
            log.warning("sweep task %s %s failed: %s", exp.name, params, msg)
        event.update(done=state["done"], failed=state["failed"])
        reporter.update(state["done"], state["failed"])
        if on_result is not None and on_result(event) is False:
            state["stop"] = True

    try:
        if todo and scheduler == "serial":
            target = exp.load()
            for key, params in todo:
                try:
                    payload = run_task(target, params, threads)
                except Exception as exc:  # noqa: BLE001 - recorded per task
                    handle(key, params, None, exc, traceback.format_exc())
                else:
                    handle(key, params, payload, None)
                if state["stop"]:
                    break
        elif todo:
            _run_on_dask(exp, todo, handle, state, scheduler, n_workers, threads_per_worker,
                         threads, retries)
    finally:
        reporter.close()

    # the table in grid order: cached rows read back, new rows from memory (same as on disk)
    table = store.read_rows([k for k in keys if k not in new_rows and store.has(k)],
                            extra_rows=list(new_rows.values()))
    if new_rows and len(table):
        order = {k: i for i, k in enumerate(keys)}
        table = table.iloc[table["_key"].map(order).argsort(kind="stable")]
        table = table.reset_index(drop=True)
    attempted = state["done"] + state["failed"]
    return SweepResult(table=table, folder=Path(folder), experiment=exp.name, version=version,
                       total=len(g), cached=cached, computed=state["done"],
                       failed=state["failed"], failures=tuple(failures),
                       interrupted=attempted < len(todo),
                       seconds=time.perf_counter() - t_start)


def _run_on_dask(exp, todo, handle, state, scheduler, n_workers, threads_per_worker,
                 threads, retries) -> None:
    from distributed import as_completed

    client, owned = connect(scheduler, n_workers=n_workers,
                            threads_per_worker=threads_per_worker)
    if threads is None:
        threads = threads_by_worker(client)
    token = secrets.token_hex(4)  # a fresh Dask key per run: never reuse an old erred task
    futures = {}
    try:
        target = _target_for_workers(exp)
        for key, params in todo:
            fut = client.submit(run_task, target, params, threads, key=f"sweep-{key}-{token}",
                                pure=False, retries=retries)
            futures[fut.key] = (fut, key, params)
        ac = as_completed([f for f, _, _ in futures.values()])
        for fut in ac:
            _f, key, params = futures.pop(fut.key)
            if fut.status == "finished":
                handle(key, params, fut.result(), None)
            elif fut.status == "cancelled":
                continue
            else:
                exc = fut.exception()
                tb = "".join(traceback.format_tb(fut.traceback())) if fut.traceback() else ""
                handle(key, params, None, exc, tb)
            fut.release()
            if state["stop"]:
                break
    finally:
        remaining = [f for f, _, _ in futures.values()]
        if remaining:
            client.cancel(remaining)
        for obj in owned:
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                log.debug("closing %r failed", obj, exc_info=True)
