"""Nyström approximation of symmetric positive semi-definite (kernel) matrices:
K ~ (K S) (S^T K S)^+ (K S)^T from a few columns (S a column selector) or a Gaussian sketch.
Non-PSD input is refused with :class:`NotPSDError` (a WorkbenchError)."""

from __future__ import annotations

import time

import numpy as np

from workbench.backends import arrays as ba
from workbench.lowrank._checks import NotPSDError, as_matrix, check_rank, check_square_symmetric
from workbench.lowrank.results import LowRankResult, should_compute_error
from workbench.operators import LinearOperator, aslinearoperator

NYSTROM_METHODS = ("gaussian", "uniform", "leverage")


def nystrom(K, rank: int, *, method: str = "gaussian", oversample: int = 10, seed: int = 0,
            check_psd: bool | str = True, compute_error: bool | str = "auto",
            reference_sv: np.ndarray | None = None) -> LowRankResult:
    """Rank-`rank` Nyström approximation K ~ U diag(lam) U^T of a PSD matrix.

    method="gaussian": the stable randomized Nyström of Tropp, Yurtsever, Udell & Cevher
    (2017): Y = K W for Gaussian W (rank + oversample columns), a shift nu = eps ||Y|| for
    stability, Cholesky of W^T Y; costs rank + oversample matvecs and works on any
    symmetric operator. "uniform" / "leverage": classical column-sampling Nyström on
    rank + oversample sampled columns (leverage = diagonal-of-K proportional sampling,
    a cheap proxy; dense input only).

    check_psd: True (default) raises NotPSDError when K is not symmetric, has a negative
    diagonal entry, or the core matrix W^T K W has a clearly negative eigenvalue — cheap,
    but it sees K only through the sketch, so an indefinite K whose negative directions the
    sketch misses passes. "full" also computes the smallest eigenvalue of a dense K
    (LAPACK, O(n^3)) and refuses one below -1e-8 ||K||. False skips the dense checks.
    Returns a LowRankResult with factors U (n x k), s = lam (k,), Vt = U^T (k x n).
    """
    import scipy.linalg

    is_op = isinstance(K, LinearOperator)
    if not is_op:
        K = as_matrix(K, "kernel matrix")
        if check_psd:
            check_square_symmetric(K)
        if check_psd == "full":
            _check_min_eigenvalue(K)
    op = K if is_op else aslinearoperator(K, symmetric=True)
    op.require_square("Nyström")
    n = op.shape[0]
    k = check_rank(rank, op.shape)
    ell = min(n, k + max(0, oversample))
    op.reset_counter()
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    if method == "gaussian":
        W = op.random_block(ell, rng)
        W, _ = ba.qr(W)
        Y = np.asarray(ba.to_numpy(op.matmat(W)), dtype=np.float64)
        Wn = np.asarray(ba.to_numpy(W), dtype=np.float64)
        core = Wn.T @ Y
        core = (core + core.T) / 2
        _check_core(core)
        nu = np.sqrt(n) * np.finfo(float).eps * np.linalg.norm(Y, 2)
        Ynu = Y + nu * Wn
        core_nu = Wn.T @ Ynu
        core_nu = (core_nu + core_nu.T) / 2
        try:
            Lc = scipy.linalg.cholesky(core_nu, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            raise NotPSDError("kernel matrix is not positive semi-definite: the Nyström "
                              "core W^T K W has no Cholesky factor") from None
        B = scipy.linalg.solve_triangular(Lc, Ynu.T, lower=True, check_finite=False).T
        U, sv, _ = scipy.linalg.svd(B, full_matrices=False, check_finite=False)
        lam = np.maximum(sv**2 - nu, 0.0)
    elif method in ("uniform", "leverage"):
        if is_op:
            raise ValueError(f"method={method!r} needs the matrix; use method='gaussian' "
                             "for operators")
        Kn = np.asarray(ba.to_numpy(K), dtype=np.float64)
        d = np.clip(np.diag(Kn), 0, None)
        p = None if method == "uniform" or d.sum() == 0 else d / d.sum()
        idx = np.sort(rng.choice(n, size=ell, replace=False, p=p))
        C = Kn[:, idx]
        core = C[idx]
        core = (core + core.T) / 2
        _check_core(core)
        w, V = np.linalg.eigh(core)
        keep = w > w.max() * 1e-12 * ell
        # K ~ C core^+ C^T = (C V w^-1/2)(C V w^-1/2)^T ; orthonormalize by an SVD
        F = C @ (V[:, keep] / np.sqrt(w[keep]))
        U, sv, _ = scipy.linalg.svd(F, full_matrices=False, check_finite=False)
        lam = sv**2
    else:
        raise ValueError(f"method must be one of {NYSTROM_METHODS}, got {method!r}")
    U, lam = U[:, :k], lam[:k]
    dt = time.perf_counter() - t0
    Uo = op.new_block(U) if op.backend == "torch" else U
    res = LowRankResult("nystrom", k, {"U": Uo, "s": lam, "Vt": Uo.T}, (n, n),
                        params=dict(method=method, oversample=oversample, seed=seed),
                        seconds=dt, num_matvecs=op.num_matvecs if method == "gaussian"
                        else None)
    if not is_op and should_compute_error(K, compute_error):
        res = res.with_error(K, reference_sv)
    return res


def _check_min_eigenvalue(K) -> None:
    import scipy.linalg

    Kn = np.asarray(ba.to_numpy(K), dtype=np.float64)
    n = Kn.shape[0]
    lo = scipy.linalg.eigh((Kn + Kn.T) / 2, eigvals_only=True, subset_by_index=(0, 0),
                           driver="evr", check_finite=False)[0]
    scale = float(np.abs(Kn).max()) * n or 1.0
    if lo < -1e-8 * scale:
        raise NotPSDError(f"kernel matrix is not positive semi-definite: its smallest "
                          f"eigenvalue is {lo:.3g}")


def _check_core(core: np.ndarray) -> None:
    w = np.linalg.eigvalsh(core)
    scale = max(abs(w).max(), np.finfo(float).tiny)
    # rounding in W^T K W is about eps * ||K|| * size; anything beyond 1e-8 relative is a
    # genuinely negative direction of K
    if w.min() < -1e-8 * scale:
        raise NotPSDError(f"kernel matrix is not positive semi-definite: the Nyström core "
                          f"has eigenvalue {w.min():.3g} (largest {w.max():.3g})")
