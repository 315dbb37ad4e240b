"""numba set-up: a thread-safe threading layer, a lock as fallback, and warm-up at start.

numba's default ``workqueue`` threading layer aborts the whole process when two threads
call parallel kernels at once (two dashboard sessions, say). We ask for the ``threadsafe``
layer (OpenMP or TBB). If only workqueue can be had, ``parallel_guard()`` serializes calls.

Kernels register a warm-up function with ``register_warmup`` so ``warm_up()`` (called when
the server starts) compiles them before any user interaction; with ``cache=True`` the
compiled code is also cached on disk across processes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import nullcontext

os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")

try:
    import numba  # noqa: F401

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

_lock = threading.RLock()
_warmups: list[Callable[[], None]] = []
_layer_checked: str | None = None


def threading_layer() -> str:
    """The threading layer numba actually uses (after a parallel kernel ran once)."""
    global _layer_checked
    if _layer_checked is None and HAVE_NUMBA:
        import numba
        import numpy as np

        @numba.njit(parallel=True, cache=False)
        def _probe(x):  # pragma: no cover - compiled
            s = 0.0
            for i in numba.prange(x.shape[0]):
                s += x[i]
            return s

        try:
            _probe(np.ones(4))
            _layer_checked = numba.threading_layer()
        except Exception:  # no threadsafe layer: fall back to workqueue + lock
            numba.config.THREADING_LAYER = "workqueue"
            _probe(np.ones(4))
            _layer_checked = numba.threading_layer()
    return _layer_checked or "none"


def parallel_guard():
    """Context manager to wrap calls of parallel numba kernels from server threads.

    A no-op when the threading layer is thread-safe (omp/tbb); a process-wide lock when
    numba had to fall back to workqueue.
    """
    if threading_layer() == "workqueue":
        return _lock
    return nullcontext()


def register_warmup(fn: Callable[[], None]) -> Callable[[], None]:
    """Register `fn` (compiles kernels on tiny inputs) to run in ``warm_up()``."""
    _warmups.append(fn)
    return fn


def warm_up() -> int:
    """Compile every registered kernel now; returns how many warm-ups ran."""
    threading_layer()
    for fn in list(_warmups):
        fn()
    return len(_warmups)
