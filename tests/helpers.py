"""Small helpers shared by the explorer tests (no browser): waiting for background work and
building the bytes of uploaded files, good and bad."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib

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


def npz_bytes(compressed: bool = False, **arrays) -> bytes:
    """``arrays`` as the bytes of an .npz archive (``np.savez``, or compressed)."""
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def raw_safetensors(header: dict, payload: bytes, header_len: int | None = None) -> bytes:
    """A safetensors file with a hand-written header (free to lie about its payload)."""
    text = json.dumps(header).encode()
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + payload


def zip_claiming(uncompressed: int, name: bytes = b"w.npy") -> bytes:
    """A one-member zip whose local header and central directory both say the member
    expands to `uncompressed` bytes (a zip64 extra field: 100 GB does not fit 32 bits),
    holding a real 1 KiB deflate stream. Nothing of that size exists anywhere."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = comp.compress(b"\0" * 1_000_000) + comp.flush()
    crc = zlib.crc32(b"\0" * 1_000_000)
    extra = struct.pack("<HHQ", 0x0001, 8, uncompressed)  # zip64: the real file size
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, 0, 8, 0, 0, crc, len(payload),
                        0xFFFFFFFF, len(name), len(extra)) + name + extra
    central = struct.pack("<4s4B4H3L5H2L", b"PK\x01\x02", 45, 3, 45, 0, 0, 8, 0, 0, crc,
                          len(payload), 0xFFFFFFFF, len(name), len(extra), 0, 0, 0, 0,
                          0) + name + extra
    offset = len(local) + len(payload)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), offset, 0)
    return local + payload + central + end
