"""Small helpers shared by the explorer tests (no browser): waiting for background work and
building the bytes of uploaded files, good and bad."""

from __future__ import annotations

import io
import time

import numpy as np


def poll(fn, until=bool, timeout: float = 120.0, interval: float = 0.02):
    """Call ``fn()`` every ``interval`` s until ``until(value)`` is true or ``timeout`` s
    have passed; return the last value (the caller asserts on it).

    The one place the tests pause: every wait in the suite is a condition polled here (or,
    in a browser page, by ``browser_utils.wait_in_page``), never a fixed sleep, so a busy
    machine only makes a test slower, not wrong."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if until(value) or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_until(cond, timeout: float = 120.0, what="the explorer",
               interval: float = 0.02) -> None:
    """Poll ``cond()`` every ``interval`` s until it is true; AssertionError after ``timeout``
    s. ``what`` (a string, or a callable giving one, read at the time-out) names what was
    awaited in the message."""
    if not poll(cond, timeout=timeout, interval=interval):
        raise AssertionError(f"timed out after {timeout:g} s waiting for "
                             f"{what() if callable(what) else what}")


def npy_bytes(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    """``arr`` as the bytes of a .npy file."""
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def object_npy_bytes() -> bytes:
    """A .npy file holding an object array: a pickle in disguise."""
    objects = np.empty(2, dtype=object)
    objects[:] = [np.eye(2), "x"]
    return npy_bytes(objects, allow_pickle=True)


def nan_matrix(shape=(40, 30)) -> np.ndarray:
    """A matrix of ones with one NaN entry."""
    a = np.ones(shape)
    a[1, 1] = np.nan
    return a
