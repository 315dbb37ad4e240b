"""Column/row-based decompositions: CUR (leverage-score or pivoted-QR selection) and the
interpolative decomposition. Their factors are actual columns and rows of A, so they keep
sparsity, non-negativity and meaning (a selected pixel column, a selected neuron)."""

from __future__ import annotations

import time

import numpy as np

from workbench.errors import RankError
from workbench.lowrank._checks import as_matrix, check_rank, numpy_f64
from workbench.lowrank.results import LowRankResult, should_compute_error

SELECTIONS = ("leverage", "qr", "uniform")


def leverage_scores(A: np.ndarray, rank: int, axis: int = 1) -> np.ndarray:
    """Rank-`rank` leverage scores of the columns (axis=1) or rows (axis=0) of A: squared
    norms of the columns of V_k^T (rows of U_k); they sum to `rank`. Costs one exact SVD."""
    import scipy.linalg

    U, _, Vt = scipy.linalg.svd(A, full_matrices=False, check_finite=False)
    if axis == 1:
        return np.sum(Vt[:rank] ** 2, axis=0)
    return np.sum(U[:, :rank] ** 2, axis=1)


def select_columns(A: np.ndarray, c: int, rank: int, method: str = "leverage",
                   seed: int = 0, Vt: np.ndarray | None = None) -> np.ndarray:
    """Indices of `c` columns of A.

    "leverage": sample c distinct columns with probability proportional to their rank-k
    leverage scores (Drineas, Mahoney & Muthukrishnan 2008); "qr": the first c pivots of
    a column-pivoted QR (scipy.linalg.qr(pivoting=True)) of V_k^T when c <= k, else of a
    Gaussian sketch G A with c rows (Q-DEIM-style, deterministic given the seed);
    "uniform": c columns uniformly at random. Vt: top right singular vectors if known.
    """
    import scipy.linalg

    n = A.shape[1]
    rng = np.random.default_rng(seed)
    if method == "uniform":
        return np.sort(rng.choice(n, size=c, replace=False))
    if method == "qr":
        if c <= rank:
            M = Vt[:rank] if Vt is not None else _top_vt(A, rank)
        else:
            M = rng.standard_normal((c, A.shape[0])) @ A
        _, piv = scipy.linalg.qr(M, mode="r", pivoting=True, check_finite=False)
        return np.sort(piv[:c])
    if method == "leverage":
        V = Vt[:rank] if Vt is not None else _top_vt(A, rank)
        p = np.sum(V**2, axis=0)
        p = p / p.sum()
        nz = int(np.count_nonzero(p > 0))
        if nz >= c:
            return np.sort(rng.choice(n, size=c, replace=False, p=p))
        rest = np.setdiff1d(np.arange(n), np.flatnonzero(p > 0))
        extra = rng.choice(rest, size=c - nz, replace=False)
        return np.sort(np.concatenate([np.flatnonzero(p > 0), extra]))
    raise ValueError(f"selection must be one of {SELECTIONS}, got {method!r}")


def _top_vt(A: np.ndarray, rank: int) -> np.ndarray:
    import scipy.linalg

    return scipy.linalg.svd(A, full_matrices=False, check_finite=False)[2][:rank]


def _solve_left(R: np.ndarray, B: np.ndarray) -> np.ndarray:
    """R^+ B for the upper-triangular (or, with more columns than rows, trapezoidal) R of
    a thin QR: a triangular solve (k^2 per column) when R is square and safely invertible,
    else the pseudo-inverse (duplicate or dependent columns; more rows or columns chosen
    than the matrix has on the other side)."""
    import scipy.linalg

    d = np.abs(np.diag(R))
    if R.shape[0] == R.shape[1] and d.size and d.min() > 1e-12 * d.max():
        return scipy.linalg.solve_triangular(R, B, check_finite=False)
    return scipy.linalg.pinv(R, check_finite=False) @ B


def cur_factors(A: np.ndarray, J: np.ndarray, I_: np.ndarray, k: int):
    """(C, U, R) for the columns J and rows I of A with the best rank-k middle factor:
    U = C^+ A R^+ when |J| = |I| = k (the minimizer of ||A - C U R||_F), else
    U = R_C^+ [Q_C^T A Q_R]_k R_R^{+T} from thin QRs C = Q_C R_C, R^T = Q_R R_R (the best
    rank-k U). Costs O(m n (c + r)) for the projected core plus QRs of m x c and n x r."""
    import scipy.linalg

    C, R = A[:, J], A[I_, :]
    c, r = len(J), len(I_)
    if min(c, r) > k:
        Qc, Rc = np.linalg.qr(C)
        Qr, Rr = np.linalg.qr(R.T)
        core = Qc.T @ A @ Qr
        u, s, vt = np.linalg.svd(core, full_matrices=False)
        core_k = (u[:, :k] * s[:k]) @ vt[:k]
        X = _solve_left(Rc, core_k)                         # R_C^+ core_k
        Um = _solve_left(Rr, X.T).T                         # ... R_R^{+T}
    else:
        Um = (scipy.linalg.pinv(C, check_finite=False) @ A
              @ scipy.linalg.pinv(R, check_finite=False))
    return C, Um, R


def cur(A, rank: int, *, columns: int | None = None, rows: int | None = None,
        selection: str = "leverage", seed: int = 0, compute_error: bool | str = "auto",
        reference_sv: np.ndarray | None = None) -> LowRankResult:
    """CUR decomposition A ~ C U R with C = A[:, J] (c columns), R = A[I, :] (r rows) and
    the best middle factor U = C^+ A R^+ (which makes ||A - CUR||_F minimal for these C, R),
    truncated to rank `rank` when c, r > rank.

    columns, rows default to 2 * rank (capped by the matrix size): with leverage-score
    sampling, c = O(k log k / eps^2) columns give (1 + eps) times the optimal Frobenius
    error; 2k is the usual practical choice. Costs one SVD for the selection scores, two
    pseudo-inverses of m x c and r x n matrices. Returns a LowRankResult with factors
    C, U, R and info["columns"], info["rows"] (the indices).
    """
    import scipy.linalg

    A = numpy_f64(as_matrix(A))
    m, n = A.shape
    k = check_rank(rank, (m, n))
    c = min(n, columns if columns is not None else 2 * k)
    r = min(m, rows if rows is not None else 2 * k)
    if c < k or r < k:
        raise RankError(f"CUR of rank {k} needs at least {k} columns and rows, got "
                        f"{c} columns and {r} rows")
    t0 = time.perf_counter()
    U_full, _, Vt_full = scipy.linalg.svd(A, full_matrices=False, check_finite=False)
    J = select_columns(A, c, k, selection, seed, Vt=Vt_full)
    I_ = select_columns(A.T, r, k, selection, seed + 1, Vt=U_full.T)
    C, Um, R = cur_factors(A, J, I_, k)
    dt = time.perf_counter() - t0
    res = LowRankResult("cur", k, {"C": C, "U": Um, "R": R}, (m, n),
                        params=dict(selection=selection, columns=c, rows=r, seed=seed),
                        seconds=dt, info=dict(columns=J, rows=I_))
    if should_compute_error(A, compute_error):
        res = res.with_error(A, reference_sv)
    return res


def interpolative(A, rank: int, *, seed: int = 0, randomized: bool = True,
                  compute_error: bool | str = "auto",
                  reference_sv: np.ndarray | None = None) -> LowRankResult:
    """Interpolative decomposition A ~ A[:, J] P (scipy.linalg.interpolative): `rank`
    actual columns of A and an interpolation matrix P (k x n) containing the identity on J,
    entries bounded by ~2. Costs O(m n log k + k^2 (m+n)) with randomized=True. Returns a
    LowRankResult with factors C (m x k), P (k x n), info["columns"]."""
    import scipy.linalg.interpolative as sli

    A = np.asfortranarray(numpy_f64(as_matrix(A)))
    k = check_rank(rank, A.shape)
    t0 = time.perf_counter()
    if randomized:
        idx, proj = sli.interp_decomp(A, k, rand=True, rng=np.random.default_rng(seed))
    else:
        idx, proj = sli.interp_decomp(A, k, rand=False)
    C = sli.reconstruct_skel_matrix(A, k, idx)
    P = sli.reconstruct_interp_matrix(idx, proj)
    J = np.asarray(idx[:k])
    dt = time.perf_counter() - t0
    res = LowRankResult("id", k, {"C": np.ascontiguousarray(C), "P": P}, A.shape,
                        params=dict(randomized=randomized, seed=seed), seconds=dt,
                        info=dict(columns=np.sort(J)))
    if should_compute_error(A, compute_error):
        res = res.with_error(A, reference_sv)
    return res
