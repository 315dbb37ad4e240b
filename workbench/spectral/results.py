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


def _cat(xs: list, dtype) -> np.ndarray:
    return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)


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

    def ritz_steps(self, floor: float | None = None) -> RitzSteps:
        """Every Ritz value at every step j = 1..m with its residual ||A y - theta y|| =
        beta_j |last component of its eigenvector of T_j| (exact ones clamped to `floor`,
        default 1e-16 x the largest |alpha|, so the residuals can be drawn on a log
        scale). Flattened into a RitzSteps table: what a plot of Ritz values converging
        step by step draws. Cost O(m^3) flops, no matvecs."""
        from scipy.linalg import eigh_tridiagonal

        m = self.steps
        scale = float(np.max(np.abs(self.alpha))) if m else 0.0
        floor = max(1e-16 * scale, 1e-300) if floor is None else float(floor)
        b_next = np.r_[self.beta[: max(m - 1, 0)], self.residual_norm]
        steps, vals, res, ranks = [], [], [], []
        for j in range(1, m + 1):
            if j == 1:
                th, last = np.array([self.alpha[0]], dtype=np.float64), np.ones(1)
            else:
                th, S = eigh_tridiagonal(self.alpha[:j], self.beta[: j - 1])
                last = S[-1, :]
            steps.append(np.full(j, j))
            vals.append(th)
            res.append(np.maximum(np.abs(b_next[j - 1] * last), floor))
            ranks.append(np.arange(j - 1, -1, -1))
        return RitzSteps(step=_cat(steps, int), value=_cat(vals, float),
                         residual=_cat(res, float), rank=_cat(ranks, int), num_steps=m)

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
class RitzSteps:
    """Ritz values of a Lanczos run at every step, flattened: row i is Ritz value
    `value[i]` at step `step[i]` (1-based), with residual norm `residual[i]` and `rank[i]`
    (0 = the largest Ritz value at that step). Step j holds j values."""

    step: np.ndarray
    value: np.ndarray
    residual: np.ndarray
    rank: np.ndarray
    num_steps: int

    def upto(self, j: int) -> RitzSteps:
        """The rows of steps 1..j."""
        keep = self.step <= int(j)
        return RitzSteps(self.step[keep], self.value[keep], self.residual[keep],
                         self.rank[keep], min(int(j), self.num_steps))

    def at(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(values ascending, residuals) at step j."""
        keep = self.step == int(j)
        return self.value[keep], self.residual[keep]


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
    alpha: np.ndarray | None = field(default=None, repr=False)
    beta: np.ndarray | None = field(default=None, repr=False)
    lengths: np.ndarray | None = field(default=None, repr=False)
    reorth: str = "full"

    def node_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, weights) flattened over probes, weights summing to 1: the discrete
        spectral measure the SLQ estimate stands for."""
        w = self.weights.ravel()
        tot = w.sum()
        return self.nodes.ravel(), (w / tot if tot > 0 else w)

    def with_steps(self, num_steps: int, sigma: float | None = None, grid=None,
                   grid_size: int | None = None) -> DensityResult:
        """The estimate a shorter run with the same probes would have given: SLQ from the
        leading num_steps x num_steps block of each probe's tridiagonal (identical to
        ``spectral_density(op, P, num_steps, seed)``), KPM from the first num_steps
        moments. `sigma` (SLQ; default: the default for num_steps), `grid` and
        `grid_size` as in spectral_density. num_matvecs is the shorter run's cost.
        Cost: O(P m^2 + G P m) flops, no matvecs. Raises WorkbenchError when num_steps
        exceeds the steps run (or for results made without the tridiagonals)."""
        from workbench.errors import WorkbenchError
        from workbench.spectral import density as dn

        j = int(num_steps)
        size = len(self.grid) if grid_size is None else int(grid_size)
        if self.method == "kpm":
            if self.moments is None or not 1 <= j <= len(self.moments):
                raise WorkbenchError(f"with_steps({num_steps}): this KPM result holds "
                                     f"{0 if self.moments is None else len(self.moments)} "
                                     "moments")
            spent = dn.kpm_cost(self.num_probes, len(self.moments)) - dn.kpm_cost(
                self.num_probes, j)
            return dn.kpm_result(self.moments[:j].copy(), self.bounds, self.num_probes,
                                 grid, size, num_matvecs=self.num_matvecs - spent,
                                 seconds=0.0, seed=self.seed)
        if self.alpha is None:
            raise WorkbenchError("with_steps needs the Lanczos tridiagonals, which this "
                                 "result does not hold")
        if not 1 <= j <= self.alpha.shape[1]:
            raise WorkbenchError(f"with_steps({num_steps}): this run has "
                                 f"{self.alpha.shape[1]} Lanczos steps; choose 1 to "
                                 f"{self.alpha.shape[1]}")
        mv = int(np.minimum(self.lengths, j).sum())
        return dn.slq_result(self.alpha, self.beta, self.lengths, j, sigma, grid, size,
                             num_matvecs=mv, seconds=0.0, seed=self.seed, reorth=self.reorth)

    def with_sigma(self, sigma: float, grid=None) -> DensityResult:
        """The same SLQ nodes and weights broadened with another `sigma` (on `grid`, default
        nodes +- 5 sigma). Cost O(G P m), no matvecs. SLQ results only."""
        from dataclasses import replace

        from workbench.errors import WorkbenchError
        from workbench.spectral import density as dn

        if self.method != "slq":
            raise WorkbenchError("with_sigma applies to SLQ results (KPM's resolution is "
                                 "set by its number of moments)")
        if not (np.isfinite(sigma) and sigma > 0):
            raise WorkbenchError(f"sigma must be a positive number, got {sigma!r}")
        lo, hi = self.bounds
        g = dn._grid(grid, lo - 5 * sigma, hi + 5 * sigma, len(self.grid))
        return replace(self, grid=g, sigma=float(sigma),
                       density=dn.broadened_density(g, self.nodes, self.weights, sigma))

    def probe_lanczos(self, p: int = 0) -> LanczosResult:
        """Probe p's Lanczos run (tridiagonal only, no basis) as a LanczosResult, e.g. for
        its Ritz values step by step. SLQ results only; no matvecs."""
        from workbench.errors import WorkbenchError

        if self.alpha is None:
            raise WorkbenchError("probe_lanczos needs an SLQ result with its tridiagonals")
        if not 0 <= int(p) < self.alpha.shape[0]:
            raise WorkbenchError(f"probe {p} out of range: this run has "
                                 f"{self.alpha.shape[0]} probes")
        L = int(self.lengths[p])
        return LanczosResult(alpha=self.alpha[p, :L].copy(),
                             beta=self.beta[p, : max(L - 1, 0)].copy(), basis=None,
                             breakdown=bool(self.beta[p, L - 1] == 0),
                             num_matvecs=L, seconds=0.0, num_steps=self.alpha.shape[1],
                             residual_norm=float(self.beta[p, L - 1]), reorth=self.reorth,
                             seed=self.seed)


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
