"""Incremental truncated SVD against a fresh SVD of the grown matrix."""

import numpy as np
import pytest
import scipy.sparse as sp

from workbench.errors import NonFiniteError, RankError, ShapeError
from workbench.lowrank.incremental import IncrementalSVD


def _low_rank(m, n, r, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, r)) @ rng.standard_normal((r, n))


def test_exact_when_the_matrix_has_rank_at_most_k():
    # rank 5 <= k = 8: no truncation is ever lost, so the update is exact (round-off only)
    A = _low_rank(120, 60, 5)
    inc = IncrementalSVD.fit(A[:40, :45], rank=8)
    for lo in range(40, 120, 20):
        inc.add_rows(A[lo:lo + 20, :45])
    inc.add_columns(A[:, 45:52]).add_columns(A[:, 52:])
    U, s, Vt = inc
    assert U.shape == (120, 8) and Vt.shape == (8, 60)
    fresh = np.linalg.svd(A, compute_uv=False)[:8]
    assert np.allclose(s, fresh, rtol=1e-10, atol=1e-9 * fresh[0])
    assert np.linalg.norm(U * s @ Vt - A) / np.linalg.norm(A) < 1e-12
    assert np.allclose(U.T @ U, np.eye(8), atol=1e-10)
    assert np.allclose(Vt @ Vt.T, np.eye(8), atol=1e-10)


def test_close_to_a_fresh_svd_on_a_decaying_spectrum():
    rng = np.random.default_rng(2)
    m, n, k = 300, 120, 10
    Q1, _ = np.linalg.qr(rng.standard_normal((m, n)))
    Q2, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q1 * (1.0 / (1 + np.arange(n)) ** 1.5) @ Q2.T
    inc = IncrementalSVD.fit(A[:100], rank=k)
    for lo in range(100, m, 25):
        inc.add_rows(A[lo:lo + 25])
    res = inc.result(A)
    fresh = np.linalg.svd(A, compute_uv=False)[:k]
    rel = np.abs(inc.s - fresh) / fresh
    # Zha-Simon carries each step's truncation, most in the last kept values: measured
    # 1.2e-9 for sigma_1, 5e-5 by sigma_6, 4.8e-2 for sigma_10 (sigma_11 / sigma_10 = 0.87,
    # little gap), Frobenius error 1.013 x the Eckart-Young optimum; bounds with ~2-5x room
    assert rel[0] < 1e-8 and rel[:6].max() < 2e-4 and rel.max() < 0.1
    assert res.error.fro / res.error.fro_opt < 1.02


def test_sparse_updates_equal_dense_ones():
    rng = np.random.default_rng(5)
    A = sp.random(200, 80, density=0.05, random_state=6, format="csr")
    dense = IncrementalSVD.fit(A[:100].toarray(), rank=6)
    sparse = IncrementalSVD.fit(A[:100], rank=6)
    assert np.allclose(dense.s, sparse.s, rtol=1e-8)
    for lo in range(100, 200, 50):
        dense.add_rows(A[lo:lo + 50].toarray())
        sparse.add_rows(A[lo:lo + 50])
    cols = sp.random(200, 5, density=0.1, random_state=rng.integers(1000), format="csc")
    dense.add_columns(cols.toarray())
    sparse.add_columns(cols)
    assert np.allclose(dense.s, sparse.s, rtol=1e-8)
    assert np.allclose(np.abs(dense.U.T @ sparse.U).diagonal(), 1, atol=1e-6)


def test_bad_input_is_named():
    inc = IncrementalSVD.fit(np.eye(5), rank=2)
    with pytest.raises(ShapeError, match="columns"):
        inc.add_rows(np.ones((2, 4)))
    with pytest.raises(ShapeError, match="rows"):
        inc.add_columns(np.ones((4, 2)))
    with pytest.raises(NonFiniteError):
        inc.add_rows(np.full((1, 5), np.nan))
    with pytest.raises(RankError):
        IncrementalSVD.fit(np.eye(3), rank=4)
