"""Spectral density estimation: stochastic Lanczos quadrature (SLQ) and the kernel
polynomial method (KPM).

The spectral density of a symmetric n x n operator is phi(x) = (1/n) sum_i delta(x - l_i).
SLQ (Golub & Meurant; Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019) runs m
Lanczos steps from each of P random unit probes z: the Ritz values theta_j and squared
first components w_j = (e_1^T s_j)^2 of the tridiagonal T form an m-point Gauss rule for
the measure sum_i (z^T q_i)^2 delta(x - l_i), whose expectation is phi. The nodes and
weights are returned as they are (so outliers show up as isolated nodes) together with a
Gaussian-broadened density on a grid.

KPM (Weisse et al. 2006) estimates Chebyshev moments mu_k = E[z^T T_k(B) z] / n of the
operator scaled into [-1, 1] and sums the Jackson-damped Chebyshev series. It needs no
reorthogonalization (O(n) memory per probe) but resolves outliers only to ~ range/M.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.integrate import trapezoid
from scipy.linalg import eigh_tridiagonal

from workbench.backends import arrays as ba
from workbench.errors import WorkbenchError
from workbench.spectral._checks import as_square_operator, check_positive_int
from workbench.spectral.lanczos import REORTH, lanczos_batch
from workbench.spectral.results import DensityResult

METHODS = ("slq", "kpm")


def gauss_quadrature(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (Ritz values, ascending) and weights (squared first eigenvector components,
    summing to 1) of the Gauss rule of the tridiagonal (alpha, beta). Cost O(m^2)."""
    m = len(alpha)
    if m == 1:
        return np.array(alpha, dtype=np.float64), np.ones(1)
    theta, S = eigh_tridiagonal(alpha, beta[: m - 1])
    w = S[0, :] ** 2
    return theta, w / w.sum()


def default_sigma(lo: float, hi: float, num_steps: int) -> float:
    """Broadening used when sigma=None: (hi - lo) / (2 num_steps), about half the spacing
    of an m-point Gauss rule over the spectral range (or 1e-3 max(|lo|, |hi|, 1) when the
    range is zero)."""
    width = hi - lo
    if width <= 0:
        return 1e-3 * max(abs(lo), abs(hi), 1.0)
    return width / (2.0 * num_steps)


def broadened_density(grid: np.ndarray, nodes: np.ndarray, weights: np.ndarray,
                      sigma: float) -> np.ndarray:
    """sum_j w_j N(x; theta_j, sigma^2) on `grid`, with the weights normalized to sum to 1
    (nodes, weights: any shape, flattened). Cost O(G * nodes)."""
    x = np.asarray(nodes, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    tot = w.sum()
    if tot <= 0:
        return np.zeros_like(grid, dtype=np.float64)
    w = w / tot
    out = np.zeros(len(grid))
    for start in range(0, len(x), 4096):  # bounded memory for many nodes
        d = (grid[:, None] - x[None, start:start + 4096]) / sigma
        out += np.exp(-0.5 * d * d) @ w[start:start + 4096]
    return out / (sigma * np.sqrt(2.0 * np.pi))


def spectral_density(op, num_probes: int = 10, num_steps: int = 40, seed: int | None = 0,
                     grid=None, grid_size: int = 512, sigma: float | None = None,
                     method: str = "slq", reorth: str = "full",
                     probe: str = "rademacher") -> DensityResult:
    """Estimate the spectral density of a symmetric operator.

    Parameters
    ----------
    op : symmetric square operator.
    num_probes : number of random probe vectors P (run as one block).
    num_steps : Lanczos steps m per probe (SLQ) or number of Chebyshev moments M (KPM).
    seed : seed of the probes.
    grid : points where the density is evaluated; default `grid_size` points spanning the
        nodes +- 5 sigma (SLQ) or the estimated spectral interval (KPM).
    sigma : Gaussian broadening (SLQ); default (range of the nodes) / (2 m). KPM ignores it
        and reports its own resolution pi * halfwidth / M.
    method : "slq" (default) or "kpm".
    reorth : "full" (default) or "none", for SLQ's Lanczos runs.
    probe : "rademacher" (default) or "gaussian" probes, normalized to unit length.

    Returns
    -------
    DensityResult: grid (G,), density (G,) integrating to ~1 over the grid, nodes and
    weights (P x m; SLQ only, each row's weights sum to 1; rows that broke down early are
    padded with weight-0 nodes), num_matvecs, seconds, sigma, bounds (lowest and highest
    node / estimated spectral interval).

    Cost: SLQ P*m matvecs (fewer at breakdown) + O(n m^2 P) flops of reorthogonalization;
    KPM P*(M-1) matvecs plus ~20 for the spectral bounds.
    """
    t0 = time.perf_counter()
    op = as_square_operator(op, "spectral_density")
    num_probes = check_positive_int(num_probes, "num_probes")
    num_steps = check_positive_int(num_steps, "num_steps")
    grid_size = check_positive_int(grid_size, "grid_size", 2)
    if method not in METHODS:
        raise WorkbenchError(f"method={method!r} is not one of {METHODS}")
    if reorth not in REORTH:
        raise WorkbenchError(f"reorth={reorth!r} is not one of {REORTH}")
    if sigma is not None and not (np.isfinite(sigma) and sigma > 0):
        raise WorkbenchError(f"sigma must be a positive number, got {sigma!r}")
    rng = np.random.default_rng(seed)
    before = op.num_matvecs
    Z = op.random_block(num_probes, rng, dist=probe)
    if method == "kpm":
        return _kpm(op, Z, num_steps, seed, grid, grid_size, t0, before, rng)
    alpha, beta, lengths, _, _ = lanczos_batch(op, Z, num_steps, reorth, keep_basis=False)
    m = alpha.shape[1]
    nodes = np.zeros((num_probes, m))
    weights = np.zeros((num_probes, m))
    for p in range(num_probes):
        L = int(lengths[p])
        th, w = gauss_quadrature(alpha[p, :L], beta[p, :L])
        nodes[p, :L] = th
        nodes[p, L:] = th[-1]
        weights[p, :L] = w
    lo, hi = float(nodes.min()), float(nodes.max())
    if sigma is None:
        sigma = default_sigma(lo, hi, m)
    grid = _grid(grid, lo - 5 * sigma, hi + 5 * sigma, grid_size)
    density = broadened_density(grid, nodes, weights, sigma)
    return DensityResult(grid=grid, density=density, nodes=nodes, weights=weights,
                         sigma=float(sigma), num_probes=num_probes,
                         num_steps=num_steps, num_matvecs=op.num_matvecs - before,
                         seconds=time.perf_counter() - t0, method="slq", seed=seed,
                         bounds=(lo, hi))


def _grid(grid, lo, hi, grid_size):
    if grid is None:
        return np.linspace(lo, hi, grid_size)
    grid = np.asarray(grid, dtype=np.float64).ravel()
    if grid.size < 2 or not np.all(np.isfinite(grid)):
        raise WorkbenchError("grid must hold at least 2 finite points")
    return grid


def spectral_bounds(op, num_steps: int = 20, seed: int | None = 0) -> tuple[float, float]:
    """An interval containing the spectrum (with high probability): the extreme Ritz values
    of a short Lanczos run widened by their residual norms. Cost: num_steps matvecs."""
    from workbench.spectral.lanczos import lanczos

    res = lanczos(op, num_steps, seed=seed, keep_basis=False)
    theta, S = res.ritz()
    r = res.residual_norm * np.abs(S[-1, :])
    return float(theta[0] - r[0]), float(theta[-1] + r[-1])


def jackson_kernel(M: int) -> np.ndarray:
    """Jackson damping factors g_0..g_{M-1} for an M-term Chebyshev series."""
    k = np.arange(M)
    q = np.pi / (M + 1)
    return ((M - k + 1) * np.cos(q * k) + np.sin(q * k) / np.tan(q)) / (M + 1)


def _kpm(op, Z, M, seed, grid, grid_size, t0, before, rng):
    n = op.shape[0]
    lo, hi = spectral_bounds(op, min(20, n), seed=None if seed is None else seed + 1)
    width = hi - lo
    pad = 0.01 * max(width, 1e-12 * max(abs(lo), abs(hi), 1.0))
    lo, hi = lo - pad, hi + pad
    c, d = (hi + lo) / 2.0, (hi - lo) / 2.0
    Z = Z / ba.norm(Z, axis=0)[None, :]
    mu = np.zeros(M)
    t_prev = Z
    mu[0] = 1.0
    if M > 1:
        t_cur = (op.matmat(Z) - c * Z) / d
        mu[1] = float(np.mean(ba.to_numpy((Z * t_cur).sum(axis=0))))
        for k in range(2, M):
            t_next = 2.0 * (op.matmat(t_cur) - c * t_cur) / d - t_prev
            mu[k] = float(np.mean(ba.to_numpy((Z * t_next).sum(axis=0))))
            t_prev, t_cur = t_cur, t_next
    g = jackson_kernel(M)
    grid = _grid(grid, lo, hi, grid_size)
    t = np.clip((grid - c) / d, -1 + 1e-12, 1 - 1e-12)
    Tk = np.polynomial.chebyshev.chebvander(t, M - 1)  # (G, M)
    coef = g * mu
    coef[1:] *= 2.0
    dens = (Tk @ coef) / (np.pi * np.sqrt(1.0 - t * t)) / d
    dens = np.maximum(dens, 0.0)
    inside = (grid > lo) & (grid < hi)
    dens[~inside] = 0.0
    area = trapezoid(dens, grid)
    if area > 0:
        dens = dens / area
    P = Z.shape[1]
    return DensityResult(grid=grid, density=dens, nodes=np.zeros((P, 0)),
                         weights=np.zeros((P, 0)), sigma=float(np.pi * d / M),
                         num_probes=P, num_steps=M, num_matvecs=op.num_matvecs - before,
                         seconds=time.perf_counter() - t0, method="kpm", seed=seed,
                         bounds=(lo, hi), moments=mu)
