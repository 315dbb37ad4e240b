"""Sketches against their theory: the exact second moment of the embedding error of each
sketch, the subspace-embedding bound on sketched least squares (per seed), the exact mean
residual of Gaussian sketch-and-solve, sketch-and-precondition to machine accuracy, and the
exact mean squared error of approximate matrix products."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import scipy.linalg

import workbench.lowrank as lr
from workbench.errors import NonFiniteError, RankError, ShapeError

SEEDS = 30


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@cache
def problem():
    """A 2000 x 10 least-squares problem with graded columns and 20 high-leverage rows."""
    rng = np.random.default_rng(0)
    d, n = 2000, 10
    A = rng.standard_normal((d, n)) * np.logspace(0, 2, n)
    A[:20] *= 30
    b = A @ rng.standard_normal(n) + rng.standard_normal(d)
    return A, b


def test_fwht_is_the_hadamard_transform():
    X = np.random.default_rng(0).standard_normal((16, 3))
    assert np.allclose(lr.fwht(X), scipy.linalg.hadamard(16) @ X)
    assert np.allclose(lr.fwht(X[:, 0]), scipy.linalg.hadamard(16) @ X[:, 0])
    with pytest.raises(ShapeError, match="power-of-2"):
        lr.fwht(np.ones(12))


def _expected_embedding_error(kind: str, Q: np.ndarray, s: int) -> float:
    """E ||(S Q)^T (S Q) - I||_F^2 for Q (d x D) with orthonormal columns and rows q_i.

    gaussian (N(0, 1/s) entries): D (D + 1) / s exactly.
    sparse sign / CountSketch (each column of S: z entries +-1/sqrt(z) at distinct random
    rows, signs independent): off-diagonal entries of S^T S are uncorrelated with variance
    1/s and the diagonal is exactly 1, so E = (D^2 + D - 2 sum_i ||q_i||^4) / s.
    SRHT: the same formula for sampling with replacement after the random-sign Hadamard
    mixing (Rademacher chaos); sampling without replacement only lowers it.
    leverage (with replacement, p_i = ||q_i||^2 / D): E = (D^2 - D) / s exactly.
    """
    D = Q.shape[1]
    q4 = float(np.sum(np.sum(Q**2, axis=1) ** 2))
    return {"gaussian": D * (D + 1) / s, "sparse_sign": (D * D + D - 2 * q4) / s,
            "countsketch": (D * D + D - 2 * q4) / s, "srht": (D * D + D - 2 * q4) / s,
            "leverage": (D * D - D) / s}[kind]


@pytest.mark.parametrize("kind", lr.SKETCHES)
def test_sketch_embedding_error_and_lstsq_bound(kind):
    A, b = problem()
    Ab = np.column_stack([A, b])
    Q, R = np.linalg.qr(Ab)
    Rinv = np.linalg.inv(R)
    s = 200
    errs = []
    for seed in range(SEEDS):
        SQ = lr.sketch(Ab, s, kind, seed=seed) @ Rinv       # the same S applied to Q
        M = SQ.T @ SQ - np.eye(Q.shape[1])
        errs.append(float(np.sum(M**2)))
        # per seed, deterministic: if S distorts span([A b]) by eps < 1, sketch-and-solve
        # has ||A x - b|| <= sqrt((1 + eps) / (1 - eps)) ||A x* - b||
        eps = float(np.linalg.norm(M, 2))
        res = lr.sketched_lstsq(A, b, s, kind, seed=seed)
        assert res.residual_ratio >= 1 - 1e-12
        if eps < 1:
            assert res.residual_ratio <= np.sqrt((1 + eps) / (1 - eps)) * (1 + 1e-10)
    # the mean over seeds matches the exact second moment to 4 standard errors
    # (SRHT: at most it, up to the same margin)
    mean, se = np.mean(errs), np.std(errs) / np.sqrt(SEEDS)
    expect = _expected_embedding_error(kind, Q, s)
    assert mean <= expect + 4 * se
    if kind != "srht":
        assert mean >= expect - 4 * se


def test_gaussian_sketch_and_solve_mean_residual_is_exact():
    """For a Gaussian S with s rows, E ||A x~ - b||^2 = (1 + n / (s - n - 1)) ||A x* - b||^2
    exactly (the excess is an inverse-Wishart quadratic form)."""
    A, b = problem()
    s, n = 60, A.shape[1]
    r2 = [lr.sketched_lstsq(A, b, s, "gaussian", seed=t).residual_ratio ** 2
          for t in range(60)]
    expect = 1 + n / (s - n - 1)
    assert abs(np.mean(r2) - expect) <= 4 * np.std(r2) / np.sqrt(len(r2))


def test_gaussian_singular_values_within_davidson_szarek():
    """The singular values of a Gaussian sketch of an orthonormal D-column Q lie in
    1 +- (sqrt(D/s) + t/sqrt(s)) with probability >= 1 - 2 exp(-t^2/2); t = 4: 0.07% per
    seed, so all 30 seeds must pass."""
    A, b = problem()
    Q, _ = np.linalg.qr(A)
    s, D, t = 150, A.shape[1], 4.0
    for seed in range(SEEDS):
        sv = np.linalg.svd(lr.sketch(Q, s, "gaussian", seed=seed), compute_uv=False)
        dev = np.sqrt(D / s) + t / np.sqrt(s)
        assert 1 - dev <= sv.min() and sv.max() <= 1 + dev


@pytest.mark.parametrize("kind", ["gaussian", "sparse_sign", "srht"])
def test_sketch_and_precondition_reaches_the_exact_solution(kind):
    # an ill-conditioned problem (cond ~ 1e8): preconditioned LSQR still converges fast
    rng = np.random.default_rng(1)
    U, _ = np.linalg.qr(rng.standard_normal((1500, 20)))
    V, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    A = (U * np.logspace(0, -8, 20)) @ V.T
    b = rng.standard_normal(1500)
    res = lr.sketched_lstsq(A, b, 80, kind, method="precondition", tol=1e-14)
    assert res.method == "sketch-and-precondition"
    # cond(A R^-1) = O(1): LSQR converges in a few dozen steps whatever cond(A)
    assert res.iterations <= 100
    assert res.residual_ratio == pytest.approx(1.0, abs=1e-10)
    x_star = np.linalg.lstsq(A, b, rcond=None)[0]
    assert np.allclose(A @ res.x, A @ x_star, atol=1e-8)


def test_sketch_shapes_and_vectors():
    A, b = problem()
    for kind in lr.SKETCHES:
        SA = lr.sketch(A, 50, kind, seed=1)
        assert SA.shape == (50, 10)
        assert lr.sketch(b, 50, kind, seed=1).shape == (50,)
    SA, rows = lr.sketch(A, 50, "srht", seed=0, return_rows=True)
    assert rows.shape == (50,)
    assert lr.sketch(A, 50, "gaussian", return_rows=True)[1] is None


@pytest.mark.parametrize("kind", ["sampling", "gaussian"])
def test_approx_matmul_mean_squared_error_is_exact(kind):
    """Drineas, Kannan & Mahoney (2006): with p_i ~ ||A_i|| ||B_i||, E ||A^T B - est||_F^2 =
    ((sum_i ||A_i|| ||B_i||)^2 - ||A^T B||_F^2) / c. Gaussian S (N(0, 1/c)):
    E = (||A||_F^2 ||B||_F^2 + ||A^T B||_F^2) / c. Both <= the reported bound (x ||A|| ||B||)."""
    rng = np.random.default_rng(2)
    A = rng.standard_normal((1000, 8)) * rng.gamma(0.5, size=(1000, 1))
    B = A[:, :5] + 0.5 * rng.standard_normal((1000, 5))
    c = 100
    exact = A.T @ B
    nA, nB = np.linalg.norm(A), np.linalg.norm(B)
    if kind == "sampling":
        w = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)
        expect = (w.sum() ** 2 - np.sum(exact**2)) / c
    else:
        expect = (nA**2 * nB**2 + np.sum(exact**2)) / c
    sq = []
    for seed in range(60):
        res = lr.approx_matmul(A, B, c, kind, seed=seed)
        sq.append(np.sum((res.estimate - exact) ** 2))
        assert res.error == pytest.approx(np.sqrt(sq[-1]) / (nA * nB))
    assert abs(np.mean(sq) - expect) <= 4 * np.std(sq) / np.sqrt(len(sq))
    assert expect / (nA * nB) ** 2 <= res.bound


def test_sketch_bad_input():
    A, b = problem()
    with pytest.raises(RankError, match="at least the number of columns"):
        lr.sketched_lstsq(A, b, 5)
    with pytest.raises(ShapeError, match="length 2000"):
        lr.sketched_lstsq(A, b[:-1])
    with pytest.raises(NonFiniteError):
        lr.sketched_lstsq(A, np.full_like(b, np.nan))
    with pytest.raises(ValueError, match="method"):
        lr.sketched_lstsq(A, b, method="magic")
    with pytest.raises(ValueError, match="sketch kind"):
        lr.sketch(A, 5, "fourier")
    with pytest.raises(RankError):
        lr.sketch(A, 0)
    with pytest.raises(RankError, match="<= 2000"):
        lr.sketch(A, 3000, "srht")
    with pytest.raises(ShapeError, match="same number of rows"):
        lr.approx_matmul(A, b[:10, None], 5)
    with pytest.raises(NonFiniteError):
        lr.approx_matmul(np.full((3, 2), np.nan), np.ones((3, 2)), 2)
