"""Spectral density estimation: stochastic Lanczos quadrature (SLQ) and the kernel
polynomial method (KPM).

The spectral density of a symmetric n x n operator is phi(x) = (1/n) sum_i delta(x - l_i).
SLQ (Golub & Meurant; Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019) runs m
Lanczos steps from each of P random unit probes z: the Ritz values theta_j and squared
first components w_j = (e_1^T s_j)^2 of the tridiagonal T form an m-point Gauss rule for
the measure sum_i (z^T q_i)^2 delta(x - l_i), whose expectation is phi. The nodes and
weights are returned as they are (so outliers show up as isolated nodes) together with a
Gaussian-broadened density on a grid.

KPM (Weisse et al. 2006) estimates Chebyshev moments mu_k = E[z^T T_k(B) z] of the
operator scaled into [-1, 1] and sums the Jackson-damped Chebyshev series. It needs no
reorthogonalization (O(n) memory per probe) but resolves outliers only to ~ range/M. With
K products per probe it gets 2K + 1 moments (mu_2k = 2 t_k.t_k - mu_0,
mu_2k-1 = 2 t_k.t_k-1 - mu_1, t_k = T_k(B) z), the same polynomial degree an SLQ run of K
steps integrates exactly.

Both keep what they computed (the tridiagonals, the moments), so ``DensityResult
.with_steps(j)`` gives the estimate of a shorter run and ``with_sigma(s)`` another
broadening without a single new product.
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
BASIS_BUDGET = 2**24  # elements of Lanczos basis held at once (128 MB in float64)


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
    num_probes : number of random probe vectors P (applied as blocks; with full
        reorthogonalization in chunks whose bases fit in BASIS_BUDGET elements).
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
    node / estimated spectral interval); SLQ keeps the tridiagonals (alpha, beta, lengths)
    and KPM the moments, so ``with_steps(j)`` (a shorter run) and ``with_sigma(s)`` (SLQ:
    another broadening) cost no products.

    Cost: SLQ P*m matvecs (fewer at breakdown) + O(n m^2 P) flops of reorthogonalization
    and P*m*n numbers of memory (chunked, see num_probes); KPM P*floor(M/2) matvecs
    (Chebyshev doubling) plus ~20 for the spectral bounds, O(n P) memory.
    """
    t0 = time.perf_counter()
    op = as_square_operator(op, "spectral_density", symmetric=True)
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
    alpha, beta, lengths = _lanczos_probes(op, Z, num_steps, reorth)
    return slq_result(alpha, beta, lengths, num_steps=num_steps, sigma=sigma, grid=grid,
                      grid_size=grid_size, num_matvecs=op.num_matvecs - before,
                      seconds=time.perf_counter() - t0, seed=seed, reorth=reorth)


def basis_budget(op) -> int:
    """Elements of Lanczos basis SLQ may hold at once: BASIS_BUDGET, or a quarter of the
    operator's memory budget (``op.budget`` bytes, e.g. a curvature operator's
    max_memory) when that is larger, so that the probes of a big model still run as one
    block when the device has room."""
    budget = getattr(op, "budget", None)
    if not budget:
        return BASIS_BUDGET
    itemsize = np.dtype(ba.numpy_dtype(op.dtype)).itemsize
    return max(BASIS_BUDGET, int(budget) // (4 * itemsize))


def _lanczos_probes(op, Z, num_steps: int, reorth: str, chunk: int | None = None):
    """lanczos_batch over the probe columns of Z: all probes advance together, one block
    product (``op.matmat``) per step, each probe keeping its own tridiagonal. With full
    reorthogonalization the probes are split into chunks whose bases (probes x steps x n)
    fit ``basis_budget(op)`` elements (or `chunk` probes when given). Each probe is an
    independent Lanczos process, so chunking changes the result by rounding only."""
    n, P = Z.shape
    m = min(num_steps, n)
    if chunk is None:
        chunk = P if reorth == "none" else max(1, min(P, basis_budget(op) // max(1, m * n)))
    parts = [lanczos_batch(op, Z[:, i:i + chunk], num_steps, reorth, keep_basis=False)[:3]
             for i in range(0, P, chunk)]
    alpha, beta, lengths = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return alpha, beta, lengths


def slq_nodes(alpha: np.ndarray, beta: np.ndarray, lengths: np.ndarray,
              num_steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gauss nodes and weights (P x m) of each probe's tridiagonal, using its leading
    min(lengths[p], num_steps) steps (all steps when num_steps is None). Rows shorter than
    m are padded with weight-0 copies of their last node. Cost O(P m^2), no matvecs."""
    P = alpha.shape[0]
    m = alpha.shape[1] if num_steps is None else max(1, min(int(num_steps), alpha.shape[1]))
    nodes = np.zeros((P, m))
    weights = np.zeros((P, m))
    for p in range(P):
        L = int(min(lengths[p], m))
        th, w = gauss_quadrature(alpha[p, :L], beta[p, :L])
        nodes[p, :L] = th
        nodes[p, L:] = th[-1]
        weights[p, :L] = w
    return nodes, weights


def slq_result(alpha, beta, lengths, num_steps, sigma=None, grid=None, grid_size=512,
               num_matvecs=0, seconds=0.0, seed=None, reorth="full") -> DensityResult:
    """The SLQ DensityResult of given Lanczos tridiagonals (alpha, beta: P x m; lengths:
    steps each probe ran), truncated to `num_steps`. Cost O(P m^2 + G P m), no matvecs."""
    nodes, weights = slq_nodes(alpha, beta, lengths, num_steps)
    m = nodes.shape[1]
    lo, hi = float(nodes.min()), float(nodes.max())
    if sigma is None:
        sigma = default_sigma(lo, hi, m)
    grid = _grid(grid, lo - 5 * sigma, hi + 5 * sigma, grid_size)
    density = broadened_density(grid, nodes, weights, sigma)
    return DensityResult(grid=grid, density=density, nodes=nodes, weights=weights,
                         sigma=float(sigma), num_probes=alpha.shape[0], num_steps=num_steps,
                         num_matvecs=num_matvecs, seconds=seconds, method="slq", seed=seed,
                         bounds=(lo, hi), alpha=alpha, beta=beta,
                         lengths=np.asarray(lengths), reorth=reorth)


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


def kpm_moments(op, Z, M: int, center: float, halfwidth: float) -> np.ndarray:
    """Chebyshev moments mu_0..mu_{M-1} of B = (A - center) / halfwidth, averaged over
    the unit probe columns of Z: mu_k = mean_p z_p^T T_k(B) z_p. Uses the doubling
    identities (T_2k = 2 T_k^2 - 1, T_2k-1 = 2 T_k T_k-1 - T_1), so it costs
    P * floor(M / 2) matvecs."""
    c, d = center, halfwidth
    K = M // 2  # products per probe: moments up to 2K >= M - 1
    mu = np.zeros(2 * K + 1)
    mu[0] = float(np.mean(_colsum(Z, Z)))
    if K == 0:
        return mu[:M]
    t_prev, t_cur = Z, (op.matmat(Z) - c * Z) / d
    mu[1] = float(np.mean(_colsum(Z, t_cur)))
    mu[2] = 2.0 * float(np.mean(_colsum(t_cur, t_cur))) - mu[0]
    for k in range(2, K + 1):
        t_prev, t_cur = t_cur, 2.0 * (op.matmat(t_cur) - c * t_cur) / d - t_prev
        mu[2 * k - 1] = 2.0 * float(np.mean(_colsum(t_cur, t_prev))) - mu[1]
        mu[2 * k] = 2.0 * float(np.mean(_colsum(t_cur, t_cur))) - mu[0]
    return mu[:M]


def kpm_cost(num_probes: int, num_moments: int) -> int:
    """Matvecs spent on `num_moments` Chebyshev moments of `num_probes` probes (without
    the spectral-bounds run)."""
    return num_probes * (num_moments // 2)


def kpm_series(moments: np.ndarray, bounds: tuple[float, float], grid=None,
               grid_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(grid, density) of the Jackson-damped Chebyshev series with `moments` on the
    interval `bounds`, normalized to integrate to 1 over the grid (negative ripples
    clipped to 0). Cost O(G M), no matvecs."""
    M = len(moments)
    lo, hi = bounds
    c, d = (hi + lo) / 2.0, (hi - lo) / 2.0
    g = jackson_kernel(M)
    grid = _grid(grid, lo, hi, grid_size)
    t = np.clip((grid - c) / d, -1 + 1e-12, 1 - 1e-12)
    Tk = np.polynomial.chebyshev.chebvander(t, M - 1)  # (G, M)
    coef = g * moments
    coef[1:] *= 2.0
    dens = (Tk @ coef) / (np.pi * np.sqrt(1.0 - t * t)) / d
    dens = np.maximum(dens, 0.0)
    inside = (grid > lo) & (grid < hi)
    dens[~inside] = 0.0
    area = trapezoid(dens, grid)
    if area > 0:
        dens = dens / area
    return grid, dens


def kpm_result(moments, bounds, num_probes, grid=None, grid_size=512, num_matvecs=0,
               seconds=0.0, seed=None) -> DensityResult:
    """The KPM DensityResult of given moments on `bounds` (resolution pi * halfwidth / M
    reported as sigma)."""
    M = len(moments)
    grid, dens = kpm_series(moments, bounds, grid, grid_size)
    return DensityResult(grid=grid, density=dens, nodes=np.zeros((num_probes, 0)),
                         weights=np.zeros((num_probes, 0)),
                         sigma=float(np.pi * (bounds[1] - bounds[0]) / 2.0 / M),
                         num_probes=num_probes, num_steps=M, num_matvecs=num_matvecs,
                         seconds=seconds, method="kpm", seed=seed,
                         bounds=(float(bounds[0]), float(bounds[1])),
                         moments=np.asarray(moments))


def _kpm(op, Z, M, seed, grid, grid_size, t0, before, rng):
    n = op.shape[0]
    lo, hi = spectral_bounds(op, min(20, n), seed=None if seed is None else seed + 1)
    width = hi - lo
    pad = 0.01 * max(width, 1e-12 * max(abs(lo), abs(hi), 1.0))
    lo, hi = lo - pad, hi + pad
    Z = Z / ba.norm(Z, axis=0)[None, :]
    mu = kpm_moments(op, Z, M, (hi + lo) / 2.0, (hi - lo) / 2.0)
    return kpm_result(mu, (lo, hi), Z.shape[1], grid, grid_size,
                      num_matvecs=op.num_matvecs - before, seconds=time.perf_counter() - t0,
                      seed=seed)


def _colsum(X, Y) -> np.ndarray:
    """Column-wise inner products x_p^T y_p as numpy float64."""
    return ba.to_numpy((X * Y).sum(axis=0)).astype(np.float64)


def eigenvalue_histogram(eigenvalues, bins: int = 80, range=None  # noqa: A002
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(edges (bins + 1,), density (bins,)) of exact eigenvalues, normalized like a
    spectral density (integrates to 1): the ground truth a density estimate is drawn
    against. Cost O(n)."""
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if range is None:
        lo, hi = float(lam.min()), float(lam.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        range = (lo, hi)  # noqa: A001
    dens, edges = np.histogram(lam, bins=int(bins), range=range, density=True)
    return edges, dens


def wasserstein_error(eigenvalues, result: DensityResult, smoothed: bool = False) -> float:
    """Wasserstein-1 distance between the exact eigenvalue distribution and an estimate:
    SLQ's discrete node measure (or, with `smoothed`, its broadened density on the grid,
    i.e. what a plot shows), or KPM's density on its grid. Cost O(n log n + G)."""
    from scipy.stats import wasserstein_distance

    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if result.method == "slq" and not smoothed:
        x, w = result.node_samples()
        return float(wasserstein_distance(lam, x, None, w))
    if not np.any(result.density > 0):
        return float("nan")
    return float(wasserstein_distance(lam, result.grid, None, result.density))


def eigenvalue_marks(eigenvalues, max_points: int = 600, ends: int = 40) -> np.ndarray:
    """At most `max_points` of the exact eigenvalues (ascending) to mark on a plot: all of
    them when there are few, else the `ends` smallest and largest (where the outliers
    are, and where Lanczos converges first) plus evenly spaced order statistics of the
    rest. Cost O(n log n)."""
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())
    n = len(lam)
    if n <= max_points:
        return lam
    ends = max(0, min(ends, max_points // 2))
    middle = max_points - 2 * ends
    idx = np.unique(np.r_[np.arange(ends), np.linspace(ends, n - ends - 1, middle).round()
                          .astype(int), np.arange(n - ends, n)])
    return lam[idx]
