"""Random-matrix baselines: Marchenko–Pastur, Wigner semicircle, spiked covariance (BBP),
heavy-tailed matrices — samplers, theoretical densities, and the MP fit of an ESD.

Conventions (as in WeightWatcher): W is N x M with N >= M, Q = N / M >= 1, and the ESD is
that of the M x M matrix X = W^T W / N. For i.i.d. entries of variance sigma^2 it tends to
the Marchenko–Pastur law on [lambda_-, lambda_+], lambda_+- = sigma^2 (1 +- 1/sqrt(Q))^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from workbench.errors import RankError, ShapeError

__all__ = [
    "MPFit", "mp_edges", "mp_density", "mp_cdf", "mp_quantile", "sample_mp", "fit_mp",
    "tracy_widom_edge", "semicircle_density", "sample_wigner", "bbp_threshold",
    "spike_location", "spike_overlap", "sample_spiked_covariance", "heavy_tail_alpha",
    "heavy_tail_density", "sample_heavy_tailed",
]


def _check_Q(Q: float) -> float:
    Q = float(Q)
    if not Q >= 1.0:
        raise ShapeError(f"aspect ratio Q = N/M must be >= 1 (got {Q:g}); transpose W")
    return Q


# ------------------------------------------------------------------ Marchenko–Pastur


def mp_edges(Q: float, sigma: float = 1.0) -> tuple[float, float]:
    """(lambda_minus, lambda_plus) of the MP law for aspect ratio Q and entry std sigma."""
    Q = _check_Q(Q)
    r = 1.0 / math.sqrt(Q)
    return sigma**2 * (1.0 - r) ** 2, sigma**2 * (1.0 + r) ** 2


def mp_density(x, Q: float, sigma: float = 1.0) -> np.ndarray:
    """MP density at ``x`` (0 outside the bulk): Q / (2 pi sigma^2 x) sqrt((l+ - x)(x - l-))."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = mp_edges(Q, sigma)
    inside = (x > lo) & (x < hi) & (x > 0)
    out = np.zeros_like(x)
    xi = x[inside]
    out[inside] = Q / (2 * np.pi * sigma**2 * xi) * np.sqrt((hi - xi) * (xi - lo))
    return out


@lru_cache(maxsize=256)
def _mp_cdf_table(Q: float, n: int = 4001):
    lo, hi = mp_edges(Q, 1.0)
    th = np.linspace(0.0, np.pi, n)
    x = lo + (hi - lo) * (1.0 - np.cos(th)) / 2.0
    # density * dx/dtheta is smooth in theta: integrate by the trapezoid rule
    g = mp_density(x, Q) * (hi - lo) * np.sin(th) / 2.0
    c = np.concatenate([[0.0], np.cumsum((g[1:] + g[:-1]) / 2 * np.diff(th))])
    return x, c / c[-1]


def mp_cdf(x, Q: float, sigma: float = 1.0) -> np.ndarray:
    """MP cumulative distribution function (numerical, 4001-point table; error < 1e-6)."""
    xs, c = _mp_cdf_table(round(float(_check_Q(Q)), 12))
    return np.interp(np.asarray(x, dtype=np.float64) / sigma**2, xs, c, left=0.0, right=1.0)


def mp_quantile(p, Q: float, sigma: float = 1.0) -> np.ndarray:
    """Inverse of :func:`mp_cdf`."""
    xs, c = _mp_cdf_table(round(float(_check_Q(Q)), 12))
    return sigma**2 * np.interp(np.asarray(p, dtype=np.float64), c, xs)


def sample_mp(N: int, M: int, sigma: float = 1.0, seed: int = 0) -> np.ndarray:
    """Eigenvalues (ascending) of W^T W / N for an N x M Gaussian W with entry std sigma.

    Cost: one N x M x M Gram product and an M x M eigvalsh.
    """
    if N < M:
        raise ShapeError(f"need N >= M, got N={N}, M={M}")
    W = np.random.default_rng(seed).normal(0.0, sigma, size=(N, M))
    return np.clip(np.linalg.eigvalsh(W.T @ W / N), 0.0, None)


def tracy_widom_edge(N: int, M: int, sigma: float = 1.0, num_sigmas: float = 3.0) -> float:
    """Largest-eigenvalue threshold for pure noise: Johnstone's (2001) centring + num_sigmas
    Tracy–Widom scales, in units of W^T W / N. Noise exceeds it with probability ~1e-3."""
    a, b = math.sqrt(max(N - 1, 1)), math.sqrt(M)
    mu = (a + b) ** 2 / N
    s = (a + b) * (1.0 / a + 1.0 / b) ** (1.0 / 3.0) / N
    return sigma**2 * (mu + num_sigmas * s)


@dataclass(frozen=True)
class MPFit:
    """MP fit of an ESD. Eigenvalues in the units of the ESD given (raw W^T W).

    sigma_mp: fitted entry std; lambda_plus/lambda_minus: bulk edges; threshold: lambda_plus
    plus the Tracy–Widom margin; num_spikes: eigenvalues above it; mp_softrank:
    lambda_plus / lambda_max (WeightWatcher's definition).
    """

    sigma_mp: float
    lambda_plus: float
    lambda_minus: float
    threshold: float
    num_spikes: int
    mp_softrank: float
    Q: float
    N: int
    M: int


def fit_mp(evals, N: int, M: int, tw_sigmas: float = 3.0, scale: float | None = None) -> MPFit:
    """Fit the MP bulk to the eigenvalues of W^T W (W is N x M, N >= M).

    The variance is matched on the median (robust to spikes and to a heavy tail):
    sigma^2 = median(evals / N) / median_MP(Q). Eigenvalues above lambda_plus plus
    ``tw_sigmas`` Tracy–Widom scales count as spikes. ``scale`` (default N) divides the
    eigenvalues first (pooled conv slices keep N). Cost: O(M log M).
    """
    ev = np.sort(np.asarray(evals, dtype=np.float64).ravel())
    if N < M:
        N, M = M, N
    if ev.size < 2:
        raise RankError(f"MP fit needs at least 2 eigenvalues, got {ev.size}")
    Q = N / M
    s = float(N if scale is None else scale)
    x = ev / s
    med = float(np.median(x))
    sigma2 = med / float(mp_quantile(0.5, Q))
    if not sigma2 > 0:
        sigma2 = float(np.mean(x))
    sigma = math.sqrt(max(sigma2, 0.0))
    lo, hi = mp_edges(Q, sigma)
    thr = tracy_widom_edge(N, M, sigma, tw_sigmas)
    num_spikes = int(np.count_nonzero(x > thr))
    lmax = float(x[-1])
    return MPFit(sigma_mp=sigma, lambda_plus=hi * s, lambda_minus=lo * s, threshold=thr * s,
                 num_spikes=num_spikes, mp_softrank=(hi / lmax) if lmax > 0 else float("nan"),
                 Q=Q, N=int(N), M=int(M))


# ------------------------------------------------------------------ Wigner


def semicircle_density(x, sigma: float = 1.0) -> np.ndarray:
    """Wigner semicircle sqrt(4 sigma^2 - x^2) / (2 pi sigma^2) on [-2 sigma, 2 sigma]."""
    x = np.asarray(x, dtype=np.float64)
    r2 = 4.0 * sigma**2 - x**2
    return np.where(r2 > 0, np.sqrt(np.clip(r2, 0, None)) / (2 * np.pi * sigma**2), 0.0)


def sample_wigner(n: int, sigma: float = 1.0, seed: int = 0) -> np.ndarray:
    """Eigenvalues of a symmetric Gaussian n x n matrix with off-diagonal variance
    sigma^2 / n (GOE scaling): they fill [-2 sigma, 2 sigma]. Cost: one n x n eigvalsh."""
    A = np.random.default_rng(seed).normal(0.0, sigma / math.sqrt(n), size=(n, n))
    return np.linalg.eigvalsh((A + A.T) / math.sqrt(2.0))


# ------------------------------------------------------------------ spiked covariance


def bbp_threshold(gamma: float) -> float:
    """BBP transition: a spike theta is detectable iff theta > sqrt(gamma), gamma = p / n."""
    return math.sqrt(gamma)


def spike_location(theta: float, gamma: float) -> float:
    """Limit of the top sample eigenvalue of I + theta u u^T (Baik–Ben Arous–Péché):
    (1 + theta)(1 + gamma / theta) above the threshold, (1 + sqrt(gamma))^2 below."""
    if theta > math.sqrt(gamma):
        return (1.0 + theta) * (1.0 + gamma / theta)
    return (1.0 + math.sqrt(gamma)) ** 2


def spike_overlap(theta: float, gamma: float) -> float:
    """Limit of |<v_top, u>|^2: (1 - gamma/theta^2) / (1 + gamma/theta) above, 0 below."""
    if theta > math.sqrt(gamma):
        return (1.0 - gamma / theta**2) / (1.0 + gamma / theta)
    return 0.0


def sample_spiked_covariance(n: int, p: int, theta: float, seed: int = 0):
    """Sample covariance S = X^T X / n, rows of X ~ N(0, I + theta e_1 e_1^T).

    Returns ``(evals, overlap)``: ascending eigenvalues of S and |<v_top, e_1>|^2.
    Cost: one n x p x p product and a p x p eigh.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 0] *= math.sqrt(1.0 + theta)
    vals, vecs = np.linalg.eigh(X.T @ X / n)
    return vals, float(vecs[0, -1] ** 2)


# ------------------------------------------------------------------ heavy tails


def heavy_tail_alpha(mu: float) -> float:
    """ESD tail exponent of W^T W for entries with P(|w| > t) ~ t^-mu (Martin & Mahoney):
    1 + mu/2 for 0 < mu < 2 (very heavy tailed); NaN for mu >= 2, where the exponent is
    finite-size dependent (2 < mu < 4) or there is no power-law tail (mu >= 4, MP bulk)."""
    return 1.0 + mu / 2.0 if 0 < mu < 2 else float("nan")


def heavy_tail_density(x, mu: float, xmin: float) -> np.ndarray:
    """Normalized power-law tail density (alpha - 1)/xmin (x/xmin)^-alpha for x >= xmin,
    alpha = heavy_tail_alpha(mu)."""
    a = heavy_tail_alpha(mu)
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= xmin, (a - 1.0) / xmin * (x / xmin) ** (-a), 0.0)


def sample_heavy_tailed(N: int, M: int, mu: float, seed: int = 0) -> np.ndarray:
    """Eigenvalues of W^T W / N for symmetric Pareto entries with tail exponent mu
    (|w| = U^(-1/mu), random sign). Cost: one Gram product and an M x M eigvalsh."""
    if N < M:
        raise ShapeError(f"need N >= M, got N={N}, M={M}")
    rng = np.random.default_rng(seed)
    W = rng.uniform(size=(N, M)) ** (-1.0 / mu) * rng.choice([-1.0, 1.0], size=(N, M))
    return np.clip(np.linalg.eigvalsh(W.T @ W / N), 0.0, None)
