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


def _module_of(fn: Callable[[], None]) -> str:
    return getattr(getattr(fn, "func", fn), "__module__", "")


def warm_up(part: int = 0, parts: int = 1) -> int:
    """Compile the registered kernels now; returns how many warm-ups ran.

    ``part``/``parts``: only the warm-ups of every ``parts``-th module, starting at the
    ``part``-th (in registration order), so ``parts`` processes can compile the on-disk
    cache together (``compile_cache``; dev.py's set-up). A module's warm-ups
    never split: two processes that compile different signatures of one cached function
    at once can overwrite each other's entry in its cache index."""
    threading_layer()
    modules = list(dict.fromkeys(_module_of(fn) for fn in _warmups))
    mine = set(modules[part::parts])
    fns = [fn for fn in list(_warmups) if _module_of(fn) in mine]
    for fn in fns:
        fn()
    return len(fns)


#: the topics whose modules register numba warm-ups (imported by ``compile_cache``)
KERNEL_TOPICS = ("workbench.clustering", "workbench.eigenspectra", "workbench.lowrank")


def compile_cache(part: int = 0, parts: int = 1) -> int:
    """Import the kernel topics and compile their share of the warm-ups (``warm_up``) into
    numba's on-disk cache (``__pycache__`` beside the sources), so no later process pays
    the compile (a few minutes of one core on a fresh checkout; a warm cache loads in a
    second or two). Returns how many warm-ups ran."""
    import importlib

    for topic in KERNEL_TOPICS:
        importlib.import_module(topic)
    return warm_up(part, parts)

