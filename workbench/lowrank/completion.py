"""Matrix completion: recover a low-rank matrix from a fraction of its entries.

- :func:`alternating_minimization` (Jain, Netrapalli & Sanghavi 2013): spectral start
  from the rescaled observed matrix, then alternate exact least-squares updates of the row
  factor U and the column factor V on the observed entries (one numba-compiled k x k
  Cholesky solve per row/column, parallel over rows).
- :func:`soft_impute` (Mazumder, Hastie & Tibshirani 2010): repeat Z <- S_lambda(P_obs(M)
  + P_unobs(Z)) with S_lambda soft-thresholding the singular values (a truncated
  randomized SVD), with a decreasing lambda path.
- :func:`phase_transition`: success rate against the sampling rate — recovery switches on
  sharply once the number of samples passes a few times the degrees of freedom
  r (m + n - r).

A recovery is reported as a success only when a held-out part of the observed entries
(5% by default) is predicted to the tolerance, so failure below the threshold is detected
without knowing the truth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.backends.numba_support import parallel_guard, register_warmup
from workbench.errors import NonFiniteError, RankError, ShapeError
from workbench.lowrank.results import relative_fro_error

try:
    import numba
except ImportError:  # pragma: no cover
    numba = None


@dataclass(frozen=True)
class CompletionResult:
    """A completed matrix X = U V^T.

    U (m x k), V (n x k); rank; method; history: per sweep dict(iteration, train_error
    (relative RMS on the fitted entries), holdout_error (on held-out observed entries),
    true_error (relative Frobenius vs `truth` when given), seconds); converged (train error
    below tol); recovered (holdout error below `success_tol`, or true error when the truth
    was given); seconds; seconds_per_sweep; observed_fraction; params; message (why it
    failed, for a person).
    """

    U: np.ndarray
    V: np.ndarray
    rank: int
    method: str
    history: list[dict[str, float]]
    converged: bool
    recovered: bool
    seconds: float
    seconds_per_sweep: float
    observed_fraction: float
    params: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    @property
    def X(self) -> np.ndarray:
        return self.U @ self.V.T

    @property
    def final_error(self) -> float:
        h = self.history[-1]
        return h.get("true_error", h["holdout_error"])


# --------------------------------------------------------------------------- inputs
def _prepare(M, mask, rank):
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or min(M.shape) == 0:
        raise ShapeError(f"matrix must be 2-D and non-empty, got shape {M.shape}")
    if mask is None:
        mask = np.isfinite(M)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != M.shape:
        raise ShapeError(f"mask shape {mask.shape} differs from matrix shape {M.shape}")
    if not mask.any():
        raise ShapeError("the mask is empty: no entry is observed")
    if not np.isfinite(M[mask]).all():
        raise NonFiniteError("observed entries contain NaN or inf (mark them unobserved "
                             "in the mask instead)")
    m, n = M.shape
    if not isinstance(rank, int | np.integer) or not 1 <= rank <= min(m, n):
        raise RankError(f"rank must be between 1 and min(m, n) = {min(m, n)}, got {rank}")
    return M, mask


def _split(mask: np.ndarray, holdout: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the training and held-out observed entries."""
    r, c = np.nonzero(mask)
    if holdout <= 0 or len(r) < 20:
        return (r, c), (r[:0], c[:0])
    hold = rng.random(len(r)) < holdout
    return (r[~hold], c[~hold]), (r[hold], c[hold])


def _csr(rows, cols, vals, m):
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    return np.cumsum(indptr), cols.astype(np.int64), vals


# --------------------------------------------------------------------------- kernels
if numba is not None:
    @numba.njit(cache=True, parallel=True, fastmath=True)
    def _ls_rows(indptr, indices, values, F, lam, out):  # pragma: no cover - compiled
        """out[i] = argmin_u sum_{j in row i} (values - u . F[j])^2 + lam |u|^2: the k x k
        normal equations (full-square rank-1 updates, which vectorize) solved by an
        in-place Cholesky factorization — no LAPACK call or allocation per row beyond
        two tiny buffers (2.2x faster than np.linalg.solve per row at k = 10)."""
        m = indptr.shape[0] - 1
        k = F.shape[1]
        for i in numba.prange(m):
            G = np.zeros((k, k))
            rhs = np.zeros(k)
            for p in range(indptr[i], indptr[i + 1]):
                f = F[indices[p]]
                v = values[p]
                for a in range(k):
                    fa = f[a]
                    rhs[a] += v * fa
                    for b in range(k):
                        G[a, b] += fa * f[b]
            for a in range(k):
                G[a, a] += lam
            for j in range(k):                      # G = L L^T, L in the lower triangle
                s = G[j, j]
                floor = 1e-13 * s + 1e-300          # pivots lost to rounding: not < 0
                for q in range(j):
                    s -= G[j, q] * G[j, q]
                d = np.sqrt(max(s, floor))
                G[j, j] = d
                for r in range(j + 1, k):
                    t = G[r, j]
                    for q in range(j):
                        t -= G[r, q] * G[j, q]
                    G[r, j] = t / d
            for j in range(k):                      # L y = rhs
                t = rhs[j]
                for q in range(j):
                    t -= G[j, q] * rhs[q]
                rhs[j] = t / G[j, j]
            for j in range(k - 1, -1, -1):          # L^T x = y
                t = rhs[j]
                for q in range(j + 1, k):
                    t -= G[q, j] * rhs[q]
                rhs[j] = t / G[j, j]
            for a in range(k):
                out[i, a] = rhs[a]

    @numba.njit(cache=True, parallel=True)
    def _predict(rows, cols, U, V):  # pragma: no cover - compiled
        out = np.empty(rows.shape[0])
        k = U.shape[1]
        for p in numba.prange(rows.shape[0]):
            s = 0.0
            for a in range(k):
                s += U[rows[p], a] * V[cols[p], a]
            out[p] = s
        return out
else:  # pragma: no cover - numba is a dependency; a slow but correct numpy fallback
    def _ls_rows(indptr, indices, values, F, lam, out):
        k = F.shape[1]
        for i in range(len(indptr) - 1):
            sl = slice(indptr[i], indptr[i + 1])
            Fi = F[indices[sl]]
            out[i] = np.linalg.solve(Fi.T @ Fi + lam * np.eye(k), Fi.T @ values[sl])

    def _predict(rows, cols, U, V):
        return np.einsum("ij,ij->i", U[rows], V[cols])


@register_warmup
def _warm() -> None:
    F = np.ones((3, 2))
    out = np.zeros((2, 2))
    _ls_rows(np.array([0, 2, 3]), np.array([0, 1, 2]), np.ones(3), F, 1e-3, out)
    _predict(np.array([0]), np.array([0]), F, F)


def _rel(pred, vals) -> float:
    return relative_fro_error(vals, pred)


# --------------------------------------------------------------------------- methods
def alternating_minimization(M, mask=None, rank: int = 5, *, max_iters: int = 100,
                             tol: float = 1e-9, reg: float = 1e-10, holdout: float = 0.05,
                             success_tol: float = 1e-6, truth=None, seed: int = 0,
                             callback=None) -> CompletionResult:
    """Complete M (m x n; unobserved entries anything, e.g. NaN) from the entries where
    `mask` is True (default: the finite entries) with a rank-`rank` factorization U V^T.

    Spectral initialization (top-k left singular vectors of the observed matrix rescaled
    by 1/p), then alternating exact least squares with the fixed factor orthonormalized
    (a thin QR): each sweep solves one k x k system per row and per column (cost
    O(|obs| k^2 + (m + n) k^3), numba, parallel). Stops when the relative RMS
    error on the training entries falls below `tol` or after `max_iters` sweeps.
    `reg` is a tiny ridge that keeps rows with fewer than k observations solvable.
    A fraction `holdout` of the observed entries is held out to judge success: recovered =
    holdout error (or true error if `truth` is given) <= success_tol. Returns a
    CompletionResult.
    """
    M, mask = _prepare(M, mask, rank)
    m, n = M.shape
    k = int(rank)
    rng = np.random.default_rng(seed)
    (tr, tc), (hr, hc) = _split(mask, holdout, rng)
    tv, hv = M[tr, tc], M[hr, hc]
    t_start = time.perf_counter()
    p = len(tr) / (m * n)
    # spectral start: top-k left singular vectors of P_train(M) / p
    import scipy.sparse as sps
    from scipy.sparse.linalg import svds

    Ms = sps.csr_matrix((tv / p, (tr, tc)), shape=(m, n))
    if k < min(m, n) - 1:
        U0, s0, _ = svds(Ms, k=k, random_state=seed)
    else:
        U0, s0, _ = np.linalg.svd(Ms.toarray(), full_matrices=False)
        U0, s0 = U0[:, :k], s0[:k]
    del s0
    U = np.ascontiguousarray(U0)
    V = np.zeros((n, k))
    row_csr = _csr(tr, tc, tv, m)
    col_csr = _csr(tc, tr, tv, n)
    T = None if truth is None else np.asarray(truth, dtype=np.float64)
    tnorm = float(np.linalg.norm(T)) if T is not None else 0.0
    history: list[dict[str, float]] = []
    converged = False
    sweep_times = []
    # the factor held fixed is orthonormalized (as in Jain et al.'s AltMinComplete), so the
    # k x k normal matrices of a row with |obs_i| entries are ~ |obs_i| / n I: the ridge is
    # relative to the sampling rate p. Orthonormalizing also stops the factors' scales
    # from drifting apart (U c, V / c) and overflowing when the problem is under-sampled.
    lam = reg * len(tv) / (m * n)
    for it in range(1, max_iters + 1):
        t0 = time.perf_counter()
        with parallel_guard():
            Uq = np.ascontiguousarray(np.linalg.qr(U)[0])
            _ls_rows(*col_csr, Uq, lam, V)
            V = np.ascontiguousarray(np.linalg.qr(V)[0])
            _ls_rows(*row_csr, V, lam, U)
            train = _rel(_predict(tr, tc, U, V), tv)
            hold = _rel(_predict(hr, hc, U, V), hv) if len(hr) else train
        sweep_times.append(time.perf_counter() - t0)
        h = dict(iteration=it, train_error=train, holdout_error=hold,
                 seconds=time.perf_counter() - t_start)
        if T is not None:
            h["true_error"] = relative_fro_error(T, U @ V.T, tnorm)
        history.append(h)
        if callback is not None:
            callback(h)
        if train <= tol:
            converged = True
            break
    return _finish("altmin", U, V, k, history, converged, success_tol, t_start,
                   sweep_times, mask, dict(max_iters=max_iters, tol=tol, reg=reg,
                                           holdout=holdout, seed=seed))


def _finish(method, U, V, k, history, converged, success_tol, t_start, sweep_times, mask,
            params) -> CompletionResult:
    last = history[-1]
    err = last.get("true_error", last["holdout_error"])
    recovered = bool(err <= success_tol)
    frac = float(mask.mean())
    m, n = mask.shape
    msg = ""
    if not recovered:
        dof = k * (m + n - k)
        msg = (f"not recovered: {'true' if 'true_error' in last else 'held-out'} error "
               f"{err:.2e} > {success_tol:g} with {int(mask.sum())} observed entries "
               f"({frac:.1%}); a rank-{k} {m}x{n} matrix has {dof} degrees of freedom")
        rows_short = int((mask.sum(1) < k).sum())
        cols_short = int((mask.sum(0) < k).sum())
        if rows_short or cols_short:
            msg += (f"; {rows_short} rows and {cols_short} columns have fewer than {k} "
                    "observed entries and cannot be determined")
    return CompletionResult(U=U, V=V, rank=k, method=method, history=history,
                            converged=converged, recovered=recovered,
                            seconds=time.perf_counter() - t_start,
                            seconds_per_sweep=float(np.median(sweep_times)),
                            observed_fraction=frac, params=params, message=msg)


def soft_impute(M, mask=None, rank: int = 5, *, lam: float | None = None,
                max_iters: int = 100, tol: float = 1e-9, holdout: float = 0.05,
                success_tol: float = 1e-6, truth=None, seed: int = 0, oversample: int = 10,
                callback=None) -> CompletionResult:
    """Soft-impute: Z <- S_lam(P_obs(M) + P_unobs(Z)), S_lam shrinking the singular values
    by lam, on a rank cap of `rank` (randomized SVD of rank + oversample with 2 power
    iterations per sweep: O(m n (k + p)) per sweep). lam starts at s_1(P_obs(M)) / 2 and
    decreases geometrically to `lam` (default 1e-6 x that, near-hard thresholding: the
    low-noise regime). Stops when the relative change of Z is below `tol`. Returns a
    CompletionResult (U carries the singular values).
    """
    from workbench.lowrank.svd import randomized_svd

    M, mask = _prepare(M, mask, rank)
    m, n = M.shape
    k = int(rank)
    rng = np.random.default_rng(seed)
    (tr, tc), (hr, hc) = _split(mask, holdout, rng)
    tv, hv = M[tr, tc], M[hr, hc]
    train_mask = np.zeros((m, n), dtype=bool)
    train_mask[tr, tc] = True
    P = np.zeros((m, n))
    P[tr, tc] = tv
    t_start = time.perf_counter()
    s1 = float(randomized_svd(P, 1, compute_error=False, seed=seed).singular_values[0])
    lam_end = lam if lam is not None else 1e-6 * s1
    lam_cur = max(s1 / 2, lam_end)
    Z = np.zeros((m, n))
    T = None if truth is None else np.asarray(truth, dtype=np.float64)
    tnorm = float(np.linalg.norm(T)) if T is not None else 0.0
    history, sweep_times = [], []
    converged = False
    U = np.zeros((m, k))
    V = np.zeros((n, k))
    for it in range(1, max_iters + 1):
        t0 = time.perf_counter()
        X = np.where(train_mask, P, Z)
        res = randomized_svd(X, k, oversample=oversample, power_iters=2,
                             compute_error=False, seed=seed + it)
        Uf, s, Vt = res.factors["U"], res.singular_values, res.factors["Vt"]
        s_sh = np.maximum(s - lam_cur, 0.0)
        U = Uf * s_sh
        V = Vt.T
        Z_new = U @ Vt
        change = float(np.linalg.norm(Z_new - Z)) / max(float(np.linalg.norm(Z_new)), 1e-300)
        Z = Z_new
        train = _rel(Z[tr, tc], tv)
        hold = _rel(Z[hr, hc], hv) if len(hr) else train
        sweep_times.append(time.perf_counter() - t0)
        h = dict(iteration=it, train_error=train, holdout_error=hold,
                 seconds=time.perf_counter() - t_start)
        if T is not None:
            h["true_error"] = relative_fro_error(T, Z, tnorm)
        history.append(h)
        if callback is not None:
            callback(h)
        lam_cur = max(lam_cur * 0.5, lam_end)
        if lam_cur == lam_end and change <= tol:
            converged = True
            break
    return _finish("softimpute", np.ascontiguousarray(U), np.ascontiguousarray(V), k,
                   history, converged, success_tol, t_start, sweep_times, mask,
                   dict(lam=lam_end, max_iters=max_iters, tol=tol, holdout=holdout,
                        seed=seed))


# --------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class CompletionProblem:
    """A random rank-r incoherent matrix (Gaussian factors) and a uniform sampling mask."""

    truth: np.ndarray
    mask: np.ndarray
    rank: int

    @property
    def observed(self) -> np.ndarray:
        """The matrix with unobserved entries set to NaN."""
        return np.where(self.mask, self.truth, np.nan)


def completion_problem(m: int = 200, n: int = 200, rank: int = 5, fraction: float = 0.3,
                       seed: int = 0) -> CompletionProblem:
    """truth = G H^T / sqrt(r) with i.i.d. Gaussian G (m x r), H (n x r) — incoherent with
    high probability — and each entry observed independently with probability
    `fraction`."""
    if not 0 < fraction <= 1:
        raise ShapeError(f"observed fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n)) / np.sqrt(rank)
    mask = rng.random((m, n)) < fraction
    return CompletionProblem(truth=T, mask=mask, rank=rank)


@dataclass(frozen=True)
class PhaseTransition:
    """Success rate of a completion method against the observed fraction.

    fractions (F,), success (F,) rate over seeds, errors (F, seeds) final true errors,
    oversampling (F,): observed entries / degrees of freedom r (m + n - r).
    """

    fractions: np.ndarray
    success: np.ndarray
    errors: np.ndarray
    oversampling: np.ndarray
    method: str
    shape: tuple[int, int]
    rank: int
    seconds: float


def phase_transition(m: int = 100, n: int = 100, rank: int = 3, fractions=None,
                     seeds: int = 3, method: str = "altmin", success_tol: float = 1e-6,
                     max_iters: int = 60) -> PhaseTransition:
    """Run `method` ("altmin" or "softimpute") on random rank-r problems for each observed
    fraction and `seeds` seeds; a run succeeds when its true relative error is below
    `success_tol`. Costs len(fractions) x seeds completions."""
    fr = np.asarray(fractions if fractions is not None else np.linspace(0.05, 0.5, 10))
    fn = alternating_minimization if method == "altmin" else soft_impute
    errs = np.zeros((len(fr), seeds))
    t0 = time.perf_counter()
    for i, f in enumerate(fr):
        for s in range(seeds):
            prob = completion_problem(m, n, rank, float(f), seed=1000 * s + i)
            res = fn(prob.truth, prob.mask, rank, truth=prob.truth, seed=s, holdout=0.0,
                     max_iters=max_iters, success_tol=success_tol)
            errs[i, s] = res.history[-1]["true_error"]
    dof = rank * (m + n - rank)
    return PhaseTransition(fractions=fr, success=(errs <= success_tol).mean(axis=1),
                           errors=errs, oversampling=fr * m * n / dof, method=method,
                           shape=(m, n), rank=rank, seconds=time.perf_counter() - t0)
