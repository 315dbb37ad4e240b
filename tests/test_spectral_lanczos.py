"""Lanczos: the tridiagonal is V^T A V, the basis stays orthonormal, breakdown is honest."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import spectral as sp
from workbench.spectral.lanczos import lanczos_batch
from workbench.spectral.synthetic import known_spectrum_matrix, spectrum


def _A(kind="bulk+outliers", n=120, seed=0):
    lam = spectrum(kind, n, seed)
    return known_spectrum_matrix(lam, seed), lam


def test_tridiagonal_is_projection_and_basis_orthonormal():
    A, _ = _A()
    res = sp.lanczos(A, 40, seed=3)
    V = res.basis
    assert V.shape == (120, 40) and res.steps == 40 and not res.breakdown
    # full reorthogonalization keeps V orthonormal to rounding (1e-12 for m=40, n=120)
    assert np.abs(V.T @ V - np.eye(40)).max() < 1e-12
    assert np.abs(V.T @ A @ V - res.tridiagonal()).max() < 1e-11 * np.abs(A).max() * 10
    # Lanczos relation: A V = V T + beta_m v_{m+1} e_m^T, so the residual has norm beta_m
    R = A @ V - V @ res.tridiagonal()
    assert np.linalg.norm(R[:, -1]) == pytest.approx(res.residual_norm, rel=1e-8)
    assert np.abs(R[:, :-1]).max() < 1e-11 * np.abs(A).max() * 10


def test_ritz_residuals_match_true_residuals():
    A, _ = _A()
    res = sp.lanczos(A, 30, seed=1)
    theta, S = res.ritz()
    Y = res.basis @ S
    true = np.linalg.norm(A @ Y - Y * theta, axis=0)
    assert np.allclose(true, res.ritz_residuals(), atol=1e-10)


def test_breakdown_on_few_distinct_eigenvalues():
    lam = np.repeat([-1.0, 2.0, 5.0], 20)
    A = known_spectrum_matrix(lam, 1)
    res = sp.lanczos(A, 30, seed=0)
    # a random start's Krylov space holds one vector per distinct eigenvalue: exhausted
    # after 3 steps, and the 3 Ritz values are the exact eigenvalues
    assert res.breakdown and res.steps == 3 and res.num_matvecs == 3
    assert np.allclose(res.ritz()[0], [-1, 2, 5], atol=1e-12)
    assert res.residual_norm == 0.0


def test_full_space_and_zero_operator():
    A, lam = _A(n=20)
    res = sp.lanczos(A, 50)
    assert res.steps == 20 and res.breakdown  # the whole space is invariant
    assert np.allclose(res.ritz()[0], lam, atol=1e-11 * np.abs(lam).max())
    z = sp.lanczos(np.zeros((10, 10)), 5)
    assert z.breakdown and z.steps == 1 and z.alpha[0] == 0.0
    assert np.array_equal(z.ritz()[0], [0.0])


def test_no_reorth_agrees_before_orthogonality_is_lost():
    A, _ = _A("well-separated", n=200)
    full = sp.lanczos(A, 8, seed=2)
    plain = sp.lanczos(A, 8, seed=2, reorth="none", keep_basis=False)
    assert plain.basis is None
    # in 8 steps nothing has converged yet, so the three-term recurrence is still accurate
    assert np.allclose(full.alpha, plain.alpha, rtol=1e-10)
    assert np.allclose(full.beta, plain.beta, rtol=1e-10)


def test_ritz_history_interlaces_and_outliers_converge_first():
    A, lam = _A("bulk+outliers", n=300)
    res = sp.lanczos(A, 25, seed=0)
    hist = res.ritz_history()
    assert len(hist) == 25 and np.allclose(hist[-1], res.ritz()[0])
    tops = np.array([h[-1] for h in hist])
    # Cauchy interlacing: the largest Ritz value never decreases and never passes lam_max
    assert np.all(np.diff(tops) >= -1e-12) and tops[-1] <= lam[-1] + 1e-12
    # after 25 steps the 5 outliers (2..10) are accurate to 1e-8, while the bulk edge
    # (0.1) is not yet found to that accuracy
    assert np.allclose(hist[-1][-5:], lam[-5:], atol=1e-8)


def test_start_vector_and_determinism():
    A, _ = _A()
    v0 = np.ones(120)
    a = sp.lanczos(A, 10, v0=v0, seed=1)
    b = sp.lanczos(A, 10, v0=v0, seed=99)
    assert np.array_equal(a.alpha, b.alpha)
    assert np.allclose(a.basis[:, 0], v0 / np.linalg.norm(v0))
    c = sp.lanczos(A, 10, seed=5)
    d = sp.lanczos(A, 10, seed=5)
    assert np.array_equal(c.alpha, d.alpha) and np.array_equal(c.beta, d.beta)


def test_batch_equals_separate_runs():
    A, _ = _A()
    from workbench.operators import aslinearoperator

    op = aslinearoperator(A)
    Z = np.random.default_rng(0).standard_normal((120, 3))
    alpha, beta, lengths, V, brk = lanczos_batch(op, Z, 12)
    assert op.num_matvecs == 36
    for p in range(3):
        single = sp.lanczos(A, 12, v0=Z[:, p])
        assert np.allclose(alpha[p], single.alpha, atol=1e-12)
        assert np.allclose(beta[p, :11], single.beta, atol=1e-12)


def test_ritz_steps_against_eigh_and_true_residuals():
    A, lam = _A("bulk+outliers", n=200)
    res = sp.lanczos(A, 18, seed=2)
    table = res.ritz_steps()
    assert len(table.step) == 18 * 19 // 2 and table.num_steps == 18
    V = res.basis
    for j in (1, 5, 18):
        vals, resid = table.at(j)
        T = V[:, :j].T @ A @ V[:, :j]
        theta, S = np.linalg.eigh(T)
        # the Ritz values of step j are the eigenvalues of the j x j projection V_j^T A V_j
        assert np.allclose(vals, theta, atol=1e-11 * np.abs(lam).max())
        Y = V[:, :j] @ S
        true = np.linalg.norm(A @ Y - Y * theta, axis=0)
        # residuals from the recurrence equal the true ones to rounding (clamped at 1e-16
        # x scale for the exact ones)
        assert np.allclose(resid, np.maximum(true, table.residual.min()), atol=1e-10)
    assert np.array_equal(table.rank[table.step == 3], [2, 1, 0])
    upto = table.upto(5)
    assert upto.num_steps == 5 and upto.step.max() == 5 and len(upto.value) == 15
    # the largest outlier (10) is found to 1e-6 within 18 steps, the bulk edge is not
    top = table.value[(table.step == 18) & (table.rank == 0)][0]
    assert abs(top - lam[-1]) < 1e-6


def test_ritz_steps_after_breakdown_and_zero_operator():
    A = known_spectrum_matrix(np.repeat([-1.0, 2.0, 5.0], 10), 1)
    table = sp.lanczos(A, 10, seed=0).ritz_steps()
    assert table.num_steps == 3
    vals, resid = table.at(3)
    assert np.allclose(vals, [-1, 2, 5], atol=1e-12)
    assert np.all(resid <= 1e-15 * 5 + 1e-300)  # exact: clamped to the floor
    z = sp.lanczos(np.zeros((6, 6)), 4).ritz_steps()
    assert z.num_steps == 1 and np.all(np.isfinite(z.residual)) and np.all(z.residual > 0)
