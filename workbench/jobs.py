"""Shared background work: one small thread pool, a result cache and in-flight sharing,
for every session of a server process (no Panel here: a notebook or a sweep can use it).

``workbench.ui.base.Explorer.run_background`` is the dashboards' way in: it adds
superseding, progress and delivery on the page's event loop. ``submit(key, fn)`` starts
``fn`` in the pool, or returns the future of the run already computing `key` (30 students
moving the same slider to the same value cost one computation); ``CACHE`` keeps finished
results by key.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

# a small shared pool: on a 2-core server more threads only oversubscribe
BACKGROUND_WORKERS = 2
_EXECUTOR = cf.ThreadPoolExecutor(max_workers=BACKGROUND_WORKERS,
                                  thread_name_prefix="workbench-bg")
# cached work now running, by cache key: a request for it joins instead of starting a copy
_INFLIGHT: dict = {}
_INFLIGHT_LOCK = threading.Lock()
_JOINED: dict = {}  # cache key -> how many other requests joined its in-flight run


def _forget(key, future) -> None:
    with _INFLIGHT_LOCK:
        if _INFLIGHT.get(key) is future:
            del _INFLIGHT[key]
            _JOINED.pop(key, None)


def stop_run(key: Hashable | None, event: threading.Event) -> bool:
    """Set `event` (the run's cancel flag) unless another request joined the run computing
    `key`; a stopped run is no longer offered to new requests. Returns whether it was set.
    Cost: a lock and two dict look-ups."""
    if key is None:
        event.set()
        return True
    with _INFLIGHT_LOCK:
        if _JOINED.get(key, 0):
            return False
        event.set()
        _INFLIGHT.pop(key, None)  # nobody may join a run being stopped
        _JOINED.pop(key, None)
    return True


def submit(key: Hashable | None, fn: Callable[[], Any]) -> cf.Future:
    """``fn()`` in the shared pool; with a `key`, the future of the run computing `key`
    when one is running (any session's), so that it is computed once. Raises RuntimeError
    when the interpreter is shutting down. Cost: a lock and a dict lookup."""
    with _INFLIGHT_LOCK:
        future = _INFLIGHT.get(key) if key is not None else None
        if future is not None:
            _JOINED[key] = _JOINED.get(key, 0) + 1
            return future
        future = _EXECUTOR.submit(fn)
        if key is not None:  # requests for the same result meanwhile join this run
            _INFLIGHT[key] = future
    if key is not None:
        # outside the lock: a future already done runs its callbacks right here
        future.add_done_callback(lambda f: _forget(key, f))
    return future


class ResultCache:
    """A thread-safe LRU cache shared by all sessions of a server process."""

    def __init__(self, maxsize: int = 64):
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return default

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


CACHE = ResultCache(maxsize=128)
