"""A small, exact numpy experiment: spectrum of a random symmetric (Wigner) matrix.

Useful to try the sweep machinery without torch and as a deterministic test workload.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import RankError


def random_top_eig(n: int = 100, k: int = 3, seed: int = 0, scale: float = 1.0) -> dict:
    """Top-``k`` eigenvalues of the symmetric matrix ``scale * (G + G.T) / sqrt(2 n)``, G an
    n x n standard normal matrix from ``default_rng(seed)`` (a Wigner matrix: its spectrum
    fills [-2 scale, 2 scale] as n grows). Returns top (largest eigenvalue), top_k (array
    of k, descending), trace and spectral_gap (top - second). Costs one dense eigvalsh,
    O(n^3)."""
    if n < 1:
        raise RankError(f"matrix size n must be >= 1, got {n}")
    if not 1 <= k <= n:
        raise RankError(f"k={k} eigenvalues requested from an n={n} matrix; need 1 <= k <= n")
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, n))
    a = scale * (g + g.T) / np.sqrt(2.0 * n)
    vals = np.linalg.eigvalsh(a)[::-1]
    return dict(top=float(vals[0]), top_k=vals[:k], trace=float(np.trace(a)),
                spectral_gap=float(vals[0] - vals[1]) if n > 1 else 0.0)
