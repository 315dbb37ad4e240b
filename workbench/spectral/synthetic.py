"""Test operators with known spectra, for tests, benchmarks, the playground and teaching.

``spectrum(kind, n, seed)`` returns eigenvalues; ``known_spectrum_matrix(l, seed)`` builds
Q diag(l) Q^T with a random orthogonal Q (dense, n up to a few thousand);
``implicit_known_spectrum(l, seed)`` gives an O(n log n)-per-product operator with the
same spectrum for large n (a randomized Hartley transform as the eigenbasis).
"""

from __future__ import annotations

import numpy as np

from workbench.errors import RankError, WorkbenchError
from workbench.operators import CallableOperator, aslinearoperator

KINDS = ("bulk+outliers", "marchenko-pastur", "clustered", "well-separated", "degenerate",
         "indefinite")


def spectrum(kind: str = "bulk+outliers", n: int = 500, seed: int | None = 0,
             num_outliers: int = 5) -> np.ndarray:
    """Eigenvalues (ascending, length n) of a test spectrum.

    - "bulk+outliers": a semicircle bulk of radius 0.1 around 0 and `num_outliers`
      outliers at 1, 2, ..., scaled to top at 10 (the shape of a trained net's Hessian).
    - "marchenko-pastur": eigenvalues of a Wishart matrix X^T X / N, X an N x n Gaussian
      matrix with N = 2n (aspect ratio 1/2), sampled in O(n^2) (see wishart_eigenvalues)
      up to n = 5000; beyond, the n quantiles of the Marchenko-Pastur law.
    - "clustered": three tight clusters (width 1e-3) at 1, 2 and 5.
    - "well-separated": 1, 2, ..., n.
    - "degenerate": the value 3 repeated, plus 10 (x3) and -2 (x2).
    - "indefinite": uniform on [-5, 5] plus outliers at -8 and 9.
    """
    if n < 1:
        raise RankError(f"spectrum size must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    if kind == "bulk+outliers":
        k = min(num_outliers, n)
        bulk = 0.1 * _semicircle(rng, n - k)
        out = np.linspace(10.0 / max(k, 1), 10.0, k) if k else np.zeros(0)
        vals = np.concatenate([bulk, out])
    elif kind == "marchenko-pastur":
        vals = (wishart_eigenvalues(n, 2 * n, rng) if n <= 5000
                else marchenko_pastur_quantiles(n, 0.5))
    elif kind == "clustered":
        centers = np.array([1.0, 2.0, 5.0])
        vals = centers[np.arange(n) % 3] + 1e-3 * rng.standard_normal(n)
    elif kind == "well-separated":
        vals = np.arange(1.0, n + 1.0)
    elif kind == "degenerate":
        vals = np.full(n, 3.0)
        vals[: min(3, n)] = 10.0
        if n > 5:
            vals[3:5] = -2.0
    elif kind == "indefinite":
        vals = rng.uniform(-5, 5, n)
        vals[0] = 9.0
        if n > 1:
            vals[1] = -8.0
    else:
        raise WorkbenchError(f"unknown spectrum kind {kind!r}; choose one of {KINDS}")
    return np.sort(vals)


def _semicircle(rng, n):
    """n samples of the semicircle law on [-1, 1]."""
    u = rng.beta(1.5, 1.5, n)
    return 2.0 * u - 1.0


def wishart_eigenvalues(n: int, N: int, rng: np.random.Generator) -> np.ndarray:
    """Eigenvalues (ascending) of X^T X / N for an N x n matrix X of iid N(0, 1) entries
    (N >= n), sampled without forming X: by Dumitriu & Edelman (2002) they are distributed
    as the eigenvalues of B B^T, B lower bidiagonal with diagonal chi_N, chi_{N-1}, ...,
    chi_{N-n+1} and subdiagonal chi_{n-1}, ..., chi_1. Cost O(n^2) instead of O(N n^2)."""
    from scipy.linalg import eigvalsh_tridiagonal

    if N < n:
        raise RankError(f"wishart_eigenvalues needs N >= n, got N={N}, n={n}")
    d = np.sqrt(rng.chisquare(N - np.arange(n)))
    e = np.sqrt(rng.chisquare(np.arange(n - 1, 0, -1))) if n > 1 else np.zeros(0)
    # B B^T is tridiagonal: diagonal d_i^2 + e_{i-1}^2, off-diagonal d_i e_i
    diag = d**2 + np.r_[0.0, e**2]
    off = d[:-1] * e
    vals = eigvalsh_tridiagonal(diag, off, lapack_driver="sterf") if n > 1 else diag
    return np.sort(vals) / N


def marchenko_pastur_quantiles(n, ratio):
    """n quantiles of the Marchenko-Pastur law with aspect ratio `ratio` (< 1): the
    eigenvalues a Wishart sample approaches as n grows, without the fluctuations."""
    a, b = (1 - np.sqrt(ratio)) ** 2, (1 + np.sqrt(ratio)) ** 2
    x = np.linspace(a, b, 20001)
    pdf = np.sqrt(np.maximum((b - x) * (x - a), 0)) / (2 * np.pi * ratio * x)
    cdf = np.cumsum(pdf)
    cdf /= cdf[-1]
    return np.interp((np.arange(n) + 0.5) / n, cdf, x)


def random_orthogonal(n: int, seed: int | None = 0) -> np.ndarray:
    """A Haar-random n x n orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


def known_spectrum_matrix(eigenvalues, seed: int | None = 0) -> np.ndarray:
    """Dense symmetric Q diag(l) Q^T with a Haar-random Q. Cost O(n^3)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    Q = random_orthogonal(len(lam), seed)
    A = (Q * lam) @ Q.T
    return (A + A.T) / 2


def implicit_known_spectrum(eigenvalues, seed: int | None = 0, num_reflections: int = 3,
                            backend: str = "numpy", dtype=None, device=None,
                            basis: str = "hartley"):
    """A symmetric operator Q diag(l) Q^T with O(n) memory and O(n log n) flops per
    product, for large n (numpy, or torch on any device and float dtype).

    basis="hartley" (default): Q = D1 C D2, C the orthonormal discrete Hartley transform
    (one FFT; symmetric, C^2 = I) and D1, D2 random sign diagonals. Its eigenvectors are
    delocalized like a Haar-random basis, so random-sign probes see generic weights
    (z^T q_i)^2 ~ chi^2_1 / n, as they would on a real Hessian.
    basis="householder": Q a product of `num_reflections` random Householder reflections,
    O(n) per product but close to the identity (eigenvectors nearly coordinate vectors:
    sign probes then see weights ~1/n with little noise).
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    n = len(lam)
    rng = np.random.default_rng(seed)
    if basis not in ("hartley", "householder"):
        raise WorkbenchError(f"basis must be 'hartley' or 'householder', got {basis!r}")
    if basis == "hartley":
        D = rng.choice(np.array([-1.0, 1.0]), size=(n, 2))
    else:
        D = rng.standard_normal((n, num_reflections))
        D /= np.linalg.norm(D, axis=0)
    if backend == "torch":
        import torch

        dtype = dtype or torch.float64
        D = torch.as_tensor(D, dtype=dtype, device=device)
        lam_b = torch.as_tensor(lam, dtype=dtype, device=device)

        def hartley(X):
            F = torch.fft.fft(X, dim=0)
            return (F.real - F.imag) / np.sqrt(n)
    else:
        dtype = np.dtype(dtype or np.float64)
        D = D.astype(dtype)
        lam_b = lam.astype(dtype)

        def hartley(X):
            F = np.fft.fft(X, axis=0)
            return ((F.real - F.imag) / np.sqrt(n)).astype(dtype, copy=False)

    def reflect(X, order):
        # elementwise products and sums, not BLAS: rank-1 updates gain nothing from BLAS
        # and its thread pool costs more than the O(n) work on a busy machine
        for j in order:
            u = D[:, j:j + 1]
            X = X - (2.0 * u) * (u * X).sum(0)[None, :]
        return X

    if basis == "hartley":
        d1, d2 = D[:, :1], D[:, 1:2]

        def matmat(X):
            Y = lam_b[:, None] * (d2 * hartley(d1 * X))  # diag(l) Q^T X, Q^T = D2 C D1
            return d1 * hartley(d2 * Y)  # Q Y
    else:
        def matmat(X):
            Y = reflect(X, range(num_reflections))  # H^T X (H = H_1 H_2 H_3, symmetric)
            Y = lam_b[:, None] * Y
            return reflect(Y, reversed(range(num_reflections)))

    return CallableOperator((n, n), matmat=matmat, dtype=dtype, backend=backend,
                            device=device, symmetric=True, name=f"known-spectrum({n})")


def make_test_operator(kind: str = "bulk+outliers", n: int = 500, seed: int | None = 0,
                  dense_limit: int = 3000, **kw):
    """(operator, exact eigenvalues) for a spectrum kind: dense up to `dense_limit`,
    implicit beyond."""
    lam = spectrum(kind, n, seed, **kw)
    if n <= dense_limit:
        return aslinearoperator(known_spectrum_matrix(lam, seed), symmetric=True), lam
    return implicit_known_spectrum(lam, seed), lam
