"""Activation-side metrics of a representation matrix Z (n samples x d features).

- ``matrix_entropy(Z)``: entropy of the normalized Gram spectrum, in [0, 1]
  (Skean et al.'s matrix entropy / von Neumann entropy of K / tr K, K = Z Z^T, divided by
  log of the rank); 1 = isotropic representation, 0 = rank one.
- ``matrix_nuclear_norm(Z)``: the Matrix Nuclear-Norm of Li et al. (2024): rows scaled to
  unit L2 norm, then ``sum_j ||Z[:, j]||_2`` over the top min(n, d) columns by norm,
  divided by n — an O(n d) proxy for the nuclear norm ||Z||_* / n (exact nuclear norm via
  ``exact=True``, one SVD).
"""

from __future__ import annotations

import numpy as np

from workbench.errors import NonFiniteError, ShapeError

__all__ = ["matrix_entropy", "matrix_nuclear_norm"]


def _check(Z) -> np.ndarray:
    try:
        import torch

        if isinstance(Z, torch.Tensor):
            Z = Z.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover
        pass
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2:
        raise ShapeError(f"representation matrix must be 2-D (samples x features), got {Z.shape}")
    if not np.all(np.isfinite(Z)):
        raise NonFiniteError("representation matrix holds NaN/inf")
    return Z


def matrix_entropy(Z, center: bool = False) -> float:
    """Normalized matrix entropy of Z (n x d): -sum p log p / log r, p = eigenvalues of
    Z^T Z / trace, r = numerical rank. Returns a float in [0, 1]. Cost: one Gram (n d^2 or
    d n^2, smaller side) + eigvalsh."""
    Z = _check(Z)
    if center:
        Z = Z - Z.mean(axis=0)
    G = Z.T @ Z if Z.shape[0] >= Z.shape[1] else Z @ Z.T
    ev = np.clip(np.linalg.eigvalsh(G), 0.0, None)
    tot = ev.sum()
    if not tot > 0:
        return 0.0
    p = ev / tot
    r = int(np.count_nonzero(ev > ev.max() * max(G.shape) * np.finfo(float).eps))
    if r <= 1:
        return 0.0
    nz = p[p > 0]
    return float(-np.sum(nz * np.log(nz)) / np.log(r))


def matrix_nuclear_norm(Z, exact: bool = False) -> float:
    """Matrix Nuclear-Norm of Z (n x d) with unit-norm rows, divided by n.

    ``exact=False`` (default): Li et al.'s L2-column-norm approximation, O(n d).
    ``exact=True``: the nuclear norm from the singular values (one SVD).
    """
    Z = _check(Z)
    n, d = Z.shape
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    Zn = Z / np.where(norms > 0, norms, 1.0)
    if exact:
        return float(np.linalg.svd(Zn, compute_uv=False).sum() / n)
    col = np.sort(np.linalg.norm(Zn, axis=0))[::-1][: min(n, d)]
    return float(col.sum() / n)
