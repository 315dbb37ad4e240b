"""Choosing the rank from the singular values: an energy threshold, the elbow of the
spectrum, and the optimal hard threshold of Gavish & Donoho (2014) for a low-rank matrix
in white noise (known or unknown noise level)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from workbench.errors import ShapeError


def _sv(s) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64).ravel()
    if s.size == 0:
        raise ShapeError("no singular values given")
    if not np.isfinite(s).all():
        from workbench.errors import NonFiniteError

        raise NonFiniteError("singular values contain NaN or inf")
    return np.sort(np.abs(s))[::-1]


def energy_rank(s, energy: float = 0.9) -> int:
    """Smallest k with sum_{i<=k} s_i^2 >= energy * sum s_i^2 (energy in (0, 1])."""
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    s = _sv(s)
    c = np.cumsum(s**2)
    if c[-1] == 0:
        return 1
    return int(np.searchsorted(c / c[-1], energy - 1e-12) + 1)


def elbow_rank(s, log: bool = True) -> int:
    """The elbow of the (log) singular value curve: the point farthest from the straight
    line joining its first and last points (the "kneedle" rule). On a decreasing curve
    that point is the first one after the drop, so the values before it are kept: returns
    its 0-based index (at least 1) — 5 for five large values followed by small ones."""
    s = _sv(s)
    if len(s) <= 2:
        return 1
    y = np.log(np.maximum(s, s[0] * 1e-16)) if log else s
    x = np.arange(len(y), dtype=np.float64)
    x1, y1, x2, y2 = x[0], y[0], x[-1], y[-1]
    dist = np.abs((y2 - y1) * x - (x2 - x1) * y + x2 * y1 - y2 * x1)
    dist /= np.hypot(y2 - y1, x2 - x1) or 1.0
    return max(1, int(np.argmax(dist)))


def _lambda_star(beta: float) -> float:
    return float(np.sqrt(2 * (beta + 1) + 8 * beta / (beta + 1 + np.sqrt(beta**2 + 14 * beta
                                                                        + 1))))


@lru_cache(maxsize=64)
def marchenko_pastur_median(beta: float) -> float:
    """Median of the Marchenko–Pastur distribution with aspect ratio beta in (0, 1]
    (variance 1), by quadrature and root finding."""
    from scipy.integrate import quad
    from scipy.optimize import brentq

    lo, hi = (1 - np.sqrt(beta)) ** 2, (1 + np.sqrt(beta)) ** 2

    def dens(t):
        return np.sqrt(max((hi - t) * (t - lo), 0.0)) / (2 * np.pi * beta * t)

    def cdf(x):
        return quad(dens, lo, x, limit=200)[0]

    return float(brentq(lambda x: cdf(x) - 0.5, lo + 1e-12, hi))


def gavish_donoho_threshold(s, shape: tuple[int, int], sigma: float | None = None) -> float:
    """The optimal hard threshold tau for singular values of an m x n matrix X + sigma Z
    (Z i.i.d. N(0, 1)): tau = lambda*(beta) sqrt(n) sigma with known sigma, and
    tau = lambda*(beta) / sqrt(mu_beta) * median(s) with unknown sigma (mu_beta: the
    Marchenko–Pastur median); beta = min(m, n) / max(m, n), n = max(m, n)."""
    m, n = sorted(int(d) for d in shape)
    if m < 1:
        raise ShapeError(f"shape must be positive, got {shape}")
    beta = m / n
    s = _sv(s)
    if sigma is not None:
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        return _lambda_star(beta) * np.sqrt(n) * float(sigma)
    if len(s) != m:
        raise ShapeError(f"with unknown noise all {m} singular values are needed (their "
                         f"median estimates the noise), got {len(s)}")
    return _lambda_star(beta) / np.sqrt(marchenko_pastur_median(beta)) * float(np.median(s))


def gavish_donoho_rank(s, shape: tuple[int, int], sigma: float | None = None) -> int:
    """Number of singular values above :func:`gavish_donoho_threshold` (may be 0)."""
    tau = gavish_donoho_threshold(s, shape, sigma)
    return int(np.sum(_sv(s) > tau))


def select_rank(s, shape: tuple[int, int] | None = None, rule: str = "energy",
                **kw) -> int:
    """Dispatch: rule in {"energy", "elbow", "gavish_donoho"} (keyword args passed on)."""
    if rule == "energy":
        return energy_rank(s, **kw)
    if rule == "elbow":
        return elbow_rank(s, **kw)
    if rule == "gavish_donoho":
        if shape is None:
            raise ShapeError("the Gavish–Donoho rule needs the matrix shape")
        return gavish_donoho_rank(s, shape, **kw)
    raise ValueError(f"rule must be 'energy', 'elbow' or 'gavish_donoho', got {rule!r}")
