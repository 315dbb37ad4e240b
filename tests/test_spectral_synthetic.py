"""Test spectra and operators with known eigenvalues (the ground truth of the other tests,
the benchmark and the playground) against dense eigh."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance
from threadpoolctl import threadpool_limits

from workbench.errors import RankError, WorkbenchError
from workbench.spectral.density import eigenvalue_marks
from workbench.spectral.synthetic import (
    KINDS,
    implicit_known_spectrum,
    known_spectrum_matrix,
    make_test_operator,
    marchenko_pastur_quantiles,
    spectrum,
    wishart_eigenvalues,
)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Dense QR/eigh of a few hundred: a second BLAS thread only adds contention on a
    shared 2-core machine (measured 35x slower under load)."""
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("kind", KINDS)
def test_spectrum_kinds(kind):
    lam = spectrum(kind, 60, seed=1)
    assert lam.shape == (60,) and np.all(np.diff(lam) >= 0) and np.isfinite(lam).all()
    assert np.array_equal(lam, spectrum(kind, 60, seed=1))
    A = known_spectrum_matrix(lam, 2)
    assert np.allclose(A, A.T)
    assert np.allclose(np.linalg.eigvalsh(A), lam, atol=1e-12 * max(1, np.abs(lam).max()))


def test_known_spectra_shapes():
    assert np.allclose(spectrum("bulk+outliers", 100)[-5:], [2, 4, 6, 8, 10])
    assert np.all(np.abs(spectrum("bulk+outliers", 100)[:-5]) <= 0.1)
    d = spectrum("degenerate", 20)
    assert np.sum(d == 10) == 3 and np.sum(d == -2) == 2 and np.sum(d == 3) == 15
    with pytest.raises(WorkbenchError, match="unknown spectrum"):
        spectrum("nope", 5)
    with pytest.raises(RankError):
        spectrum("clustered", 0)


def test_wishart_sample_has_the_dense_wishart_law():
    """The bidiagonal model samples the eigenvalues of X^T X / N without forming X."""
    n, N = 400, 800
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, n)) / np.sqrt(N)
    dense = np.linalg.eigvalsh(X.T @ X)
    fast = wishart_eigenvalues(n, N, np.random.default_rng(1))
    law = marchenko_pastur_quantiles(n, n / N)
    # both samples sit within finite-n fluctuations (measured ~0.005 each) of the MP law
    assert wasserstein_distance(dense, law) < 0.015
    assert wasserstein_distance(fast, law) < 0.015
    # E tr(X^T X) / (N n) = 1; the sample mean has std ~ sqrt(2 / (N n)) = 2.5e-3
    assert fast.mean() == pytest.approx(1.0, abs=0.015)
    # MP edges (1 -+ sqrt(1/2))^2 = 0.086, 2.914 up to edge fluctuations ~ n^(-2/3) = 0.02
    assert fast.min() == pytest.approx(0.0858, abs=0.03)
    assert fast.max() == pytest.approx(2.914, abs=0.1)
    with pytest.raises(RankError):
        wishart_eigenvalues(10, 5, rng)


@pytest.mark.parametrize("basis", ["hartley", "householder"])
@pytest.mark.parametrize("backend,dtype", [("numpy", np.float64), ("torch", torch.float64),
                                           ("torch", torch.float32)])
def test_implicit_operator_has_the_spectrum(backend, dtype, basis):
    lam = spectrum("indefinite", 80, 3)
    op = implicit_known_spectrum(lam, 4, backend=backend, dtype=dtype, basis=basis)
    A = op.to_dense()
    tol = 1e-12 if dtype in (np.float64, torch.float64) else 1e-5
    assert np.allclose(A, A.T, atol=tol * 10)
    assert np.allclose(np.linalg.eigvalsh((A + A.T) / 2), lam, atol=tol * 100)
    assert op.symmetric and op.num_matvecs == 80


def test_make_test_operator_dense_or_implicit():
    op, lam = make_test_operator("clustered", 50)
    assert op.shape == (50, 50) and np.allclose(np.linalg.eigvalsh(op.to_dense()), lam)
    op2, lam2 = make_test_operator("clustered", 50, dense_limit=10)
    assert op2.name.startswith("known-spectrum") and np.array_equal(lam, lam2)


def test_eigenvalue_marks():
    lam = spectrum("bulk+outliers", 5000, 0)
    marks = eigenvalue_marks(lam, max_points=300, ends=20)
    assert len(marks) <= 300 and np.all(np.diff(marks) >= 0)
    assert np.array_equal(marks[-20:], lam[-20:]) and np.array_equal(marks[:20], lam[:20])
    assert set(marks) <= set(lam)
    few = spectrum("clustered", 30)
    assert np.array_equal(eigenvalue_marks(few), few)


def test_hartley_basis_gives_sign_probes_generic_weights():
    """Random-sign probes see weights (z^T q_i)^2 / n with the spread of chi^2_1 / n (relative
    std sqrt(2)) in a delocalized basis, as for a Haar-random one; in a basis close to the
    identity they would all be ~1/n and SLQ / Hutchinson would look unrealistically good."""
    n = 600
    lam = spectrum("bulk+outliers", n, 0)
    Z = np.random.default_rng(1).choice([-1.0, 1.0], (n, 3))

    def spread(A):
        _, Q = np.linalg.eigh((A + A.T) / 2)
        w = (Q.T @ Z) ** 2
        return w.std() / w.mean()

    haar = spread(known_spectrum_matrix(lam, 0))
    hartley = spread(implicit_known_spectrum(lam, 0).to_dense())
    householder = spread(implicit_known_spectrum(lam, 0, basis="householder").to_dense())
    # chi^2_1: relative std sqrt(2) = 1.41; over 1800 weights (kurtosis 15) the estimate
    # has a standard deviation of ~0.06
    assert abs(haar - np.sqrt(2)) < 0.2 and abs(hartley - np.sqrt(2)) < 0.2
    assert householder < 0.5
    with pytest.raises(WorkbenchError, match="basis"):
        implicit_known_spectrum(lam, 0, basis="dct")
