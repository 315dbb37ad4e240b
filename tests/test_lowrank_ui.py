"""The low-rank explorer without a browser: sources, the instant rank path, method
switches, bad uploads (messages, nothing lost), completion and export."""

from __future__ import annotations

import io
import pickle
import time

import numpy as np
import pytest
from helpers import nan_matrix, npy_bytes, object_npy_bytes

pytest.importorskip("panel")

from workbench.ui.lowrank import LowRankExplorer  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from threadpoolctl import threadpool_limits

    from workbench.ui import base

    with threadpool_limits(limits=1):
        yield
        # let background chains started by the explorers finish before the interpreter
        # shuts the pool down (they would only log "cannot schedule new futures")
        deadline = time.monotonic() + 120
        quiet = 0
        while quiet < 3 and time.monotonic() < deadline:
            base._EXECUTOR.submit(lambda: None).result()
            quiet = quiet + 1 if base._EXECUTOR._work_queue.qsize() == 0 else 0
            time.sleep(0.3)


def _pool_idle(timeout: float) -> None:
    """Block until both background workers have finished everything queued before,
    including the result callbacks they run (two barrier tasks must run at once)."""
    import threading

    from workbench.ui import base

    barrier = threading.Barrier(2, timeout=timeout)
    for f in [base._EXECUTOR.submit(barrier.wait) for _ in range(2)]:
        f.result(timeout=timeout)


def wait(ex, timeout: float = 120.0) -> None:
    """Until the explorer has no background work left (results applied, and no work
    started by applying them)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        _pool_idle(timeout)
        if ex._pending == 0:
            _pool_idle(timeout)
            if ex._pending == 0:
                return
    raise AssertionError("background work did not finish")




def upload(ex, name: str, data: bytes) -> None:
    ex._upload.filename = name
    ex._upload.value = data
    wait(ex)


@pytest.fixture(scope="module")
def ex():
    e = LowRankExplorer(source="synthetic", decay="fast")
    wait(e)
    assert e.message == ""
    return e


def test_rank_is_the_first_slider_and_in_the_url():
    import panel as pn

    assert LowRankExplorer.url_params[0] == "rank"
    e = LowRankExplorer(source="synthetic")
    first = e.controls()[0]
    assert isinstance(first, pn.widgets.IntSlider) and first.name == "Rank k"
    wait(e)


def test_source_loads_and_the_rank_path_is_ready(ex):
    assert ex._A.shape == (300, 200)
    assert ex.param.rank.bounds == (1, 100)
    assert ex._path is not None and ex._path.method == "svd"
    assert "error / optimum" in ex._stats.object and "1.000×" in ex._stats.object
    assert set(ex._curves["method"]) >= {"svd", "randomized", "krylov", "cur_qr", "id"}
    # Nyström is skipped on a non-square matrix, and nothing beats the optimum
    assert "nystrom" not in set(ex._curves["method"])
    assert (ex._curves["fro_ratio"] >= 1 - 1e-9).all()


def shown(e):
    """(image in the reconstruction plot, its title)."""
    return e._live["image"].data["image"][0], e._live["recon"].title.text


def test_rank_changes_only_update_the_rendered_plots(ex):
    before, _ = shown(ex)
    ex.rank = 7
    assert ex._pending == 0                        # no background work for a rank change
    M, title = shown(ex)
    assert title.endswith("rank 7") and M.shape == (300, 200)
    assert not np.array_equal(before, M)
    assert len(ex._live["kept"].data["index i"]) == 7
    assert all(s.location == 7.5 for s in ex._live["sv_spans"])
    assert all(s.location == 7 for s in ex._live["curve_spans"])
    assert "rank **7**" in ex._stats.object
    # what is shown is the exact rank-7 truncated SVD (sent as float32)
    import workbench.lowrank as lr

    assert np.allclose(M, lr.truncated_svd(ex._A, 7).approx(), atol=1e-5)


def test_method_switch_and_refused_nystrom(ex):
    ex.method = "cur_qr"
    wait(ex)
    assert ex._path.method == "cur_qr" and ex.message == ""
    M, title = shown(ex)
    assert "CUR" in title
    ex.method = "nystrom"                          # not a kernel: refused, method restored
    wait(ex)
    assert "square" in ex.message
    assert ex.method == "cur_qr" and ex._path.method == "cur_qr"
    ex.method = "svd"
    wait(ex)
    assert ex.message == ""


@pytest.mark.slow
def test_kernel_source_allows_nystrom():
    e = LowRankExplorer(source="kernel", method="nystrom", rank=15)
    wait(e)
    assert e.message == "" and e._path.method == "nystrom"
    assert "nystrom" in set(e._curves["method"])


@pytest.mark.parametrize("case, name, data, pattern", [
    ("pickle", "w.pkl", pickle.dumps({"w": np.eye(3)}), "pickle"),
    ("pickle-in-npy", "w.npy", object_npy_bytes(), "pickle|object"),
    ("3-D", "w.npy", npy_bytes(np.ones((2, 5, 1))), "2-D|dimension"),
    ("1-D", "w.npy", npy_bytes(np.ones(5)), "2-D|dimension"),
    ("NaN", "w.npy", npy_bytes(nan_matrix()), "NaN"),
    ("too small", "w.npy", npy_bytes(np.ones((1, 5))), "at least 2"),
    ("too large", "w.npy", npy_bytes(np.zeros((2001, 2), dtype=np.float32)), "at most 2000"),
    ("complex", "w.npy", npy_bytes(np.ones((3, 3), dtype=complex)), "dtype"),
])
def test_bad_uploads_give_a_message_and_keep_the_matrix(ex, case, name, data, pattern):
    import re

    A_before, src = ex._A, ex.source
    upload(ex, name, data)
    assert re.search(pattern, ex.message, re.I), (case, ex.message)
    assert "Traceback" not in ex.message and "Internal error" not in ex.message
    assert ex._A is A_before and ex.source == src
    ex.clear_error()


def test_good_upload_becomes_the_source():
    e = LowRankExplorer(source="synthetic")
    wait(e)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 4)) @ rng.standard_normal((4, 30))
    upload(e, "mine.npz", _npz(A))
    assert e.message == ""
    assert e.source == "uploaded" and e._A.shape == (40, 30)
    assert e.param.rank.bounds == (1, 30) and e.rank <= 30
    e.rank = 4
    M, _ = shown(e)
    assert np.allclose(M, A, atol=1e-4 * np.abs(A).max())            # rank 4 reproduces a rank-4 matrix
    # back to a built-in source and again to the upload: no recomputation needed
    e.source = "synthetic"
    wait(e)
    e.source = "uploaded"
    wait(e)
    assert e._A.shape == (40, 30)


def _npz(A) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, weights=A)
    return buf.getvalue()


def test_uploaded_source_without_a_file_falls_back_with_a_message():
    e = LowRankExplorer(source="synthetic")
    wait(e)
    e.source = "uploaded"
    assert "no matrix uploaded" in e.message
    wait(e)
    assert e.source == "image"
    assert "no matrix uploaded" in e._stats.object


def test_completion_tab(ex):
    ex.fraction = 0.3
    wait(ex)
    truth, mask, res = ex._completion
    assert res.recovered and "**Recovered**" in ex._cstatus.object
    assert truth.shape == (100, 100)
    ex.fraction = 0.05                              # below the degrees of freedom
    wait(ex)
    assert "Not recovered" in ex._cstatus.object
    assert not ex._phase.empty
    assert ex._phase["success"].iloc[0] == 0 and ex._phase["success"].iloc[-1] == 1
    ex.completion_matrix = "current"
    wait(ex)
    truth, mask, res = ex._completion
    assert truth.shape == (100, 100)               # 300 x 200 strided to <= 120
    assert np.isfinite(res.X).all()


def test_export_data(ex):
    df = ex.export_data()
    assert {"method", "rank", "fro", "fro_opt", "fro_ratio"} <= set(df.columns)
    assert len(ex._csv().getvalue().splitlines()) == len(df) + 1


def test_inapplicable_method_after_a_source_change_falls_back_to_svd():
    e = LowRankExplorer(source="kernel", method="nystrom", rank=5)
    wait(e)
    assert e._path.method == "nystrom"
    rng = np.random.default_rng(0)
    upload(e, "tall.npy", npy_bytes(rng.standard_normal((50, 20))))   # not square: no Nyström
    assert e.source == "uploaded" and e.method == "svd"
    assert e._path is not None and e._path.method == "svd" and e._A.shape == (50, 20)
    assert "does not apply" in e._stats.object
