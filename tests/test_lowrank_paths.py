"""rank_path: one decomposition serving every rank (what the dashboard's rank slider uses),
against the direct methods and the exact SVD."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import workbench.lowrank as lr
from workbench.errors import RankError


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@cache
def matrix():
    A = lr.synthetic(150, 100, "slow", seed=4).A
    return A, np.linalg.svd(A, compute_uv=False)


def test_svd_path_is_the_truncated_svd_at_every_rank():
    A, s = matrix()
    path = lr.rank_path(A, 30, "svd", reference_sv=s)
    for k in (1, 7, 30):
        assert np.allclose(path.approx(k), lr.truncated_svd(A, k).approx(), atol=1e-10)
        assert path.fro_error(k) == pytest.approx(lr.optimum(s, k)[0], rel=1e-9)
    rows = path.errors([5, 10])
    assert [r["rank"] for r in rows] == [5, 10]
    assert rows[0]["fro_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert rows[1]["compression"] == pytest.approx(150 * 100 / (150 * 10 + 10 + 10 * 100))
    with pytest.raises(RankError):
        path.result(31)


@pytest.mark.parametrize("method", ["randomized", "krylov"])
def test_sliced_randomized_paths_are_near_optimal(method):
    A, s = matrix()
    path = lr.rank_path(A, 30, method, reference_sv=s)
    # a slice of the rank-30 run is a rank-k run with 20 + 10 extra oversampling: at least
    # as accurate as the direct rank-k run (measured ratios 1.0000-1.0003)
    for k in (3, 10, 30):
        direct = lr.approximate(A, k, method, reference_sv=s).error.fro_ratio
        assert path.errors([k])[0]["fro_ratio"] <= max(direct, 1.0) * (1 + 1e-3)


@pytest.mark.parametrize("method", ["cur_qr", "cur_leverage"])
def test_cur_paths_are_nested_and_near_optimal(method):
    A, s = matrix()
    path = lr.rank_path(A, 30, method, reference_sv=s)
    prev = set()
    for k in (2, 5, 10, 20):
        res = path.result(k)
        C, U, R = res
        J = res.info["columns"]
        assert np.array_equal(C, A[:, J]) and len(J) == 2 * k
        assert prev <= set(J)                 # nested: more rank, more columns
        prev = set(J)
        assert np.linalg.matrix_rank(res.approx()) == k
        ratio = path.errors([k])[0]["fro_ratio"]
        # c = r = 2k actual columns/rows (as cur() uses): measured 1.0-1.3 on i^-1/2
        assert 1 - 1e-12 <= ratio <= 1.6
    # the middle factor is the best for the chosen C, R (same as cur_factors directly)
    from workbench.lowrank.cur import cur_factors

    res = path.result(10)
    C2, U2, R2 = cur_factors(A, res.info["columns"], res.info["rows"], 10)
    assert np.allclose(res.factors["U"], U2)


def test_id_path_matches_the_pivoted_qr_interpolative_decomposition():
    A, s = matrix()
    path = lr.rank_path(A, 30, "id", reference_sv=s)
    for k in (1, 8, 30):
        res = path.result(k)
        C, P = res
        J = res.info["columns"]
        assert np.allclose((C @ P)[:, J], A[:, J], atol=1e-10)   # skeleton reproduced
        assert np.abs(P).max() <= 2.0 + 1e-8 or k == 1
        ref = lr.interpolative(A, k, randomized=False, reference_sv=s)
        # scipy's deterministic ID is also a column-pivoted QR: same columns, same error
        assert set(J) == set(ref.info["columns"])
        assert path.errors([k])[0]["fro_ratio"] == pytest.approx(ref.error.fro_ratio,
                                                                 rel=1e-6)


def test_nystrom_path_on_a_kernel_and_bad_input():
    Kmat = lr.rbf_kernel_matrix(120, seed=1)
    lam = np.linalg.eigvalsh(Kmat)[::-1]
    path = lr.rank_path(Kmat, 20, "nystrom", reference_sv=lam)
    assert 1 - 1e-12 <= path.errors([10])[0]["fro_ratio"] <= 3.0
    A, _ = matrix()
    with pytest.raises(lr.NotPSDError):
        lr.rank_path(A[:100], 10, "nystrom")
    with pytest.raises(ValueError, match="unknown method"):
        lr.rank_path(A, 5, "pca")
    with pytest.raises(RankError, match="max_rank"):
        lr.rank_path(A, 101, "svd")


@pytest.mark.parametrize("method", ["cur_qr", "cur_leverage"])
def test_cur_paths_take_more_rows_than_the_matrix_has_columns(method):
    """A tall 60 x 40 matrix at rank 23: 2k = 46 rows (<= 60) but only 40 columns: the
    thin QR of the chosen rows is 40 x 46 (trapezoidal) and the middle factor goes through
    its pseudo-inverse (it failed with "expected square matrix")."""
    A = lr.synthetic(60, 40, "slow", seed=3).A
    s = np.linalg.svd(A, compute_uv=False)
    path = lr.rank_path(A, 40, method, reference_sv=s)
    for k in (23, 30):
        X = path.approx(k)
        assert np.linalg.matrix_rank(X, tol=1e-9 * s[0]) <= k
        # all 40 columns are chosen: C C^+ A = A, and the best rank-k middle factor gives
        # the truncated SVD's error (Eckart-Young) up to rounding
        assert path.fro_error(k) == pytest.approx(lr.optimum(s, k)[0], rel=1e-6)
