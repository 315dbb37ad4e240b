"""Randomized range finder and SVD against numpy's SVD."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import spectral as sp
from workbench.operators import aslinearoperator
from workbench.spectral.synthetic import random_orthogonal


def _matrix(m=200, n=120, decay=0.8, seed=0):
    U = random_orthogonal(m, seed)[:, :n]
    V = random_orthogonal(n, seed + 1)
    s = 10.0 * decay ** np.arange(n)
    return (U * s) @ V.T, s


def test_randomized_svd_matches_svd():
    A, s = _matrix()
    op = aslinearoperator(A)
    U, sv, Vt = res = sp.randomized_svd(op, rank=10, oversample=10, power_iters=2, seed=0)
    # with decay 0.8 and 2 power iterations the error of s_i is ~ (s_{l+1}/s_i)^(2q+1)
    # relative, l = 20: <= 0.8^(10*5) ~ 1e-5 for s_10 and far below for s_1
    assert np.allclose(sv, s[:10], rtol=2e-5)
    assert sv[0] == pytest.approx(s[0], rel=1e-12)
    assert np.allclose(U.T @ U, np.eye(10), atol=1e-12)
    assert np.allclose(Vt @ Vt.T, np.eye(10), atol=1e-12)
    # the rank-10 approximation error is close to optimal (s_11 in spectral norm)
    err = np.linalg.norm(A - (U * sv) @ Vt, 2)
    assert err <= 1.01 * s[10]
    # cost: l (1 + 2q) for the range finder + l for B = Q^T A
    assert res.num_matvecs == op.num_matvecs == 20 * 5 + 20


def test_range_finder_captures_the_top_singular_space():
    A, s = _matrix(decay=0.7)
    Q = sp.randomized_range_finder(A, rank=8, oversample=5, power_iters=1, seed=2)
    assert Q.shape == (200, 13)
    assert np.allclose(Q.T @ Q, np.eye(13), atol=1e-12)
    # Halko-Martinsson-Tropp: ||(I - QQ^T) A|| is a modest multiple of s_{rank+1}
    resid = np.linalg.norm(A - Q @ (Q.T @ A), 2)
    assert resid <= 3 * s[8]


def test_rectangular_wide_and_gram_operator():
    A, s = _matrix(m=200, n=120)
    U, sv, Vt = sp.randomized_svd(A.T, rank=5, seed=1)
    assert np.allclose(sv, s[:5], rtol=1e-8)
    g = sp.randomized_eigh(aslinearoperator(A).gram("AtA"), rank=5, seed=1)
    assert np.allclose(g.values, s[:5] ** 2, rtol=1e-8)


def test_exact_for_low_rank_and_deterministic():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 4)) @ rng.standard_normal((4, 50))
    res = sp.randomized_svd(A, rank=4, oversample=3, power_iters=0)
    U, s, Vt = res
    assert np.allclose((U * s) @ Vt, A, atol=1e-10)
    again = sp.randomized_svd(A, rank=4, oversample=3, power_iters=0)
    assert np.array_equal(again.s, res.s)


def test_zero_matrix():
    U, s, Vt = sp.randomized_svd(np.zeros((30, 20)), rank=3)
    assert np.all(s == 0) and U.shape == (30, 3) and Vt.shape == (3, 20)
