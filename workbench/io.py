"""Safe loaders for user-supplied weight files: .npy, .npz and safetensors. Never pickle.

    mats = load_matrices("model.safetensors")            # {name: ndarray}
    W = load_matrix(uploaded_bytes, filename="w.npy")     # one array

Accepted: a ``.npy`` file (one array), a ``.npz`` archive (``allow_pickle=False``), a
``.safetensors`` file, or a folder holding ``*.safetensors`` shards. Anything else, a pickle
in disguise, an object array, a file over ``max_bytes`` or an array holding NaN/inf raises
``workbench.errors.InputFormatError`` / ``NonFiniteError`` with a message written for a
person. Cost: one read of the file; arrays are returned as numpy (float16/bfloat16 are
widened to float32). What a file declares (an .npy header's shape, an .npz member's size,
its member count) is checked against the bytes it holds before anything is allocated.
Dashboards take uploads through ``read_upload`` (the same loaders plus the upload limits).
"""

from __future__ import annotations

import io
import os
import pickletools
import struct
import zipfile
from pathlib import Path

import numpy as np

from workbench.errors import InputFormatError, NonFiniteError, ShapeError, WorkbenchError

DEFAULT_MAX_BYTES = 512 * 1024 * 1024  # 512 MiB

# Uploads through a dashboard. A Panel FileInput sends the whole file base64-encoded (4/3
# larger) in one websocket message, and Bokeh drops a connection whose message exceeds the
# server's --websocket-max-message-size (20 MiB by default). `workbench serve` raises it to
# WEBSOCKET_MAX_MESSAGE_BYTES so a file up to UPLOAD_MAX_BYTES reaches the app, which refuses
# anything larger with a message. Under plain `panel serve`, pass the same option.
UPLOAD_MAX_BYTES = 128 * 1024 * 1024  # MiniLM's 87 MiB safetensors fits
WEBSOCKET_MAX_MESSAGE_BYTES = UPLOAD_MAX_BYTES * 4 // 3 + 8 * 1024 * 1024

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGICS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")

# an .npz member may expand to at most this many times the upload limit (zip bombs: the
# members' declared sizes are checked before anything is decompressed)
NPZ_MAX_EXPANSION = 4
# an .npz may hold at most this many arrays and a central directory of at most this many
# bytes (read from the end record before zipfile parses it: millions of tiny entries would
# cost ~0.5 KiB of Python objects each)
NPZ_MAX_MEMBERS = 10_000
NPZ_MAX_DIRECTORY_BYTES = 4 * 1024 * 1024

# uploads: values beyond this magnitude overflow float64 as soon as they are squared and
# summed (norms, Gram matrices, Lanczos), integers beyond 2**53 are not exact in float64
UPLOAD_MAX_ABS = 1e150
UPLOAD_MAX_INT = 2**53

__all__ = ["DEFAULT_MAX_BYTES", "NPZ_MAX_MEMBERS", "UPLOAD_MAX_ABS", "UPLOAD_MAX_BYTES",
           "UPLOAD_MAX_INT", "WEBSOCKET_MAX_MESSAGE_BYTES", "load_matrices", "load_matrix",
           "read_upload"]


def _kind_from_bytes(data: bytes) -> str:
    if data.startswith(_NPY_MAGIC):
        return "npy"
    if data.startswith(_ZIP_MAGIC):
        # torch.save also writes zip archives (holding a pickle): tell them apart
        return "zip"
    # safetensors first: its 8-byte header length can start with a pickle opcode (a
    # length of 0x128 begins with b"("); a pickle cannot pass this test (its first 8 bytes
    # read as a length far beyond any file)
    if len(data) >= 8:
        header_len = int.from_bytes(data[:8], "little")
        if 2 <= header_len <= len(data) - 8 and data[8:9] == b"{":
            return "safetensors"
    if data[:2] in _PICKLE_MAGICS or data[:1] == b"(" or _old_pickle(data):
        return "pickle"
    return "unknown"


def _old_pickle(data: bytes) -> bool:
    """True for a protocol 0/1 pickle (no magic bytes): its opcodes parse, without running
    anything, up to the final STOP. Cost: one pass, only over files ending in b'.'."""
    if not data.endswith(b".") or data[:1] not in b"c(}]ILFSVNTUXJKMGP":
        return False
    try:
        for _ in pickletools.genops(data):
            pass
    except Exception:  # noqa: BLE001 - not a pickle
        return False
    return True


def _check_size(n: int, max_bytes: int, what: str) -> None:
    if max_bytes is not None and n > max_bytes:
        raise InputFormatError(
            f"{what} is {n / 2**20:.1f} MiB, over the limit of {max_bytes / 2**20:.1f} MiB"
        )


def _as_numeric(name: str, arr: np.ndarray) -> np.ndarray:
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise InputFormatError(
            f"array {name!r} has dtype {arr.dtype}, expected a real numeric array"
        )
    if arr.dtype.kind == "f" and arr.dtype.itemsize < 4:
        arr = arr.astype(np.float32)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise NonFiniteError(f"array {name!r} (shape {arr.shape}) holds {bad} NaN/inf values")
    return arr


def _load_safetensors_bytes(data: bytes, source: str) -> dict[str, np.ndarray]:
    # the safetensors library checks the header against the buffer (offsets inside it and
    # contiguous, shape x dtype == the byte span) before it copies anything
    try:
        from safetensors.torch import load as load_torch
    except ImportError:  # pragma: no cover - torch is a dependency
        from safetensors.numpy import load as load_np

        try:
            return dict(load_np(data))
        except Exception as exc:  # noqa: BLE001 - safetensors raises several kinds
            raise InputFormatError(f"{source} is not a valid safetensors file: {exc}") from exc
    try:
        tensors = load_torch(data)
    except Exception as exc:  # noqa: BLE001 - safetensors raises several kinds
        if isinstance(exc, MemoryError):
            raise
        raise InputFormatError(f"{source} is not a valid safetensors file: {exc}") from exc
    out = {}
    for k, t in tensors.items():
        try:
            if t.dtype.is_floating_point and t.element_size() < 4:
                t = t.float()  # bfloat16 and float8 have no numpy dtype
            out[k] = t.numpy()
        except (TypeError, RuntimeError) as exc:
            raise InputFormatError(f"{source}: tensor {k!r} has dtype {t.dtype}, expected a "
                                   f"real numeric array ({exc})") from exc
    return out


def _zip_directory(data: bytes, source: str) -> tuple[int, int]:
    """(entries, central directory bytes) from the zip's end record, before zipfile parses
    the directory. Cost: a scan of the last 64 KiB."""
    end_record = getattr(zipfile, "_EndRecData", None)
    if end_record is None:  # pragma: no cover - a Python without it: zipfile's own checks
        return 0, 0
    try:
        rec = end_record(io.BytesIO(data))
    except (OSError, ValueError, struct.error) as exc:
        raise InputFormatError(f"{source} is not a valid .npz archive: {exc}") from exc
    if not rec:
        raise InputFormatError(f"{source} is not a valid .npz archive: its end record (the "
                               "zip's table of contents) is missing: truncated?")
    return int(rec[zipfile._ECD_ENTRIES_TOTAL]), int(rec[zipfile._ECD_SIZE])


def _load_npz_bytes(data: bytes, source: str,
                    max_expanded: int | None = None) -> dict[str, np.ndarray]:
    entries, directory = _zip_directory(data, source)
    if entries > NPZ_MAX_MEMBERS or directory > NPZ_MAX_DIRECTORY_BYTES:
        raise InputFormatError(
            f"{source} declares {entries} members in a {directory / 2**20:.1f} MiB table of "
            f"contents, over the limit of {NPZ_MAX_MEMBERS} arrays: refused before reading it")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except Exception as exc:  # noqa: BLE001 - zipfile raises several kinds on bad input
        if isinstance(exc, MemoryError):
            raise
        raise InputFormatError(f"{source} is not a valid .npz archive: {exc}") from exc
    names = [i.filename for i in infos]
    if len(infos) > NPZ_MAX_MEMBERS:
        raise InputFormatError(f"{source} holds {len(infos)} members, over the limit of "
                               f"{NPZ_MAX_MEMBERS} arrays")
    if any(n.endswith(".pkl") or n.endswith("data.pkl") for n in names) or not all(
        n.endswith(".npy") for n in names
    ):
        raise InputFormatError(
            f"{source} is a zip archive that is not a plain .npz (it holds "
            f"{', '.join(names[:3])}...); torch.save/pickle files are refused: save your "
            "weights with numpy.savez or safetensors"
        )
    declared = sum(i.file_size for i in infos)
    if max_expanded is not None and declared > max_expanded:
        # zipfile never reads past a member's declared size, so this bounds what is read
        raise InputFormatError(
            f"{source} declares {declared / 2**20:.1f} MiB of arrays once decompressed, over "
            f"the limit of {max_expanded / 2**20:.1f} MiB: refused before reading it")
    out = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in infos:
                if info.flag_bits & 0x1:
                    raise InputFormatError(f"{source}: member {info.filename!r} is encrypted")
                # at most info.file_size bytes (checked above); the CRC is verified
                member = zf.read(info)
                name = info.filename[:-len(".npy")]
                out.update(_load_npy_bytes(member, f"{source}: member {info.filename!r}",
                                           name=name))
    except WorkbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib raise several kinds
        if isinstance(exc, MemoryError):
            raise
        raise InputFormatError(f"{source} is a damaged .npz archive: {exc}") from exc
    return out


def _npy_header(data: bytes, source: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, offset of the data) of a .npy file, checked against its length before
    any array is allocated: a header declaring more bytes than follow is refused."""
    fp = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        else:  # 2.0 and 3.0 (utf-8 field names) share the 4-byte header length
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    except Exception as exc:  # noqa: BLE001 - numpy raises ValueError, EOFError, ...
        if isinstance(exc, MemoryError):
            raise
        raise InputFormatError(f"{source} is a damaged .npy file (bad header: {exc})") from exc
    if dtype.hasobject:
        raise InputFormatError(
            f"{source} holds an object array ({dtype}), which would need pickle: refused")
    if any(int(side) < 0 for side in shape):
        raise InputFormatError(f"{source} is a damaged .npy file: negative shape {shape}")
    count = 1
    for side in shape:
        count *= int(side)
    need, have = count * dtype.itemsize, len(data) - fp.tell()
    if need > have:
        raise InputFormatError(
            f"{source} is a damaged .npy file: its header declares shape {shape} of {dtype} "
            f"({need / 2**20:.1f} MiB) but only {have} bytes of data follow (truncated?)")
    return shape, dtype, fp.tell()


def _load_npy_bytes(data: bytes, source: str, name: str | None = None
                    ) -> dict[str, np.ndarray]:
    _npy_header(data, source)  # before np.load allocates what the header declares
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy raises ValueError, EOFError, OSError
        if isinstance(exc, MemoryError):
            raise
        if "pickle" not in str(exc):
            raise InputFormatError(f"{source} is a damaged .npy file: {exc}") from exc
        raise InputFormatError(
            f"{source} holds an object array, which would need pickle: refused ({exc})"
        ) from exc
    if name is None:
        name = Path(source).stem if source else "array"
    return {name or "array": arr}


def _load_bytes(data: bytes, filename: str | None, max_bytes: int) -> dict[str, np.ndarray]:
    source = filename or "the uploaded data"
    _check_size(len(data), max_bytes, source)
    if len(data) == 0:
        raise InputFormatError(f"{source} is empty")
    kind = _kind_from_bytes(data)
    ext = Path(filename).suffix.lower() if filename else ""
    if kind == "pickle" or ext in (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt"):
        raise InputFormatError(
            f"{source} looks like a pickle / torch.save file: pickles can run arbitrary code "
            "and are never loaded. Convert it to .safetensors or .npz first"
        )
    if kind == "npy":
        return _load_npy_bytes(data, source)
    if kind == "zip":
        return _load_npz_bytes(data, source,
                               None if max_bytes is None else NPZ_MAX_EXPANSION * max_bytes)
    if kind == "safetensors" or ext == ".safetensors":
        return _load_safetensors_bytes(data, source)
    raise InputFormatError(
        f"{source}: unrecognised format (expected .npy, .npz or .safetensors; "
        f"first bytes {data[:8]!r})"
    )


def load_matrices(path_or_bytes, filename: str | None = None,
                  max_bytes: int | None = DEFAULT_MAX_BYTES) -> dict[str, np.ndarray]:
    """Load named arrays from a file, a folder of safetensors shards, or raw bytes.

    Returns ``{name: ndarray}`` (insertion order of the file). Every floating array is
    checked to be finite. Raises ``InputFormatError`` for pickles, unknown formats, object
    arrays and files over ``max_bytes``; ``NonFiniteError`` for NaN/inf.
    Cost: reads each file once.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        raw = _load_bytes(bytes(path_or_bytes), filename, max_bytes)
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        path = Path(path_or_bytes)
        if path.is_dir():
            shards = sorted(path.glob("*.safetensors"))
            if not shards:
                raise InputFormatError(f"folder {path} holds no .safetensors files")
            total = sum(p.stat().st_size for p in shards)
            _check_size(total, max_bytes, f"folder {path}")
            raw = {}
            for p in shards:
                raw.update(_load_safetensors_bytes(p.read_bytes(), str(p)))
        elif path.is_file():
            _check_size(path.stat().st_size, max_bytes, str(path))
            raw = _load_bytes(path.read_bytes(), filename or path.name, max_bytes)
        else:
            raise InputFormatError(f"no such file or folder: {path}")
    else:
        raise InputFormatError(
            f"cannot load weights from a {type(path_or_bytes).__name__}; pass a path or bytes"
        )
    if not raw:
        raise InputFormatError(f"{filename or path_or_bytes!s} holds no arrays")
    return {k: _as_numeric(k, np.asarray(v)) for k, v in raw.items()}


def load_matrix(path_or_bytes, filename: str | None = None,
                max_bytes: int | None = DEFAULT_MAX_BYTES, name: str | None = None,
                ndim: int | tuple[int, ...] = 2) -> np.ndarray:
    """Load one array (the only one, or the one called ``name``) and check its ndim.

    Returns a numpy array with ``arr.ndim`` in ``ndim``. Raises ``InputFormatError`` if
    the file holds several arrays and no ``name`` is given, ``ShapeError`` on a wrong ndim.
    """
    mats = load_matrices(path_or_bytes, filename=filename, max_bytes=max_bytes)
    if name is not None:
        if name not in mats:
            raise InputFormatError(f"no array named {name!r}; the file holds {list(mats)[:10]}")
        arr = mats[name]
    elif len(mats) == 1:
        name, arr = next(iter(mats.items()))
    else:
        raise InputFormatError(
            f"the file holds {len(mats)} arrays ({', '.join(list(mats)[:5])}...); "
            "pass name= to pick one"
        )
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        raise ShapeError(
            f"array {name!r} has {arr.ndim} dimensions (shape {arr.shape}); expected "
            f"{' or '.join(str(a) for a in allowed)}"
        )
    return arr


def read_upload(data, filename: str | None = None, *, max_bytes: int = UPLOAD_MAX_BYTES,
                ndim: int | tuple[int, ...] | None = None, min_side: int = 1,
                max_side: int | None = None) -> dict[str, np.ndarray]:
    """The one rule for a file uploaded through a dashboard (every explorer calls this).

    `data`: the raw bytes (a Panel FileInput's value); `filename`: its name, for messages.
    Refused, each with an ``InputFormatError`` / ``ShapeError`` / ``NonFiniteError`` whose
    message names the problem: more than `max_bytes`, an empty file, pickles and
    torch.save files, unknown formats, a damaged or truncated file, an ``.npy`` (or ``.npz``
    member) whose header declares more data than the file holds (checked before
    allocating), an ``.npz`` whose members declare more than ``NPZ_MAX_EXPANSION`` x
    `max_bytes` or that holds more than ``NPZ_MAX_MEMBERS`` arrays (checked before reading),
    encrypted members, a safetensors header that does not match its data, dtypes other than
    real numbers (complex, object, strings, datetime, structured), NaN/inf, values beyond
    ``UPLOAD_MAX_ABS`` in magnitude (their squares overflow) and integers beyond
    ``UPLOAD_MAX_INT`` (not exact in float64). Only arrays of `ndim` dimensions are kept
    (default: 1 to 4; scalars never) and a file holding none is refused; kept arrays have
    every side in [`min_side`, `max_side`].

    Returns ``{name: ndarray}`` in the file's order (float16/bfloat16 widened to float32,
    integers kept). Cost: one pass over the bytes, one finiteness and one magnitude check
    per array; memory: the arrays plus one copy of the largest (never more than the header
    declarations already checked against the file).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputFormatError(f"expected the bytes of an uploaded file, got "
                               f"{type(data).__name__}")
    source = filename or "the uploaded file"
    arrays = load_matrices(bytes(data), filename=filename, max_bytes=max_bytes)
    allowed = (1, 2, 3, 4) if ndim is None else (ndim,) if isinstance(ndim, int) else tuple(ndim)
    kept = {k: v for k, v in arrays.items() if v.ndim in allowed}
    if not kept:
        shapes = ", ".join(f"{k}: shape {v.shape}" for k, v in list(arrays.items())[:4])
        if len(allowed) > 2 and allowed == tuple(range(allowed[0], allowed[-1] + 1)):
            dims = f"{allowed[0]}-D to {allowed[-1]}-D"
        else:
            dims = " or ".join(f"{a}-D" for a in allowed)
        raise ShapeError(f"{source} holds no {dims} array ({shapes}); scalars and arrays of "
                         "other dimensions are not taken here")
    for name, arr in kept.items():
        if arr.ndim and min(arr.shape) < min_side:
            raise ShapeError(f"{source}: array {name!r} has shape {arr.shape}; every side "
                             f"needs at least {min_side}")
        if max_side is not None and arr.ndim and max(arr.shape) > max_side:
            raise ShapeError(f"{source}: array {name!r} has shape {arr.shape}; at most "
                             f"{max_side} per side here")
        _check_magnitude(source, name, arr)
    return kept


def _check_magnitude(source: str, name: str, arr: np.ndarray) -> None:
    if arr.size == 0 or arr.dtype.kind == "b":
        return
    if arr.dtype.kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        if max(abs(lo), abs(hi)) > UPLOAD_MAX_INT:
            raise InputFormatError(
                f"{source}: array {name!r} holds integers up to {max(abs(lo), abs(hi))}, "
                f"beyond 2**53 = {UPLOAD_MAX_INT}, which float64 arithmetic cannot hold "
                "exactly")
        return
    top = max(abs(float(arr.max())), abs(float(arr.min())))  # no |arr| copy
    if top > UPLOAD_MAX_ABS:
        raise InputFormatError(
            f"{source}: array {name!r} holds values as large as {top:.3g} in magnitude, "
            f"beyond {UPLOAD_MAX_ABS:.0e}: their squares overflow float64; rescale it")
