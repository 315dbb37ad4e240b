"""Small helpers shared by the explorer tests (no browser): waiting for background work and
building the bytes of uploaded files, good and bad."""

from __future__ import annotations

import io
import time

import numpy as np


def wait_until(cond, timeout: float = 120.0, what: str = "the explorer") -> None:
    """Poll ``cond()`` every 20 ms until it is true; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


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
