"""The low-rank topic run without a browser: source dispatch, uploads through the one
upload rule, the rank path viewed at any rank (reconstruction, errors against the
Eckart–Young optimum of numpy's SVD, the table row), the one Frobenius error, completion."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from helpers import npy_bytes

import workbench.lowrank as lr
from workbench.errors import InputFormatError, ShapeError, WorkbenchError
from workbench.lowrank.run import completion_key, curve_ranks, source_key


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _upload(A, name="mine.npy"):
    return lr.uploaded_matrix(npy_bytes(A), name)


@cache
def small():
    """A 60 x 40 matrix with slowly decaying spectrum, its upload, and numpy's SVD."""
    A = lr.synthetic(60, 40, "slow", seed=3).A
    up = _upload(A)
    return A, up, np.linalg.svd(A)


@cache
def small_run():
    _, up, _ = small()
    return lr.run_lowrank(lr.LowRankSettings(source="uploaded", method="svd"), up)


def eckart_young(s, k):
    """sqrt(sum_{i>k} s_i^2) / ||s||: the best relative Frobenius error of rank k."""
    return float(np.sqrt(np.sum(s[k:] ** 2)) / np.sqrt(np.sum(s**2)))


def test_relative_fro_error_is_the_frobenius_formula():
    rng = np.random.default_rng(0)
    A, X = rng.standard_normal((30, 20)), rng.standard_normal((30, 20))
    want = np.linalg.norm(A - X, "fro") / np.linalg.norm(A, "fro")
    # one formula, two evaluations of the same sums: agree to rounding (1e-14 relative)
    assert lr.relative_fro_error(A, X) == pytest.approx(want, rel=1e-14)
    assert lr.relative_fro_error(A, X, norm=2.0) == pytest.approx(
        np.linalg.norm(A - X) / 2.0, rel=1e-14)
    assert lr.relative_fro_error(np.zeros((3, 2)), np.zeros((3, 2))) == 0.0
    assert lr.relative_fro_error(np.zeros((3, 2)), np.ones((3, 2))) == pytest.approx(
        np.sqrt(6.0))          # zero matrix: the absolute error, never a false 0
    assert lr.error_ratio(0.0, 0.0) == 1.0 and lr.error_ratio(1.0, 0.0) == np.inf


@pytest.mark.parametrize("k", [1, 5, 17, 40])
def test_svd_view_is_the_eckart_young_optimum(k):
    A, _, (U, s, Vt) = small()
    view = small_run().at(rank=k)
    assert view.rank == k and view.method == "svd"
    # LAPACK's SVD twice (scipy's gesdd in the run, numpy's here): backward stable, so the
    # truncations agree to ~1e-13 of ||A|| where s_k > s_{k+1} (this spectrum has no ties)
    best = (U[:, :k] * s[:k]) @ Vt[:k]
    assert np.allclose(view.approx, best, atol=1e-11 * s[0])
    assert view.fro_opt == pytest.approx(eckart_young(s, k), rel=1e-10, abs=1e-14)
    assert view.fro == pytest.approx(eckart_young(s, k), rel=1e-9, abs=1e-12)
    assert view.fro_ratio == pytest.approx(1.0, abs=1e-8) or k == 40
    assert view.energy == pytest.approx(np.sum(s[:k] ** 2) / np.sum(s**2), rel=1e-12)
    assert np.allclose(view.kept_sv, s[:k], rtol=1e-12)


@pytest.mark.parametrize("method", ["randomized", "cur_qr", "cur_leverage", "id"])
def test_other_methods_never_beat_the_optimum_and_keep_rank_k(method):
    _, up, (_, s, _) = small()
    run = lr.run_lowrank(lr.LowRankSettings(source="uploaded", method=method), up,
                         curves=False)
    for k in (3, 12):
        view = run.at(rank=k)
        assert np.linalg.matrix_rank(view.approx, tol=1e-9 * s[0]) <= k
        # Eckart–Young: no rank-k matrix does better than the truncated SVD (rounding:
        # 1e-12 relative); the ratio is the error over the optimum
        assert view.fro >= eckart_young(s, k) * (1 - 1e-12)
        assert view.fro_ratio == pytest.approx(view.fro / eckart_young(s, k), rel=1e-9)
        assert view.fro < 1.0


def test_view_clamps_the_rank_and_waits_for_the_path():
    run = small_run()
    assert run.at(rank=0).rank == 1 and run.at(rank=10_000).rank == 40
    bare = lr.LowRankRun(run.source)
    view = bare.at(rank=6)
    assert view.approx is None and view.fro is None and view.table.empty
    assert view.fro_opt == run.at(rank=6).fro_opt


def test_table_row_is_the_curves_at_the_nearest_rank():
    run = small_run()
    ranks = curve_ranks(40)
    assert list(ranks) == sorted(set(ranks)) and ranks[0] == 1 and ranks[-1] == 40
    assert set(run.curves.table["method"]) == {"svd", "randomized", "krylov",
                                               "cur_leverage", "cur_qr", "id"}
    view = run.at(rank=9)
    near = int(ranks[np.argmin(np.abs(ranks - 9))])
    assert view.table_rank == near and len(view.table) == 6
    # between two curve ranks at the same distance the larger one is shown
    assert run.at(rank=15).table_rank == 17 and list(ranks[7:9]) == [13, 17]
    svd_row = view.table[view.table["method"] == "Truncated SVD (exact)"]
    # the table's error is the shown path's error at that rank (rounded to 5 digits)
    assert svd_row[f"error at rank {near}"].iloc[0] == pytest.approx(
        run.at(rank=near).fro, abs=1e-5)
    assert (run.curves.table["fro_ratio"] >= 1 - 1e-9).all()


def test_nystrom_is_refused_on_a_non_kernel_and_left_out_of_the_curves():
    run = small_run()
    with pytest.raises(WorkbenchError, match="square"):
        lr.rank_path_for(run.source, "nystrom")
    assert "nystrom" not in run.curves.paths
    # the dashboard's request: the refusal is its result, a method that applies its path
    from workbench.lowrank.run import try_rank_path

    refused = try_rank_path(run.source, "nystrom")
    assert isinstance(refused, WorkbenchError) and "square" in str(refused)
    path = try_rank_path(run.source, "svd")
    assert isinstance(path, lr.RankPath) and path.method == "svd"


def test_source_dispatch_and_keys():
    s = lr.LowRankSettings(source="synthetic", decay="fast", noise=0.02)
    assert source_key(s) == ("synthetic", "fast", 0.02)
    src = lr.load_source(s)
    assert src.shape == (300, 200) and src.kind == "matrix" and "fast decay" in src.label
    # the exact singular values are numpy's (LAPACK both: 1e-12 relative)
    assert np.allclose(src.sv, np.linalg.svd(src.A, compute_uv=False), rtol=1e-12)
    assert src.max_rank == 100 and src.clim[0] == -src.clim[1]
    img = lr.load_source(lr.LowRankSettings(source="image"))
    assert img.kind == "image" and img.clim == (0.0, 1.0) and img.key == ("image",
                                                                          "china.jpg")
    with pytest.raises(InputFormatError, match="no matrix uploaded"):
        source_key(lr.LowRankSettings(source="uploaded"))
    with pytest.raises(InputFormatError, match="unknown source"):
        source_key(lr.LowRankSettings(source="nonsense"))
    # run_lowrank's overrides leave the settings given untouched
    run = lr.run_lowrank(s, method="id", curves=False)
    assert run.path.method == "id" and s.method == "svd"


def test_uploads_follow_the_one_rule():
    A = np.arange(12.0).reshape(4, 3)
    up = _upload(A.astype(np.int64), "ints.npy")
    assert up.A.dtype == np.float64 and np.array_equal(up.A, A) and up.name == "ints.npy"
    assert up.digest == _upload(A).digest            # same content, same key
    import io

    buf = io.BytesIO()
    np.savez(buf, bias=np.ones(3), w=A, w2=A.T)
    two = lr.uploaded_matrix(buf.getvalue(), "m.npz")
    assert two.name == "m.npz[w]" and two.A.shape == (4, 3)
    with pytest.raises(ShapeError, match="2-D"):
        _upload(np.ones((2, 3, 4)))
    with pytest.raises(ShapeError, match="at least 2"):
        _upload(np.ones((1, 4)))
    with pytest.raises(ShapeError, match="at most 5"):
        lr.uploaded_matrix(npy_bytes(np.ones((6, 2))), "w.npy", max_side=5)
    with pytest.raises(InputFormatError, match="pickle"):
        lr.uploaded_matrix(b"\x80\x04K\x01.", "w.pkl")


def test_settings_fields_in_declaration_order():
    assert lr.LowRankSettings.fields()[:3] == ["rank", "source", "method"]
    assert lr.CompletionSettings.fields() == ["fraction", "completion_rank",
                                              "completion_matrix", "true_rank",
                                              "completion_method"]
    s = lr.CompletionSettings(fraction=0.5)
    assert lr.CompletionSettings.copy_of(s).fraction == 0.5


def test_an_array_is_checked_like_an_upload():
    from workbench.lowrank.sources import array_matrix

    A = np.arange(12.0).reshape(4, 3)
    up = array_matrix(A.astype(np.float32), "mine")
    assert up.name == "mine.npy" and up.A.dtype == np.float64 and np.array_equal(up.A, A)
    assert up.digest == _upload(A).digest             # same content, same key
    with pytest.raises(InputFormatError, match="mine is not a numeric array"):
        array_matrix(np.array([{}, None], dtype=object), "mine")
    with pytest.raises(WorkbenchError, match="NaN"):
        array_matrix(np.full((3, 3), np.nan))
    with pytest.raises(ShapeError, match="2-D"):
        array_matrix(np.arange(3.0))


def test_completion_run_recovers_and_keys_by_settings():
    s = lr.CompletionSettings(fraction=0.3, completion_rank=5, true_rank=5)
    done = lr.run_completion(s)
    assert done.truth.shape == (100, 100) and done.result.recovered
    # recovered = relative error on all entries below 1e-6, by the one Frobenius error
    assert lr.relative_fro_error(done.truth, done.result.X) < 1e-6
    assert done.dof == 5 * (200 - 5)
    assert np.isnan(done.observed).sum() == (~done.mask).sum()
    src = small_run().source
    cur = lr.run_completion(lr.CompletionSettings(completion_matrix="current"), src)
    assert cur.truth.shape == (60, 40) and np.isfinite(cur.result.X).all()
    assert completion_key(s, src)[2] == 5                      # random: by its true rank
    assert completion_key(lr.CompletionSettings(completion_matrix="current"), src)[2] \
        == src.key
    with pytest.raises(ShapeError, match="no current matrix"):
        lr.run_completion(lr.CompletionSettings(completion_matrix="current"))
