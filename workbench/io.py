"""Safe loaders for user-supplied weight files: .npy, .npz and safetensors. Never pickle.

    mats = load_matrices("model.safetensors")            # {name: ndarray}
    W = load_matrix(uploaded_bytes, filename="w.npy")     # one array

Accepted: a ``.npy`` file (one array), a ``.npz`` archive (``allow_pickle=False``), a
``.safetensors`` file, or a folder holding ``*.safetensors`` shards. Anything else, a pickle
in disguise, an object array, a file over ``max_bytes`` or an array holding NaN/inf raises
``workbench.errors.InputFormatError`` / ``NonFiniteError`` with a message written for a
person. Cost: one read of the file; arrays are returned as numpy (float16/bfloat16 are
widened to float32).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from workbench.errors import InputFormatError, NonFiniteError, ShapeError

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

__all__ = ["DEFAULT_MAX_BYTES", "UPLOAD_MAX_BYTES", "WEBSOCKET_MAX_MESSAGE_BYTES", "load_matrices",
           "load_matrix", "read_upload"]


def _kind_from_bytes(data: bytes) -> str:
    if data.startswith(_NPY_MAGIC):
        return "npy"
    if data.startswith(_ZIP_MAGIC):
        # torch.save also writes zip archives (holding a pickle): tell them apart
        return "zip"
    if data[:2] in _PICKLE_MAGICS or data[:1] == b"(":
        return "pickle"
    if len(data) >= 8:
        header_len = int.from_bytes(data[:8], "little")
        if 2 <= header_len <= len(data) - 8 and data[8:9] == b"{":
            return "safetensors"
    return "unknown"


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
    try:
        from safetensors.torch import load as load_torch
    except ImportError:  # pragma: no cover - torch is a dependency
        load_torch = None
    try:
        if load_torch is not None:
            tensors = load_torch(data)
            out = {}
            for k, t in tensors.items():
                if t.dtype.is_floating_point and t.element_size() < 4:
                    t = t.float()  # bfloat16 has no numpy dtype
                out[k] = t.numpy()
            return out
        from safetensors.numpy import load as load_np  # pragma: no cover

        return dict(load_np(data))  # pragma: no cover
    except Exception as exc:  # noqa: BLE001 - safetensors raises several kinds
        raise InputFormatError(f"{source} is not a valid safetensors file: {exc}") from exc


def _load_npz_bytes(data: bytes, source: str,
                    max_expanded: int | None = None) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputFormatError(f"{source} is not a valid .npz archive: {exc}") from exc
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
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise InputFormatError(f"{source} is a damaged .npz archive: {exc}") from exc
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise InputFormatError(f"{source} is a damaged .npz archive: {exc}") from exc
        raise InputFormatError(
            f"{source} holds object arrays, which would need pickle: refused ({exc})"
        ) from exc


def _load_npy_bytes(data: bytes, source: str) -> dict[str, np.ndarray]:
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (EOFError, OSError) as exc:
        raise InputFormatError(f"{source} is a damaged .npy file: {exc}") from exc
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise InputFormatError(f"{source} is a damaged .npy file: {exc}") from exc
        raise InputFormatError(
            f"{source} holds an object array, which would need pickle: refused ({exc})"
        ) from exc
    stem = Path(source).stem if source else "array"
    return {stem or "array": arr}


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
    torch.save files, unknown formats, a damaged or truncated file, an ``.npz`` whose
    members declare more than ``NPZ_MAX_EXPANSION`` x `max_bytes` (checked before reading),
    a safetensors header that does not match its data, dtypes other than real numbers
    (complex, object, strings), NaN/inf. When `ndim` is given only arrays of that many
    dimensions are kept and a file holding none is refused; kept arrays have every side in
    [`min_side`, `max_side`].

    Returns ``{name: ndarray}`` in the file's order (float16/bfloat16 widened to float32,
    integers kept). Cost: one pass over the bytes and one finiteness check per array.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputFormatError(f"expected the bytes of an uploaded file, got "
                               f"{type(data).__name__}")
    source = filename or "the uploaded file"
    arrays = load_matrices(bytes(data), filename=filename, max_bytes=max_bytes)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        kept = {k: v for k, v in arrays.items() if v.ndim in allowed}
        if not kept:
            shapes = ", ".join(f"{k}: shape {v.shape}" for k, v in list(arrays.items())[:4])
            raise ShapeError(f"{source} holds no {' or '.join(map(str, allowed))}-D array "
                             f"({shapes})")
        arrays = kept
    for name, arr in arrays.items():
        if arr.ndim and min(arr.shape) < min_side:
            raise ShapeError(f"{source}: array {name!r} has shape {arr.shape}; every side "
                             f"needs at least {min_side}")
        if max_side is not None and arr.ndim and max(arr.shape) > max_side:
            raise ShapeError(f"{source}: array {name!r} has shape {arr.shape}; at most "
                             f"{max_side} per side here")
    return arrays
