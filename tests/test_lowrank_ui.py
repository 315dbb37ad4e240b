"""The low-rank explorer without a browser: sources, the instant rank path, method
switches, bad uploads (messages, nothing lost), completion and export."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from helpers import nan_matrix, npy_bytes, object_npy_bytes, wait_until

pytest.importorskip("panel")

from workbench.ui.lowrank import LowRankExplorer  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from threadpoolctl import threadpool_limits

    from workbench import jobs as base

    with threadpool_limits(limits=1):
        yield
        # let background chains started by the explorers finish before the interpreter
        # shuts the pool down (they would only log "cannot schedule new futures"): both
        # workers idle and nothing queued
        def drained():
            _pool_idle(120)
            return base._EXECUTOR._work_queue.qsize() == 0 and not base._INFLIGHT

        wait_until(drained, timeout=120, what="the background pool to drain")


def _pool_idle(timeout: float) -> None:
    """Block until both background workers have finished everything queued before,
    including the result callbacks they run (two barrier tasks must run at once)."""
    import threading

    from workbench import jobs as base

    barrier = threading.Barrier(2, timeout=timeout)
    for f in [base._EXECUTOR.submit(barrier.wait) for _ in range(2)]:
        f.result(timeout=timeout)


def wait(ex, timeout: float = 120.0) -> None:
    """Until the explorer has no background work left (results applied, and no work
    started by applying them)."""
    def idle():
        _pool_idle(timeout)
        if ex._pending:
            return False
        _pool_idle(timeout)
        return ex._pending == 0

    wait_until(idle, timeout=timeout, what="the explorer's background work")


def upload(ex, name: str, data: bytes) -> None:
    ex._upload_widget.filename = name
    ex._upload_widget.value = data
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


def A(e):
    """The matrix the explorer shows."""
    return e.run.source.A


def curves(e):
    return e.run.curves.table


def test_source_loads_and_the_rank_path_is_ready(ex):
    assert A(ex).shape == (300, 200)
    assert ex.param.rank.bounds == (1, 100)
    assert ex.run.path is not None and ex.run.path.method == "svd"
    stats = ex.approximation.stats.object
    assert "error / optimum" in stats and "1.000×" in stats
    assert set(curves(ex)["method"]) >= {"svd", "randomized", "krylov", "cur_qr", "id"}
    # Nyström is skipped on a non-square matrix, and nothing beats the optimum
    assert "nystrom" not in set(curves(ex)["method"])
    assert (curves(ex)["fro_ratio"] >= 1 - 1e-9).all()


def shown(e):
    """(image in the reconstruction plot as the page shows it -- Bokeh draws the source's
    first row at the bottom, so row 0 on top is the source's last row --, its title)."""
    recon = e.approximation.recon
    return (np.flipud(recon.source(recon.names[0]).data["image"][0]),
            recon.figure.title.text)


def test_a_written_image_has_the_rendered_images_orientation():
    """A rank step writes ``matrix_image_columns`` into the image HoloViews rendered from
    ``matrix_image``: the same rows in the same order (a flipped reconstruction drew the
    photo upside down under the original)."""
    import holoviews as hv

    from workbench.viz.lowrank import matrix_image, matrix_image_columns

    M = np.arange(12.0).reshape(3, 4)
    fig = hv.render(matrix_image(M, kind="matrix"))
    drawn = next(r.data_source for r in fig.renderers if "image" in r.data_source.data)
    np.testing.assert_array_equal(matrix_image_columns(M)["image"][0],
                                  drawn.data["image"][0])
    np.testing.assert_array_equal(np.flipud(matrix_image_columns(M)["image"][0]), M)


def test_rank_changes_only_update_the_rendered_plots(ex):
    renders = (ex.approximation.recon.renders, ex.approximation.sv.renders,
               ex.curves.figure.renders)
    before, _ = shown(ex)
    ex.rank = 7
    assert ex._pending == 0                        # no background work for a rank change
    M, title = shown(ex)
    assert title.endswith("rank 7") and M.shape == (300, 200)
    assert not np.array_equal(before, M)
    assert len(ex.approximation.sv.source("kept").data["index i"]) == 7
    sv_spans, curve_spans = ex.approximation.sv.spans(), ex.curves.figure.spans()
    assert sv_spans and all(s.location == 7.5 for s in sv_spans)
    assert len(curve_spans) == 2 and all(s.location == 7 for s in curve_spans)
    assert "rank **7**" in ex.approximation.stats.object
    # in place: no figure was rendered again
    assert (ex.approximation.recon.renders, ex.approximation.sv.renders,
            ex.curves.figure.renders) == renders
    # what is shown is the exact rank-7 truncated SVD (sent as float32)
    import workbench.lowrank as lr

    assert np.allclose(M, lr.truncated_svd(A(ex), 7).approx(), atol=1e-5)


def test_method_switch_and_refused_nystrom(ex):
    ex.method = "cur_qr"
    wait(ex)
    assert ex.run.path.method == "cur_qr" and ex.message == ""
    M, title = shown(ex)
    assert "CUR" in title
    ex.method = "nystrom"                          # not a kernel: refused, method restored
    wait(ex)
    assert "square" in ex.message
    assert ex.method == "cur_qr" and ex.run.path.method == "cur_qr"
    ex.method = "svd"
    wait(ex)
    assert ex.message == ""


@pytest.mark.slow
def test_kernel_source_allows_nystrom():
    e = LowRankExplorer(source="kernel", method="nystrom", rank=15)
    wait(e)
    assert e.message == "" and e.run.path.method == "nystrom"
    assert "nystrom" in set(curves(e)["method"])


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

    A_before, src = A(ex), ex.source
    upload(ex, name, data)
    assert re.search(pattern, ex.message, re.I), (case, ex.message)
    assert "Traceback" not in ex.message and "Internal error" not in ex.message
    assert A(ex) is A_before and ex.source == src
    ex.clear_error()


def test_good_upload_becomes_the_source():
    e = LowRankExplorer(source="synthetic")
    wait(e)
    rng = np.random.default_rng(0)
    B = rng.standard_normal((40, 4)) @ rng.standard_normal((4, 30))
    upload(e, "mine.npz", _npz(B))
    assert e.message == ""
    assert e.source == "uploaded" and A(e).shape == (40, 30)
    assert e.param.rank.bounds == (1, 30) and e.rank <= 30
    e.rank = 4
    M, _ = shown(e)
    # rank 4 reproduces a rank-4 matrix (shown as float32: 1e-4 of the largest entry)
    assert np.allclose(M, B, atol=1e-4 * np.abs(B).max())
    # back to a built-in source and again to the upload: no recomputation needed (the
    # upload's results are cached under its content's digest)
    e.source = "synthetic"
    wait(e)
    e.source = "uploaded"
    assert e._pending == 0 and A(e).shape == (40, 30)
    wait(e)
    assert A(e).shape == (40, 30)


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
    assert "no matrix uploaded" in e.approximation.stats.object


def test_completion_tab(ex):
    ex.fraction = 0.3
    wait(ex)
    tab = ex.completion
    done = tab.result
    assert done.result.recovered and "**Recovered**" in tab.status.object
    assert done.truth.shape == (100, 100)
    ex.fraction = 0.05                              # below the degrees of freedom
    wait(ex)
    assert "Not recovered" in tab.status.object
    phase = tab.phase.table
    assert not phase.empty
    assert phase["success"].iloc[0] == 0 and phase["success"].iloc[-1] == 1
    # the observed-fraction marker followed the slider
    assert [s.location for s in tab.phase.figure.spans() if list(s.line_dash) == [2, 4]] \
        == [0.05]
    ex.completion_matrix = "current"
    wait(ex)
    done = tab.result
    assert done.truth.shape == (100, 100)           # 300 x 200 strided to <= 120
    assert np.isfinite(done.result.X).all()


def test_export_data(ex):
    df = ex.export_data()
    assert {"method", "rank", "fro", "fro_opt", "fro_ratio"} <= set(df.columns)
    assert len(ex._csv().getvalue().splitlines()) == len(df) + 1


def test_inapplicable_method_after_a_source_change_falls_back_to_svd():
    e = LowRankExplorer(source="kernel", method="nystrom", rank=5)
    wait(e)
    assert e.run.path.method == "nystrom"
    rng = np.random.default_rng(0)
    upload(e, "tall.npy", npy_bytes(rng.standard_normal((50, 20))))   # not square: no Nyström
    assert e.source == "uploaded" and e.method == "svd"
    assert e.run.path is not None and e.run.path.method == "svd" and A(e).shape == (50, 20)
    assert "does not apply" in e.approximation.stats.object


def test_from_matrix_opens_the_explorer_on_your_matrix():
    """A matrix the project does not ship (a rank-3 product, as a float32 array, which
    the upload rule widens), and clear messages for what cannot be a matrix."""
    import re

    rng = np.random.default_rng(7)
    B = (rng.standard_normal((35, 3)) @ rng.standard_normal((3, 25))).astype(np.float32)
    e = LowRankExplorer.from_matrix(B, name="my weights", rank=3)
    wait(e)
    assert e.message == "" and e.source == "uploaded"
    assert A(e).shape == (35, 25) and "my weights" in e.run.source.label
    M, title = shown(e)
    assert title.endswith("rank 3")
    # rank 3 reproduces the rank-3 matrix (float32 input and display: 1e-4 relative)
    assert np.allclose(M, B, atol=1e-4 * np.abs(B).max())
    # what cannot be a matrix: the explorer opens with the problem in its alert, no run
    for bad, pattern in [(np.ones((4, 5, 6)), "2-D"), (nan_matrix(), "NaN|finite"),
                         ([[1, "a"], [2, None]], "numeric|object|pickle")]:
        e = LowRankExplorer.from_matrix(bad)
        assert re.search(pattern, e.message) and e._alert.visible
        assert e.run is None and not e.busy


@pytest.mark.parametrize("shape", [(7, 5), (427, 640), (961, 1443), (300, 200)])
def test_block_mean_is_the_mean_of_each_block(shape):
    """The displayed image (a rank step's columns): each pixel the mean of its f x f block
    of entries (a ragged edge block: of the entries it has), with or without NaN."""
    from workbench.viz.lowrank import block_mean

    rng = np.random.default_rng(1)
    M = rng.standard_normal(shape).astype(np.float32)
    f = int(np.ceil(max(shape) / 480))
    ref = np.array([[M[i:i + f, j:j + f].astype(np.float64).mean()
                     for j in range(0, shape[1], f)] for i in range(0, shape[0], f)])
    got = block_mean(M)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    M[0, 0] = np.nan  # the NaN-aware path: that block averages the entries it has
    ref[0, 0] = np.nanmean(M[:f, :f].astype(np.float64)) if f > 1 else np.nan
    np.testing.assert_allclose(block_mean(M), ref, rtol=1e-5, atol=1e-5)
