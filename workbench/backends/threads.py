"""Thread-pool caps: torch, BLAS (via threadpoolctl) and numba each start their own pools.

A dashboard server runs many sessions on few cores; uncapped pools oversubscribe them and
every session slows down. ``cap_threads(n)`` sets all three once per process;
``limited_threads(n, queue=...)`` caps them for one block of work and, with a queue name,
runs such blocks one at a time (``capped(fn, ...)`` wraps a function for a worker thread).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import contextmanager, nullcontext

_applied: int | None = None
_QUEUES: dict[str, threading.Lock] = {}
_QUEUES_LOCK = threading.Lock()


def _queue(name: str) -> threading.Lock:
    with _QUEUES_LOCK:
        return _QUEUES.setdefault(name, threading.Lock())


def default_threads() -> int:
    """Threads per compute call: WORKBENCH_THREADS, else the number of usable cores."""
    env = os.environ.get("WORKBENCH_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def thread_budget() -> int:
    """Threads one computation may use: the cap set by :func:`cap_threads` in this process
    (the dashboard server sets its share of the cores), else :func:`default_threads`."""
    return _applied if _applied is not None else default_threads()


def cap_threads(n: int | None = None) -> int:
    """Cap torch, BLAS/OpenMP and numba thread pools at `n` threads; returns n."""
    global _applied
    n = default_threads() if n is None else max(1, int(n))
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    try:
        import torch

        torch.set_num_threads(n)
    except Exception:  # pragma: no cover - torch absent or pools already started
        pass
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except Exception:  # pragma: no cover
        pass
    _applied = n
    return n


@contextmanager
def limited_threads(n: int, queue: str | None = None):
    """Temporarily limit BLAS/OpenMP pools (threadpoolctl) and torch to `n` threads.
    With a `queue` name, blocks naming the same queue run one at a time in this process
    (the others wait): e.g. the dashboards' small torch jobs, which run fastest on one
    thread each and would oversubscribe the cores if several ran at once (two OpenMP
    threads on two busy cores spin-wait: measured 2 s -> 20-45 s for the Hessian
    dashboard's default experiment)."""
    with _queue(queue) if queue is not None else nullcontext(), _limited(n):
        yield


def capped(fn: Callable, n: int = 1, queue: str | None = None) -> Callable:
    """``fn`` wrapped to run under ``limited_threads(n, queue)`` (for a worker thread)."""
    def run():
        with limited_threads(n, queue):
            return fn()

    return run


@contextmanager
def _limited(n: int):
    from threadpoolctl import threadpool_limits

    try:
        import torch

        before = torch.get_num_threads()
    except Exception:  # pragma: no cover
        torch = None
    with threadpool_limits(limits=n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


_controller = None


def one_blas_thread():
    """Context manager: BLAS pools limited to one thread, like
    ``threadpool_limits(1, user_api="blas")`` but through one ThreadpoolController made
    once per process (building one inspects every loaded library: ~10 ms a call, measured,
    which a k-means fit of 50 ms paid twice)."""
    global _controller
    if _controller is None:
        # the controller sees the libraries loaded when it is made: load scipy's BLAS
        # (the one numba's np.dot and scipy.linalg call) and numpy's first
        import numpy  # noqa: F401
        import scipy.linalg  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
