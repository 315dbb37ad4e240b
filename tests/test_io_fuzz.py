"""The upload rule (`workbench.io.read_upload`) as a fuzz target.

Every bad file -- random bytes, every truncation of small .npy / .npz files, zip bombs
(a member claiming 100 GB in the zip's own headers, a member really expanding far past the
limit, a member whose declared size is smaller than its data), safetensors headers that lie
about offsets, dtype or shape, wrong dtypes, 0-d and 5-d arrays, huge values, empty files,
pickles and torch.save archives under any name -- must raise a `WorkbenchError` subclass
whose message names the problem: never another exception type, never a MemoryError. Good
files load unchanged. The bombs are refused before anything is allocated (tracemalloc), and
the process's memory is back where it was after the whole fuzz run.
"""

from __future__ import annotations

import gc
import io
import pickle
import re
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from helpers import npy_bytes, npz_bytes, object_npy_bytes, raw_safetensors, zip_claiming
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import InputFormatError, NonFiniteError, ShapeError, WorkbenchError
from workbench.io import read_upload

# deterministic (the suite must not flake) and nothing written to .hypothesis/
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

GOOD = np.arange(12.0).reshape(3, 4) / 7.0  # a small matrix every good file holds


# ----------------------------------------------------------------------------- builders
def safetensors_bytes(**arrays) -> bytes:
    from safetensors.numpy import save

    return save(arrays)


def zip_understating(real: bytes, declared: int, name: str = "w.npy") -> bytes:
    """A deflated one-member zip whose headers declare `declared` bytes for a member that
    really expands to len(real) (both size fields patched, CRC left as the real one's)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, real)
    data = bytearray(buf.getvalue())
    data[22:26] = struct.pack("<L", declared)  # local header: uncompressed size
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = struct.pack("<L", declared)  # central directory: the same
    return bytes(data)


def encrypted_npz() -> bytes:
    """A valid .npz whose member is flagged as encrypted (zipfile needs a password)."""
    data = bytearray(npz_bytes(w=GOOD))
    data[6] |= 0x1
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 0x1
    return bytes(data)


def torch_save_bytes(legacy: bool = False) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.ones(3, 3)}, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def object_npz() -> bytes:
    """An .npz holding an object array (np.savez pickles it): a pickle in disguise."""
    objects = np.empty(2, dtype=object)
    objects[:] = [GOOD, "x"]
    buf = io.BytesIO()
    np.savez(buf, w=objects, allow_pickle=True)
    return buf.getvalue()


def npz_with_text() -> bytes:
    """A zip holding a good .npy member and a text file."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("w.npy", npy_bytes(GOOD))
        zf.writestr("readme.txt", b"hello")
    return buf.getvalue()


def structured(dtype) -> np.ndarray:
    return np.zeros((3, 4), dtype=dtype)


# ----------------------------------------------------------------------------- the cases
PICKLE = r"pickle"
DAMAGED = r"damaged|truncated|not a valid|unrecognised|empty"
DTYPE = r"dtype .*expected a real numeric"
SHAPE = r"holds no .*-D array .*shape"
ST_GOOD = safetensors_bytes(w=GOOD.astype(np.float32))
_ST_HEADER_LEN = struct.unpack("<Q", ST_GOOD[:8])[0]
_ST_PAYLOAD = GOOD.astype(np.float32).tobytes()


def st_header(**w) -> dict:
    return {"w": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48], **w}}


BAD: list[tuple[str, str, bytes, str]] = [
    ("empty", "w.npy", b"", r"empty"),
    ("empty-noname", "", b"", r"empty"),
    ("text", "w.txt", b"hello, not weights", r"unrecognised"),
    ("pickle", "w.pkl", pickle.dumps({"w": GOOD}), PICKLE),
    ("pickle-as-npy", "w.npy", pickle.dumps({"w": GOOD}), PICKLE),
    ("pickle-protocol0", "w.npy", pickle.dumps(GOOD, protocol=0), PICKLE),
    ("object-npy", "w.npy", object_npy_bytes(), PICKLE + "|object"),
    ("object-npz", "w.npz", object_npz(), PICKLE + "|object"),
    ("torch-save", "model.pt", torch_save_bytes(), PICKLE),
    ("torch-save-as-npz", "model.npz", torch_save_bytes(), r"not a plain \.npz|pickle"),
    ("torch-save-as-npy", "model.npy", torch_save_bytes(), r"not a plain \.npz|pickle"),
    ("torch-save-legacy", "model.npz", torch_save_bytes(legacy=True), PICKLE),
    ("npz-100GB", "w.npz", zip_claiming(100 * 10**9), r"declares .* MiB .*refused before"),
    ("npz-understated", "w.npz", zip_understating(npy_bytes(np.zeros((512, 512))), 200),
     DAMAGED),
    ("npz-encrypted", "w.npz", encrypted_npz(), r"encrypted"),
    ("npz-not-npy-member", "w.npz", npz_with_text(), r"not a plain \.npz"),
    ("npy-claims-100GB", "w.npy",
     npy_bytes(np.ones((4, 4))).replace(b"(4, 4)", b"(100000, 125000)"),
     r"declares shape \(100000, 125000\).*truncated"),
    ("npy-negative-shape", "w.npy",
     npy_bytes(np.ones((4, 4))).replace(b"(4, 4), ", b"(-4, 4),"), r"negative shape"),
    ("npy-bad-header", "w.npy",
     npy_bytes(np.ones((4, 4))).replace(b"'descr'", b"'dexcr'"), r"damaged"),
    ("st-offsets-past-end", "w.safetensors",
     raw_safetensors(st_header(data_offsets=[0, 4800]), _ST_PAYLOAD), r"safetensors"),
    ("st-offsets-reversed", "w.safetensors",
     raw_safetensors(st_header(data_offsets=[48, 0]), _ST_PAYLOAD), r"safetensors"),
    ("st-offsets-overlap", "w.safetensors",
     raw_safetensors({"a": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]},
                      "b": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}},
                     _ST_PAYLOAD), r"safetensors"),
    ("st-dtype-unknown", "w.safetensors",
     raw_safetensors(st_header(dtype="Q99"), _ST_PAYLOAD), r"safetensors"),
    ("st-dtype-lies", "w.safetensors",
     raw_safetensors(st_header(dtype="F64"), _ST_PAYLOAD), r"safetensors"),
    ("st-shape-lies", "w.safetensors",
     raw_safetensors(st_header(shape=[100000, 125000]), _ST_PAYLOAD), r"safetensors"),
    ("st-header-len-lies", "w.safetensors",
     raw_safetensors(st_header(), _ST_PAYLOAD, header_len=10**12), r"safetensors"),
    ("st-header-not-json", "w.safetensors",
     struct.pack("<Q", 10) + b"{not json}" + _ST_PAYLOAD, r"safetensors"),
    ("st-truncated", "w.safetensors", ST_GOOD[:-5], r"safetensors"),
    ("complex-npy", "w.npy", npy_bytes(GOOD + 1j), DTYPE),
    ("complex-npz", "w.npz", npz_bytes(w=GOOD + 1j), DTYPE),
    ("unicode-npy", "w.npy", npy_bytes(np.array([["ab", "c"]])), DTYPE),
    ("bytes-npy", "w.npy", npy_bytes(np.array([[b"ab", b"c"]])), DTYPE),
    ("datetime-npy", "w.npy", npy_bytes(np.array(["2024-01-01"] * 4, dtype="M8[D]")), DTYPE),
    ("timedelta-npy", "w.npy", npy_bytes(np.arange(4).astype("m8[s]")), DTYPE),
    ("void-npy", "w.npy", npy_bytes(structured("V8")), DTYPE),
    ("record-npy", "w.npy", npy_bytes(structured([("a", "f8"), ("b", "i4")])), DTYPE),
    ("record-npz", "w.npz", npz_bytes(w=structured([("a", "f8"), ("b", "i4")])), DTYPE),
    ("0d-npy", "w.npy", npy_bytes(np.array(3.0)), SHAPE),
    ("5d-npy", "w.npy", npy_bytes(np.ones((2, 2, 2, 2, 2))), SHAPE),
    ("5d-npz", "w.npz", npz_bytes(w=np.ones((2, 2, 2, 2, 2)), s=np.array(1.0)), SHAPE),
    ("empty-side", "w.npy", npy_bytes(np.ones((0, 4))), r"shape \(0, 4\).*at least 1"),
    ("nan", "w.npy", npy_bytes(np.where(GOOD > 1, np.nan, GOOD)), r"NaN"),
    ("inf-npz", "w.npz", npz_bytes(w=np.where(GOOD > 1, -np.inf, GOOD)), r"NaN/inf"),
    ("huge-1e308", "w.npy", npy_bytes(np.full((3, 4), 1e308)), r"1e\+308.*overflow"),
    ("int64-max", "w.npy", npy_bytes(np.full((3, 4), np.iinfo(np.int64).max)),
     r"beyond 2\*\*53"),
    ("uint64-max", "w.npz", npz_bytes(w=np.full((3, 4), np.iinfo(np.uint64).max)),
     r"beyond 2\*\*53"),
]


GOOD_FILES = {
    "npy": ("w.npy", npy_bytes(GOOD)),
    "npy-fortran": ("w.npy", npy_bytes(np.asfortranarray(GOOD))),
    "npz": ("w.npz", npz_bytes(w=GOOD)),
    "npz-compressed": ("w.npz", npz_bytes(compressed=True, w=GOOD)),
    "safetensors": ("w.safetensors", ST_GOOD),
    "no-name": ("", npy_bytes(GOOD)),
}


def _refused(data: bytes, filename: str, **kw) -> WorkbenchError:
    """The WorkbenchError read_upload raises for `data` (fails on any other outcome)."""
    try:
        out = read_upload(data, filename or None, **kw)
    except WorkbenchError as exc:
        assert str(exc).strip(), "an empty message names no problem"
        assert "Traceback" not in str(exc)
        return exc
    raise AssertionError(f"{filename!r} ({len(data)} bytes) was accepted: "
                         f"{ {k: (v.dtype, v.shape) for k, v in out.items()} }")


def _loads_or_refused(data: bytes, filename: str) -> None:
    """Fuzz outcome: arrays that obey the rule, or a WorkbenchError -- nothing else."""
    try:
        out = read_upload(data, filename or None)
    except WorkbenchError as exc:
        assert str(exc).strip()
        return
    assert out, "an accepted file holds at least one array"
    for arr in out.values():
        assert arr.dtype.kind in "biuf" and 1 <= arr.ndim <= 4 and min(arr.shape) >= 1
        if arr.dtype.kind == "f":
            assert np.isfinite(arr).all()


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case,name,data,pattern", BAD, ids=[c[0] for c in BAD])
def test_bad_file_is_refused_with_a_message_naming_the_problem(case, name, data, pattern):
    exc = _refused(data, name)
    assert re.search(pattern, str(exc), re.I), f"{case}: {type(exc).__name__}: {exc}"


def test_error_classes_say_what_kind_of_problem():
    assert isinstance(_refused(npy_bytes(np.array([np.nan, 1.0])), "w.npy"), NonFiniteError)
    assert isinstance(_refused(npy_bytes(np.ones((2, 2, 2, 2, 2))), "w.npy"), ShapeError)
    assert isinstance(_refused(pickle.dumps(GOOD), "w.npy"), InputFormatError)
    # an explorer's own shape rule: only 2-D, at most 3 per side
    assert isinstance(_refused(npy_bytes(np.ones(5)), "w.npy", ndim=2), ShapeError)
    assert "at most 3 per side" in str(_refused(npy_bytes(GOOD), "w.npy", max_side=3))
    assert isinstance(_refused(b"\x00" * 5, "w.npy", max_bytes=4), InputFormatError)
    assert "over the limit" in str(_refused(npy_bytes(GOOD), "w.npy", max_bytes=100))
    assert isinstance(_refused(np.ones(3), "w.npy"), InputFormatError)  # not bytes


@pytest.mark.parametrize("kind", list(GOOD_FILES))
def test_good_file_loads_unchanged(kind):
    name, data = GOOD_FILES[kind]
    out = read_upload(data, name or None)
    assert len(out) == 1
    (arr,) = out.values()
    want = GOOD.astype(np.float32) if kind == "safetensors" else GOOD
    np.testing.assert_array_equal(arr, want)
    assert arr.dtype == want.dtype


def test_good_edge_values_load():
    """What is near the limits but fine still loads: float32 near its max, integers up to
    2**53, bfloat16 widened, a 4-D conv kernel, bool."""
    import torch
    from safetensors.torch import save as save_torch

    big32 = np.full((3, 4), -3e38, dtype=np.float32)
    assert read_upload(safetensors_bytes(w=big32), "w.safetensors")["w"].min() == big32.min()
    ints = np.full((2, 3), 2**53, dtype=np.int64)
    np.testing.assert_array_equal(read_upload(npy_bytes(ints), "w.npy")["w"], ints)
    bf = save_torch({"w": torch.ones(3, 4, dtype=torch.bfloat16)})
    assert read_upload(bf, "w.safetensors")["w"].dtype == np.float32
    kernel = np.ones((8, 3, 3, 3))
    assert read_upload(npy_bytes(kernel), "conv.npy")["conv"].shape == kernel.shape
    # a file holding a scalar beside a matrix keeps the matrix
    assert list(read_upload(npz_bytes(w=GOOD, step=np.array(3)), "w.npz")) == ["w"]


@pytest.mark.parametrize("kind", ["npy", "npz", "npz-compressed", "safetensors"])
def test_every_truncation_is_refused(kind):
    """Cut a small good file at every byte: each prefix is refused with a message."""
    name, data = GOOD_FILES[kind]
    for cut in range(len(data)):
        exc = _refused(data[:cut], name)
        assert re.search(DAMAGED + "|safetensors|end record", str(exc), re.I), (cut, str(exc))


def test_npz_with_too_many_members_is_refused_from_its_end_record():
    """Millions of tiny members would cost ~0.5 KiB of Python objects each once zipfile
    parsed its table of contents: the count and size in the end record are checked first."""
    from workbench.io import NPZ_MAX_MEMBERS

    good = bytearray(npz_bytes(w=GOOD))
    end = good.rfind(b"PK\x05\x06")
    good[end + 8:end + 12] = struct.pack("<HH", 60000, 60000)  # entries: this disk, total
    assert "declares 60000 members" in str(_refused(bytes(good), "w.npz"))
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(NPZ_MAX_MEMBERS + 1):
            zf.writestr(f"a{i}.npy", b"")
    assert f"declares {NPZ_MAX_MEMBERS + 1} members" in str(_refused(many.getvalue(), "w.npz"))


def test_npz_bomb_is_refused_before_anything_is_allocated():
    """A member claiming 100 GB, a member really expanding to 64 MiB from 64 KiB, and a
    .npy header claiming 100 GB: each refused with a peak of traced memory far below what
    it claims (tracemalloc sees numpy's allocations)."""
    real = io.BytesIO()
    with zipfile.ZipFile(real, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("w.npy", npy_bytes(np.zeros((2048, 4096))))  # 64 MiB of zeros
    real_bomb = real.getvalue()
    assert len(real_bomb) < 200_000
    cases = [
        (zip_claiming(100 * 10**9), {}, r"100000000000|95367\d*\.\d MiB"),
        (real_bomb, {"max_bytes": 1_000_000}, r"declares 64\.0 MiB"),
        (npy_bytes(np.ones((4, 4))).replace(b"(4, 4)", b"(100000, 125000)"), {},
         r"95367\.4 MiB"),
    ]
    for data, kw, pattern in cases:
        gc.collect()
        tracemalloc.start()
        try:
            exc = _refused(data, "w.npz" if data[:2] == b"PK" else "w.npy", **kw)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert re.search(pattern, str(exc)), str(exc)
        # a few copies of the (small) file and zipfile's buffers at most
        assert peak < 4 * len(data) + 2 * 2**20, (str(exc), peak)


@FUZZ
@given(data=st.binary(max_size=2048),
       name=st.sampled_from(["w.npy", "w.npz", "w.safetensors", "w.bin", "w", ""]))
def test_random_bytes(data, name):
    _loads_or_refused(data, name)


@FUZZ
@given(kind=st.sampled_from(["npy", "npz", "npz-compressed", "safetensors"]),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255),
                                st.sampled_from(["set", "insert", "delete"])),
                      min_size=1, max_size=6))
def test_mutated_good_files(kind, edits):
    """A good file with a few bytes changed, inserted or deleted (headers included)."""
    name, good = GOOD_FILES[kind]
    data = bytearray(good)
    for pos, byte, op in edits:
        pos %= max(1, len(data))
        if op == "set" and data:
            data[pos] = byte
        elif op == "insert":
            data.insert(pos, byte)
        elif data:
            del data[pos]
    _loads_or_refused(bytes(data), name)


@FUZZ
@given(shape=st.lists(st.integers(-3, 2**40), min_size=0, max_size=6),
       descr=st.sampled_from(["<f8", "<f4", "<i8", "|u1", "<c16", "|O", "<U3", "|V4",
                              "<M8[D]", "|b1", ">f8", "<f2", "|S0", "<V0"]),
       fortran=st.booleans(), extra=st.integers(0, 64))
def test_npy_header_fuzz(shape, descr, fortran, extra):
    """Hand-written .npy headers: any shape (negative, huge), any dtype, a short payload."""
    header = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)})
    header = header.encode("latin1")
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x01" * extra
    _loads_or_refused(data, "w.npy")


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    import resource  # pragma: no cover - not Linux

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # pragma: no cover


def test_memory_after_the_fuzz_is_back_within_10_percent():
    """Every bad case, every truncation and 2000 random inputs, three rounds: the process's
    resident memory afterwards is within 10 % of before (after one warm-up round, so
    imports and one-off caches are not counted)."""
    rng = np.random.default_rng(0)
    inputs = [(d, n) for _, n, d, _ in BAD]
    for name, data in GOOD_FILES.values():
        inputs += [(data[:cut], name) for cut in range(0, len(data), 7)]
    inputs += [(rng.bytes(int(rng.integers(0, 600))), "w.npy") for _ in range(2000)]

    def one_round():
        for data, name in inputs:
            try:
                read_upload(data, name)
            except WorkbenchError:
                pass

    one_round()
    gc.collect()
    before = _rss_kb()
    for _ in range(3):
        one_round()
    gc.collect()
    after = _rss_kb()
    assert after <= 1.10 * before, (before, after)
