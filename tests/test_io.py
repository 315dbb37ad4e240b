"""Safe loaders: pickles refused, NaN refused, ndim checked, safetensors/npz round trips."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from workbench.errors import InputFormatError, NonFiniteError, ShapeError, WorkbenchError
from workbench.io import load_matrices, load_matrix


def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_pickle_bytes_rejected():
    data = pickle.dumps({"w": np.ones((3, 3))})
    with pytest.raises(InputFormatError, match="pickle"):
        load_matrices(data, filename="weights.pkl")
    # same bytes without a telling extension are still recognised by their header
    with pytest.raises(InputFormatError, match="pickle"):
        load_matrices(data)


def test_object_npy_rejected():
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputFormatError, match="pickle"):
        load_matrices(buf.getvalue(), filename="x.npy")


def test_torch_save_rejected(tmp_path):
    import torch

    p = tmp_path / "model.pt"
    torch.save({"w": torch.ones(3, 3)}, p)
    with pytest.raises(InputFormatError):
        load_matrices(p)
    # renamed to .npz, torch's zip archive still holds a pickle: refused
    q = tmp_path / "model.npz"
    q.write_bytes(p.read_bytes())
    with pytest.raises(InputFormatError, match="pickle|plain .npz"):
        load_matrices(q)


def test_nan_rejected():
    W = np.ones((4, 5))
    W[1, 2] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        load_matrix(_npy_bytes(W), filename="w.npy")


def test_wrong_ndim_rejected():
    with pytest.raises(ShapeError, match="3 dimensions"):
        load_matrix(_npy_bytes(np.ones((2, 3, 4))), filename="w.npy")
    assert load_matrix(_npy_bytes(np.ones((2, 3, 4))), filename="w.npy", ndim=(2, 3)).shape \
        == (2, 3, 4)


def test_size_limit():
    with pytest.raises(InputFormatError, match="over the limit"):
        load_matrices(_npy_bytes(np.ones((100, 100))), filename="w.npy", max_bytes=1000)


def test_unknown_and_empty():
    with pytest.raises(InputFormatError, match="unrecognised"):
        load_matrices(b"hello world, not weights", filename="w.txt")
    with pytest.raises(InputFormatError, match="empty"):
        load_matrices(b"", filename="w.npy")
    with pytest.raises(InputFormatError, match="no such file"):
        load_matrices("/nonexistent/file.safetensors")
    assert issubclass(InputFormatError, WorkbenchError)


def test_safetensors_round_trip_file_folder_bytes(tmp_path):
    from safetensors.numpy import save, save_file

    rng = np.random.default_rng(0)
    a = {"layer.weight": rng.normal(size=(6, 4)).astype(np.float32),
         "layer.bias": rng.normal(size=(6,)).astype(np.float32)}
    b = {"other.weight": rng.normal(size=(3, 5)).astype(np.float64)}
    save_file(a, tmp_path / "a.safetensors")
    out = load_matrices(tmp_path / "a.safetensors")
    assert set(out) == set(a)
    np.testing.assert_array_equal(out["layer.weight"], a["layer.weight"])
    # folder of shards
    save_file(b, tmp_path / "b.safetensors")
    both = load_matrices(tmp_path)
    assert set(both) == set(a) | set(b)
    np.testing.assert_array_equal(both["other.weight"], b["other.weight"])
    # raw bytes (an upload)
    raw = save(a)
    np.testing.assert_array_equal(load_matrices(raw, filename="up.safetensors")["layer.bias"],
                                  a["layer.bias"])
    # one matrix by name
    assert load_matrix(tmp_path / "a.safetensors", name="layer.weight").shape == (6, 4)
    with pytest.raises(InputFormatError, match="pass name="):
        load_matrix(tmp_path / "a.safetensors")


def test_corrupt_safetensors():
    from safetensors.numpy import save

    raw = save({"w": np.ones((4, 4), dtype=np.float32)})
    with pytest.raises(InputFormatError, match="safetensors"):
        load_matrices(raw[:-10], filename="w.safetensors")


def test_npz_round_trip(tmp_path):
    p = tmp_path / "w.npz"
    W = np.arange(12.0).reshape(3, 4)
    np.savez(p, W=W, V=W.T)
    out = load_matrices(p)
    np.testing.assert_array_equal(out["W"], W)
    np.testing.assert_array_equal(load_matrix(p.read_bytes(), filename="w.npz", name="V"), W.T)
