"""Result objects of the engine: small frozen dataclasses holding values, the parameters
that made them and their cost (matrix-vector products, seconds).

Arrays are numpy, except eigenvectors and bases, which stay in the operator's backend (a
torch tensor on CUDA stays on CUDA). Results that users unpack implement ``__iter__``::

    vals, vecs = top_eigs(op, k=5)
    U, s, Vt = randomized_svd(op, rank=10)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def tridiagonal(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The dense symmetric tridiagonal matrix with diagonal `alpha` and off-diagonal `beta`."""
    m = len(alpha)
    T = np.diag(np.asarray(alpha, dtype=np.float64))
    if m > 1:
        idx = np.arange(m - 1)
        T[idx, idx + 1] = beta[: m - 1]
        T[idx + 1, idx] = beta[: m - 1]
    return T


@dataclass(frozen=True)
class LanczosResult:
    """m steps of Lanczos from one start vector.

    alpha (m,), beta (m-1,): the tridiagonal T = V^T A V (numpy float64).
    basis: V (n x m, orthonormal columns, the operator's backend) or None when not kept.
    breakdown: True when the Krylov space was exhausted before `num_steps` (an invariant
      subspace was found: then m < num_steps and the Ritz values are exact eigenvalues).
    residual_norm: beta_m, the norm of the next (unused) Lanczos vector; residual of Ritz
      pair i is residual_norm * |S[m-1, i]|.
    """

    alpha: np.ndarray
    beta: np.ndarray
    basis: Any
    breakdown: bool
    num_matvecs: int
    seconds: float
    num_steps: int
    residual_norm: float
    reorth: str = "full"
    seed: int | None = 0

    @property
    def steps(self) -> int:
        """Number of Lanczos steps actually taken (<= num_steps)."""
        return len(self.alpha)

    def tridiagonal(self) -> np.ndarray:
        """T (m x m) as a dense numpy array."""
        return tridiagonal(self.alpha, self.beta)

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """(theta, S): Ritz values ascending (m,) and eigenvectors of T (m x m), numpy.
        Ritz vectors are ``basis @ S``. Cost: O(m^2) (tridiagonal eigensolver), no matvecs."""
        from scipy.linalg import eigh_tridiagonal

        if self.steps == 0:
            return np.zeros(0), np.zeros((0, 0))
        if self.steps == 1:
            return np.array(self.alpha, dtype=np.float64), np.ones((1, 1))
        return eigh_tridiagonal(self.alpha, self.beta)

    def ritz_residuals(self) -> np.ndarray:
        """||A y_i - theta_i y_i|| for each Ritz pair, from the Lanczos relation (no matvecs)."""
        _, S = self.ritz()
        return self.residual_norm * np.abs(S[-1, :]) if self.steps else np.zeros(0)

    def ritz_history(self) -> list[np.ndarray]:
        """Ritz values (ascending) after each step j = 1..m: the eigenvalues of the leading
        j x j block of T. Shows outliers converging first. Cost: O(m^3) flops, no matvecs."""
        from scipy.linalg import eigvalsh_tridiagonal

        out = []
        for j in range(1, self.steps + 1):
            if j == 1:
                out.append(np.array([self.alpha[0]], dtype=np.float64))
            else:
                out.append(eigvalsh_tridiagonal(self.alpha[:j], self.beta[: j - 1]))
        return out


@dataclass(frozen=True)
class EigResult:
    """k eigenpairs of a symmetric operator.

    values (k,) numpy float64 sorted as `which` asks ("LA": descending, "SA": ascending,
    "LM": descending magnitude, "BE": ascending); vectors (n x k) in the operator's backend;
    residuals (k,) = ||A v_i - lambda_i v_i|| (from the Lanczos relation for top_eigs, from
    explicit products for randomized_eigh); converged: every residual <= tol * scale.
    ``vals, vecs = result`` unpacks.
    """

    values: np.ndarray
    vectors: Any
    residuals: np.ndarray
    converged: bool
    num_matvecs: int
    seconds: float
    k: int
    which: str
    tol: float
    method: str = "thick-restart-lanczos"
    scale: float = 0.0
    num_restarts: int = 0
    seed: int | None = 0
    history: tuple = field(default=(), repr=False)

    def __iter__(self):
        yield self.values
        yield self.vectors

    def __len__(self) -> int:
        return 2


@dataclass(frozen=True)
class DensityResult:
    """A spectral density estimate.

    grid (G,), density (G,) (integrates to ~1 over the grid); nodes, weights
    (num_probes x num_steps): per probe, the Gauss quadrature nodes (Ritz values) and weights
    (squared first components; each row sums to 1). For method="kpm" nodes/weights are
    empty (num_probes x 0) and `moments` holds the Chebyshev moments.
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    num_probes: int
    num_steps: int
    num_matvecs: int
    seconds: float
    method: str = "slq"
    seed: int | None = 0
    bounds: tuple[float, float] = (0.0, 0.0)
    moments: np.ndarray | None = None

    def node_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, weights) flattened over probes, weights summing to 1: the discrete
        spectral measure the SLQ estimate stands for."""
        w = self.weights.ravel()
        tot = w.sum()
        return self.nodes.ravel(), (w / tot if tot > 0 else w)


@dataclass(frozen=True)
class TraceResult:
    """A stochastic trace estimate; ``float(result)`` is the estimate.

    std_error: the estimated standard deviation of `estimate` (from the spread of the
    per-probe estimates). samples: the per-probe (or per-exchange, for XTrace) estimates
    whose mean is `estimate`.
    """

    estimate: float
    std_error: float
    num_matvecs: int
    seconds: float
    method: str
    seed: int | None = 0
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def __float__(self) -> float:
        return float(self.estimate)


@dataclass(frozen=True)
class SVDResult:
    """A truncated SVD A ~ U diag(s) Vt; ``U, s, Vt = result`` unpacks.

    U (m x r) and Vt (r x n) in the operator's backend, s (r,) numpy float64 descending.
    """

    U: Any
    s: np.ndarray
    Vt: Any
    num_matvecs: int
    seconds: float
    rank: int
    oversample: int
    power_iters: int
    seed: int | None = 0

    def __iter__(self):
        yield self.U
        yield self.s
        yield self.Vt

    def __len__(self) -> int:
        return 3
