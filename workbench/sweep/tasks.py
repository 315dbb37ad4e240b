"""What runs on a worker: pin thread pools, call the experiment, check and tidy its output.

Everything here is importable without Dask, so ``run_task`` is also the serial reference
(``run_serial``) and the benchmark's baseline.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from workbench.errors import InputFormatError, ShapeError

MAX_ARRAY_SIZE = 100_000  # outputs are "small arrays": a spectrum, not a weight matrix


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _worker_address() -> str:
    """The Dask worker's address when running inside one, else "" (without importing
    distributed: a worker has always imported it)."""
    dist = sys.modules.get("distributed")
    if dist is None:
        return ""
    try:
        return dist.get_worker().address
    except ValueError:
        return ""


def auto_threads() -> int:
    """Threads for one task on this worker: the cores this process may use divided by the
    number of tasks the Dask worker runs at once (its nthreads), at least 1. Outside a
    Dask worker: all usable cores."""
    dist = sys.modules.get("distributed")
    try:
        slots = max(1, int(dist.get_worker().state.nthreads)) if dist is not None else 1
    except (ValueError, AttributeError):
        slots = 1
    return max(1, usable_cores() // slots)


_controller = None
_controller_modules = -1


def _threadpool_controller():
    """threadpoolctl's controller, cached per process: building one scans the loaded shared
    libraries (~5 ms), so it is rebuilt only when new modules were imported since (a task
    that imports torch or numba for the first time brings new thread pools)."""
    global _controller, _controller_modules
    from threadpoolctl import ThreadpoolController

    if _controller is None or len(sys.modules) != _controller_modules:
        _controller = ThreadpoolController()
        _controller_modules = len(sys.modules)
    return _controller


@contextmanager
def pinned_threads(n: int):
    """Limit BLAS/OpenMP (threadpoolctl), torch (if imported) and numba (if imported) to
    ``n`` threads for the duration of the block, then restore them. Costs microseconds
    (after the first call in a process)."""
    torch = sys.modules.get("torch")
    numba = sys.modules.get("numba")
    torch_before = torch.get_num_threads() if torch is not None else None
    numba_before = None
    if numba is not None:
        try:
            numba_before = numba.get_num_threads()
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        except Exception:  # pragma: no cover - numba without a threading layer
            numba_before = None
    with _threadpool_controller().limit(limits=n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield n
        finally:
            if torch is not None:
                torch.set_num_threads(torch_before)
            if numba_before is not None:
                numba.set_num_threads(numba_before)


def _tidy_value(name: str, value: Any) -> Any:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value  # NaN is a legitimate measurement (e.g. a metric undefined here)
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.ndim == 0:
            return arr.item()
        if arr.ndim != 1:
            raise ShapeError(f"output {name!r} has shape {arr.shape}; sweep outputs must be "
                             "scalars or 1-d arrays (flatten it or return a summary)")
        if arr.size > MAX_ARRAY_SIZE:
            raise ShapeError(f"output {name!r} has {arr.size} entries, more than "
                             f"{MAX_ARRAY_SIZE}; return a summary instead")
        if arr.dtype.kind in "biuf":
            return arr.astype(np.float64 if arr.dtype.kind == "f" else arr.dtype).tolist()
        if arr.dtype.kind in "UO":
            return [str(v) for v in arr.tolist()]
    raise InputFormatError(f"output {name!r} has type {type(value).__name__}; sweep outputs "
                           "must be numbers, strings, booleans or 1-d arrays")


def tidy_outputs(out: Any) -> dict[str, Any]:
    """Check an experiment's return value (a dict of scalars / 1-d arrays) and convert it to
    plain Python values (floats, ints, str, lists). Raises InputFormatError/ShapeError."""
    if not isinstance(out, Mapping):
        raise InputFormatError(f"an experiment must return a dict of results, got "
                               f"{type(out).__name__}")
    tidy = {}
    for k, v in out.items():
        if not isinstance(k, str) or k.startswith("_"):
            raise InputFormatError(f"output name {k!r} must be a string not starting with '_'")
        tidy[k] = _tidy_value(k, v)
    return tidy


def run_task(fn: Callable | str, params: dict,
             threads: int | Mapping[str, int] | None = None) -> dict[str, Any]:
    """Run one experiment call with pinned threads. Returns {"outputs": dict, "meta": dict}
    where meta holds seconds, threads, host, pid and the Dask worker address (if any).
    ``fn`` may be an import path "module:function" (resolved here, on the worker).
    ``threads``: a count, a {worker address: count} map (from the client, which sees every
    worker of a host), or None (``auto_threads()``)."""
    if isinstance(fn, str):
        from workbench.sweep.registry import import_target

        fn = import_target(fn)
    worker = _worker_address()
    if isinstance(threads, Mapping):
        threads = threads.get(worker)
    n = auto_threads() if threads is None else max(1, int(threads))
    with pinned_threads(n):
        t0 = time.perf_counter()
        raw = fn(**params)
        seconds = time.perf_counter() - t0
    outputs = tidy_outputs(raw)
    meta = dict(seconds=seconds, threads=n, host=socket.gethostname(), pid=os.getpid(),
                worker=worker)
    return {"outputs": outputs, "meta": meta}


