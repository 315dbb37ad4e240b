"""Weighted low-rank approximation: Fisher-weighted SVD (FWSVD; Hsu et al., "Language model
compression with weighted low-rank factorization", ICLR 2022).

Rows of a weight matrix W (output neurons) matter unequally for the loss. With row
importances I_i (the summed squared gradients of the loss wrt the row: the diagonal Fisher
information), FWSVD minimizes sum_i I_i ||W_i - (AB)_i||^2. For row weights this has a
closed form: SVD of diag(sqrt(I)) W, truncated, with the scaling undone on the left factor.
"""

from __future__ import annotations

import time

import numpy as np

from workbench.errors import NonFiniteError, ShapeError
from workbench.lowrank._checks import as_matrix, check_rank, numpy_f64
from workbench.lowrank.results import LowRankResult, should_compute_error


def fisher_row_weights(grads) -> np.ndarray:
    """Row importances I_i = sum over samples and columns of (dL/dW_ij)^2 from a stack of
    per-sample (or per-batch) gradients of shape (samples, m, n) or one (m, n) gradient.
    Returns (m,) float64."""
    g = np.asarray(grads, dtype=np.float64)
    if g.ndim == 2:
        g = g[None]
    if g.ndim != 3:
        raise ShapeError(f"gradients must have shape (samples, m, n) or (m, n), got {g.shape}")
    return np.sum(g**2, axis=(0, 2))


def weighted_error(W: np.ndarray, W_hat: np.ndarray, row_weights: np.ndarray) -> float:
    """sqrt(sum_i I_i ||W_i - W_hat_i||^2 / sum_i I_i ||W_i||^2)."""
    w = np.asarray(row_weights, dtype=np.float64)[:, None]
    num = np.sum(w * (W - W_hat) ** 2)
    den = np.sum(w * W**2)
    return float(np.sqrt(num / den)) if den > 0 else 0.0


def fisher_weighted_svd(W, rank: int, row_weights, *, compute_error: bool | str = "auto",
                        reference_sv: np.ndarray | None = None) -> LowRankResult:
    """Fisher-weighted SVD: W ~ (diag(I)^-1/2 U_k S_k) V_k^T where U S V^T is the SVD of
    diag(I)^1/2 W. Optimal for the I-weighted Frobenius error (the plain SVD is optimal for
    the unweighted one; ``error`` reports the unweighted error against Eckart–Young, and
    info["weighted_error"] / info["svd_weighted_error"] compare both in the weighted norm).

    Zero weights are raised to 1e-12 x the mean weight so the scaling stays invertible.
    Costs one SVD of an m x n matrix. Returns a LowRankResult with factors A (m x k) and
    B (k x n).
    """
    import scipy.linalg

    W = numpy_f64(as_matrix(W, "weight matrix"))
    m, n = W.shape
    k = check_rank(rank, (m, n))
    w = np.asarray(row_weights, dtype=np.float64).ravel()
    if w.shape != (m,):
        raise ShapeError(f"row_weights must have one entry per row ({m}), got {w.shape}")
    if not np.isfinite(w).all():
        raise NonFiniteError("row_weights contain NaN or inf")
    if (w < 0).any():
        raise ShapeError(f"row_weights must be >= 0, found {float(w.min()):.3g}")
    if w.sum() == 0:
        raise ShapeError("row_weights are all zero")
    t0 = time.perf_counter()
    w_safe = np.maximum(w, 1e-12 * w.mean())
    sq = np.sqrt(w_safe)[:, None]
    U, s, Vt = scipy.linalg.svd(sq * W, full_matrices=False, check_finite=False)
    Af = (U[:, :k] * s[:k]) / sq
    Bf = Vt[:k]
    dt = time.perf_counter() - t0
    U2, s2, Vt2 = scipy.linalg.svd(W, full_matrices=False, check_finite=False)
    plain = (U2[:, :k] * s2[:k]) @ Vt2[:k]
    info = dict(weighted_error=weighted_error(W, Af @ Bf, w),
                svd_weighted_error=weighted_error(W, plain, w))
    res = LowRankResult("fwsvd", k, {"A": Af, "B": Bf}, (m, n), params=dict(),
                        seconds=dt, info=info)
    if should_compute_error(W, compute_error):
        res = res.with_error(W, s2 if reference_sv is None else reference_sv)
    return res
