"""Power-law fits of an eigenvalue tail: continuous MLE with xmin chosen by the KS distance.

The default ("power_law", ``finite_size="auto"``) is WeightWatcher's own fit (its ``WWFit``,
the default ``pl_package='ww'``), written down from its published formulas:

- data: eigenvalues above ``thresh`` (1e-5), sorted; candidate xmin = every value but the
  largest;
- for the candidate at index i (tail of n = N - i values):
  ``alpha_i = 1 + n / sum_j log(x_j / x_i)`` (continuous MLE, Clauset et al. 2009);
  ``D_i = max_j |1 - (x_j / x_i)^(1 - alpha_i) - j / n|`` (KS distance, j = 0..n-1);
  ``sigma_i = (alpha_i - 1) / sqrt(n)`` (its standard error);
- xmin = the candidate with the smallest D (first one on ties).
- With fewer than 20 values (WeightWatcher's small-N branch): bias-corrected
  ``alpha = 1 + (n - 1) / sum log(x_j / x_i)``, tails of at least 8 values, xmin by the
  smallest D (WeightWatcher computes a penalized score D - 0.868 / sqrt(n) there but its
  constructor then overrides the choice with argmin D; we reproduce that).
  ``finite_size=True`` applies the bias correction at any N and selects xmin by the
  penalized score, which favours longer tails when there are few eigenvalues.

The KS scan over all candidates is the hot loop (O(N^2)); it is a numba kernel (serial, so
server threads may call it concurrently) with a numpy reference implementation.

Robust options (each returns a finite alpha or ``status="failed"`` with a ``reason``):
``fix_fingers="clip_xmax"`` clips the largest "finger" eigenvalues while alpha drops by more
than ``finger_thresh``; ``fit="truncated_power_law"`` fits ``x^-alpha exp(-Lambda x)`` above
the power-law xmin by maximum likelihood.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from workbench.backends.numba_support import HAVE_NUMBA, register_warmup

EVALS_THRESH = 1e-5
SMALL_N_CUTOFF = 20
SMALL_N_MIN_TAIL = 8

__all__ = ["PowerLawFit", "fit_powerlaw", "ks_scan", "EVALS_THRESH"]


@dataclass(frozen=True)
class PowerLawFit:
    """Result of a power-law fit of an ESD tail.

    alpha, sigma (std error of alpha), D (KS distance), xmin, xmax, num_pl_spikes (values
    >= xmin), Lambda (truncated power law only, else NaN), num_fingers (clipped values),
    raw_alpha (alpha before clipping fingers), status ("success"/"failed"), reason (why it
    failed or what was changed), plus the scan itself (xmins, alphas, Ds) for plots.
    """

    alpha: float
    sigma: float
    D: float
    xmin: float
    xmax: float
    num_pl_spikes: int
    Lambda: float = float("nan")
    num_fingers: int = 0
    raw_alpha: float = float("nan")
    status: str = "success"
    reason: str = ""
    fit: str = "power_law"
    xmins: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    alphas: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    Ds: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "success"


# ---------------------------------------------------------------- the KS scan kernels


def _ks_scan_numpy(x: np.ndarray, bias_corrected: bool, min_tail: int):
    """Reference: alphas, Ds for every candidate xmin = x[i], i < N-1 (x sorted ascending)."""
    N = x.shape[0]
    logx = np.log(x)
    suffix = np.cumsum(logx[::-1])[::-1]  # sum_{j>=i} log x_j
    i = np.arange(N - 1)
    n = (N - i).astype(np.float64)
    s = suffix[:-1] - n * logx[:-1]
    num = n - 1.0 if bias_corrected else n
    with np.errstate(divide="ignore", invalid="ignore"):
        alphas = np.where(s > 1e-300, 1.0 + num / s, 0.0)
    Ds = np.ones(N - 1)
    for k in range(N - 1):
        if N - k < min_tail or not alphas[k] > 1.0:
            continue
        nk = N - k
        F_fit = 1.0 - np.exp((1.0 - alphas[k]) * (logx[k:] - logx[k]))
        Ds[k] = np.max(np.abs(F_fit - np.arange(nk) / nk))
    return alphas, Ds


if HAVE_NUMBA:
    import numba

    @numba.njit(cache=True, nogil=True)
    def _log_suffix_sums(x):  # pragma: no cover - compiled
        """log(x) and its suffix sums: suffix[j] = sum of log(x[j:])."""
        logx = np.log(x)
        suffix = np.empty(x.shape[0])
        acc = 0.0
        for j in range(x.shape[0] - 1, -1, -1):
            acc += logx[j]
            suffix[j] = acc
        return logx, suffix

    @numba.njit(cache=True, nogil=True)
    def _ks_scan_numba(x, bias_corrected, min_tail):  # pragma: no cover - compiled
        N = x.shape[0]
        logx, suffix = _log_suffix_sums(x)
        alphas = np.zeros(N - 1)
        Ds = np.ones(N - 1)
        for i in range(N - 1):
            n = N - i
            s = suffix[i] - n * logx[i]
            if s <= 1e-300:
                continue
            a = 1.0 + ((n - 1.0) if bias_corrected else float(n)) / s
            alphas[i] = a
            if n < min_tail or a <= 1.0:
                continue
            e = 1.0 - a
            li = logx[i]
            d = 0.0
            inv_n = 1.0 / n
            for j in range(n):
                v = abs(1.0 - math.exp(e * (logx[i + j] - li)) - j * inv_n)
                if v > d:
                    d = v
            Ds[i] = d
        return alphas, Ds

    @numba.njit(cache=True, nogil=True)
    def _ks_best_numba(x, bias_corrected, min_tail, penalty, mask_invalid, i_lo, i_hi,
                       stride):  # pragma: no cover - compiled
        """Branch-and-bound KS scan: the candidate minimizing D - penalty / sqrt(n).

        Same alphas and the same selected index as the full scan (ties: first index), but
        the KS sum of a candidate stops as soon as its running max already exceeds the best
        score: its D is returned as NaN ("pruned: worse than the best"). A coarse pass over
        every ``stride``-th candidate first gives a good bound.
        """
        N = x.shape[0]
        logx, suffix = _log_suffix_sums(x)
        alphas = np.zeros(N - 1)
        Ds = np.full(N - 1, np.nan)
        for i in range(N - 1):
            n = N - i
            s = suffix[i] - n * logx[i]
            if s > 1e-300:
                alphas[i] = 1.0 + ((n - 1.0) if bias_corrected else float(n)) / s
        best = -1
        best_score = np.inf
        hint = -1
        for sweep in range(2):
            for i in range(i_lo, i_hi):
                on_grid = (i - i_lo) % stride == 0
                if (sweep == 0) != on_grid:
                    continue
                n = N - i
                a = alphas[i]
                pen = penalty / math.sqrt(n)
                if n < min_tail or not a > 1.0:
                    if mask_invalid:
                        continue
                    Ds[i] = 1.0
                    score = 1.0 - pen
                else:
                    limit = best_score + pen
                    e = 1.0 - a
                    li = logx[i]
                    inv_n = 1.0 / n
                    # try first where the last pruned candidate broke: neighbours of a bad
                    # xmin usually deviate most at the same eigenvalue
                    if hint >= i:
                        j = hint - i
                        v = abs(1.0 - math.exp(e * (logx[hint] - li)) - j * inv_n)
                        if v > limit or (v == limit and i > best):
                            continue
                    d = 0.0
                    pruned = False
                    for j in range(n):
                        v = abs(1.0 - math.exp(e * (logx[i + j] - li)) - j * inv_n)
                        if v > d:
                            d = v
                            if d > limit or (d == limit and i > best):
                                pruned = True
                                hint = i + j
                                break
                    if pruned:
                        continue
                    Ds[i] = d
                    score = d - pen
                if score < best_score or (score == best_score and i < best):
                    best_score = score
                    best = i
        return alphas, Ds, best

    @register_warmup
    def _warm():
        _ks_scan_numba(np.linspace(1.0, 2.0, 32), False, 1)
        _ks_best_numba(np.linspace(1.0, 2.0, 32), False, 1, 0.0, False, 0, 31, 4)
        # imports scipy.optimize/integrate now rather than in a user's first TPL fit
        fit_powerlaw(np.geomspace(1.0, 100.0, 40), fit="truncated_power_law")
else:  # pragma: no cover
    _ks_scan_numba = None
    _ks_best_numba = None


def ks_scan(x: np.ndarray, bias_corrected: bool = False, min_tail: int = 1,
            backend: str = "auto"):
    """Continuous power-law MLE and KS distance for every candidate xmin.

    ``x``: positive values sorted ascending (N of them). Returns ``(alphas, Ds)``, arrays of
    length N-1 for candidates x[0..N-2]; candidates with a tail shorter than ``min_tail`` or
    alpha <= 1 get D = 1. Cost: O(N^2) exp evaluations (numba) — 384 values take ~0.1 ms.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    if backend == "auto":
        backend = "numba" if HAVE_NUMBA else "numpy"
    if backend == "numba":
        return _ks_scan_numba(x, bool(bias_corrected), int(min_tail))
    if backend == "numpy":
        return _ks_scan_numpy(x, bool(bias_corrected), int(min_tail))
    raise ValueError(f"backend must be 'auto', 'numba' or 'numpy', got {backend!r}")


# ---------------------------------------------------------------- single fits


def _failed(reason: str, fit: str, xmax: float = float("nan")) -> PowerLawFit:
    nan = float("nan")
    return PowerLawFit(alpha=nan, sigma=nan, D=nan, xmin=nan, xmax=xmax, num_pl_spikes=0,
                       status="failed", reason=reason, fit=fit)


PRUNE_ABOVE = 1024  # prune="auto": branch-and-bound scan above this many eigenvalues


def _plain_fit(data: np.ndarray, finite_size, backend: str, xmin_range=None,
               prune="auto") -> PowerLawFit:
    """KS-xmin power-law fit of sorted positive ``data`` (WeightWatcher's WWFit)."""
    N = data.shape[0]
    if N < 2:
        return _failed(f"only {N} eigenvalue(s) above the threshold; need at least 2",
                       "power_law")
    small = (N < SMALL_N_CUTOFF) if finite_size == "auto" else bool(finite_size)
    min_tail = SMALL_N_MIN_TAIL if small else 1
    if small and N < SMALL_N_MIN_TAIL + 1:
        return _failed(f"only {N} eigenvalues above the threshold; the finite-size fit "
                       f"needs at least {SMALL_N_MIN_TAIL + 1}", "power_law")
    # WeightWatcher computes J = D - 0.868/sqrt(n) in its small-N branch but then selects
    # xmin by argmin(D) anyway (WWFit.__init__ overrides it); "auto" reproduces that,
    # finite_size=True uses the penalized selection the small-N branch intended.
    penalize = small and finite_size is True
    xmins = data[:-1]
    i_lo, i_hi = 0, N - 1
    if xmin_range is not None:
        lo, hi = xmin_range
        i_lo = int(np.searchsorted(xmins, lo, side="left"))
        i_hi = int(np.searchsorted(xmins, hi, side="right"))
        if i_hi <= i_lo:
            return _failed(f"no candidate xmin inside the range [{lo:.4g}, {hi:.4g}]",
                           "power_law", float(data[-1]))
    if backend == "auto":
        backend = "numba" if HAVE_NUMBA else "numpy"
    use_prune = (N > PRUNE_ABOVE if prune == "auto" else bool(prune)) and backend == "numba"
    if use_prune:
        stride = max(1, (i_hi - i_lo) // 128)
        alphas, Ds, i = _ks_best_numba(np.ascontiguousarray(data, dtype=np.float64), small,
                                       min_tail, 0.868 if penalize else 0.0, small, i_lo,
                                       i_hi, stride)
        if i < 0 or not np.any(alphas > 1.0):
            return _failed("no candidate xmin gives alpha > 1 (the tail is not heavy)",
                           "power_law", float(data[-1]))
    else:
        alphas, Ds = ks_scan(data, bias_corrected=small, min_tail=min_tail, backend=backend)
        n_tail = N - np.arange(N - 1)
        score = Ds - 0.868 / np.sqrt(n_tail) if penalize else Ds.copy()
        if small:
            score[(n_tail < min_tail) | ~(alphas > 1.0)] = np.inf
        score[:i_lo] = np.inf
        score[i_hi:] = np.inf
        if not np.isfinite(score).any() or not np.any(alphas > 1.0):
            return _failed("no candidate xmin gives alpha > 1 (the tail is not heavy)",
                           "power_law", float(data[-1]))
        i = int(np.argmin(score))
    alpha = float(alphas[i])
    if not alpha > 1.0:
        return _failed("the best KS candidate has alpha <= 1", "power_law", float(data[-1]))
    n = N - i
    return PowerLawFit(alpha=alpha, sigma=(alpha - 1.0) / math.sqrt(n), D=float(Ds[i]),
                       xmin=float(data[i]), xmax=float(data[-1]), num_pl_spikes=int(n),
                       raw_alpha=alpha, xmins=xmins, alphas=alphas, Ds=Ds,
                       reason="finite-size (bias-corrected) fit" if small else "")


TPL_ALPHA_BOUNDS = (0.0, 20.0)


def tpl_at_bound(alpha: float) -> bool:
    """True when a truncated-power-law alpha sits on the edge of its search range (the tail
    is then exponential rather than a power law)."""
    lo, hi = TPL_ALPHA_BOUNDS
    return bool(alpha <= lo + 1e-6 or alpha >= hi - 1e-6)


def _tpl_negloglik(params, t, sum_logt, sum_t, n):
    """-log L of x^-a exp(-lam x) on x >= xmin, in t = x / xmin units (z = lam * xmin)."""
    from scipy import integrate

    a, logz = params
    z = math.exp(logz)
    val, _ = integrate.quad(lambda u: u ** (-a) * math.exp(-z * (u - 1.0)), 1.0, np.inf,
                            limit=200)
    if not np.isfinite(val) or val <= 0:
        return 1e300
    # normaliser E = exp(-z) * val
    return a * sum_logt + z * sum_t + n * (math.log(val) - z)


def _truncated_fit(data: np.ndarray, base: PowerLawFit) -> PowerLawFit:
    """Truncated power law above the power-law xmin (as the powerlaw package does)."""
    from scipy import optimize

    tail = data[data >= base.xmin]
    n = tail.shape[0]
    if n < 3:
        return _failed(f"{n} values above xmin: too few for a truncated power law",
                       "truncated_power_law", base.xmax)
    t = tail / base.xmin
    sum_logt, sum_t = float(np.sum(np.log(t))), float(np.sum(t))
    x0 = np.array([max(base.alpha, 1.05), math.log(1.0 / max(t[-1], 1.0 + 1e-9))])
    from workbench.eigenspectra.esd import single_blas_thread

    # L-BFGS-B's tiny BLAS calls are ~10x slower with a multi-threaded BLAS on a busy box
    with warnings.catch_warnings(), single_blas_thread():
        warnings.simplefilter("ignore")  # quad's round-off notes near the bounds
        res = optimize.minimize(_tpl_negloglik, x0, args=(t, sum_logt, sum_t, n),
                                method="L-BFGS-B",
                                bounds=[TPL_ALPHA_BOUNDS, (math.log(1e-8 / t[-1]), math.log(50.0))])
    if not res.success and not np.isfinite(res.fun):
        return _failed(f"truncated power-law likelihood did not converge: {res.message}",
                       "truncated_power_law", base.xmax)
    a, logz = float(res.x[0]), float(res.x[1])
    lam = math.exp(logz) / base.xmin
    # KS distance of the fitted TPL on the tail (CDF by numerical integration)
    from scipy import integrate

    def cdf_unnorm(u):
        return integrate.quad(lambda s: s ** (-a) * math.exp(-math.exp(logz) * (s - 1.0)),
                              1.0, u)[0]

    total = integrate.quad(lambda s: s ** (-a) * math.exp(-math.exp(logz) * (s - 1.0)),
                           1.0, np.inf, limit=200)[0]
    grid_idx = np.unique(np.linspace(0, n - 1, min(n, 200)).astype(int))
    F = np.array([cdf_unnorm(t[k]) / total for k in grid_idx])
    D = float(np.max(np.abs(F - grid_idx / n)))
    reason = base.reason
    if tpl_at_bound(a):
        reason = (f"truncated-power-law alpha hit the bound of its range ({a:g}): the tail "
                  "looks exponential rather than power law; Lambda carries the decay")
    return PowerLawFit(alpha=a, sigma=base.sigma, D=D, xmin=base.xmin, xmax=base.xmax,
                       num_pl_spikes=base.num_pl_spikes, Lambda=lam, raw_alpha=base.alpha,
                       fit="truncated_power_law", xmins=base.xmins, alphas=base.alphas,
                       Ds=base.Ds, reason=reason)


def fit_powerlaw(evals, *, fit: str = "power_law", finite_size="auto",
                 fix_fingers: str | None = None, max_fingers: int = 10,
                 finger_thresh: float = 1.0, xmin_range=None, xmax_clip: int = 0,
                 thresh: float = EVALS_THRESH, backend: str = "auto",
                 prune="auto") -> PowerLawFit:
    """Fit a power law to the tail of the eigenvalues ``evals`` (any order).

    Parameters
    ----------
    fit : "power_law" (default) or "truncated_power_law".
    finite_size : "auto" (bias-corrected small-N fit below 20 values, WeightWatcher's rule),
        True (always) or False (never).
    fix_fingers : None or "clip_xmax": refit without the k largest values, k = 1..max_fingers,
        and keep the first fit whose alpha is ``finger_thresh`` below the unclipped alpha.
    xmin_range : (lo, hi) to restrict the candidate xmin values (e.g. from a slider).
    xmax_clip : drop this many largest values before fitting (a manual finger clip).
    prune : "auto" (above 1024 values), True or False: branch-and-bound KS scan (numba).
        Selects the same xmin as the full scan; candidates it proves worse than the best
        keep D = NaN in ``Ds`` (the plot of D over xmin shows the evaluated ones).

    Returns a :class:`PowerLawFit`; never raises for bad data: ``status="failed"`` with a
    ``reason`` instead. Cost: one O(N^2) KS scan (x max_fingers with clip_xmax); pruned,
    in practice far less (4096 FARMS eigenvalues: ~3 ms instead of ~100 ms).
    """
    if fit not in ("power_law", "truncated_power_law"):
        raise ValueError(f"fit must be 'power_law' or 'truncated_power_law', got {fit!r}")
    if fix_fingers not in (None, False, "clip_xmax"):
        raise ValueError(f"fix_fingers must be None or 'clip_xmax', got {fix_fingers!r}")
    x = np.sort(np.asarray(evals, dtype=np.float64).ravel())
    if not np.all(np.isfinite(x)):
        return _failed("eigenvalues hold NaN/inf", fit)
    data = x[x > thresh]
    if xmax_clip:
        if xmax_clip >= data.shape[0] // 2:
            return _failed(f"cannot clip {xmax_clip} of {data.shape[0]} values", fit)
        data = data[:-int(xmax_clip)]
    base = _plain_fit(data, finite_size, backend, xmin_range, prune)
    if not base.ok:
        return base if fit == "power_law" else _failed(base.reason, fit, base.xmax)
    num_fingers, raw_alpha = 0, base.alpha
    if fix_fingers == "clip_xmax":
        for k in range(1, int(max_fingers) + 1):
            if data.shape[0] - k < 2 * SMALL_N_MIN_TAIL:
                break
            f = _plain_fit(data[:-k], finite_size, backend, xmin_range, prune)
            if f.ok and f.alpha + finger_thresh < raw_alpha:
                base, num_fingers = f, k
                break
        base = PowerLawFit(**{**base.__dict__, "num_fingers": num_fingers,
                              "raw_alpha": raw_alpha,
                              "reason": (f"clipped {num_fingers} finger eigenvalue(s)"
                                         if num_fingers else base.reason)})
    if fit == "truncated_power_law":
        data_used = data[:-num_fingers] if num_fingers else data
        tpl = _truncated_fit(data_used, base)
        if tpl.ok and num_fingers:
            tpl = PowerLawFit(**{**tpl.__dict__, "num_fingers": num_fingers,
                                 "raw_alpha": raw_alpha})
        return tpl
    return base
