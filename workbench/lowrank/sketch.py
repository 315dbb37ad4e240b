"""Random sketches S (s x d) that compress the d rows of a tall matrix to s rows while
keeping norms (subspace embeddings), and what they buy: sketched least squares ("fast
regression") and approximate matrix products (sampling).

Sketch kinds: "gaussian" (dense N(0, 1/s)), "sparse_sign" (a few +-1/sqrt(z) per column,
scipy.sparse), "countsketch" (one +-1 per column), "srht" (subsampled randomized Hadamard:
random signs, a fast Walsh–Hadamard transform, s sampled rows), "leverage" (rows sampled
by their leverage scores and rescaled). Each returns S A in O(nnz)-to-O(d log d) time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import RankError, ShapeError
from workbench.lowrank._checks import as_matrix, numpy_f64

SKETCHES = ("gaussian", "sparse_sign", "countsketch", "srht", "leverage")


def fwht(X: np.ndarray) -> np.ndarray:
    """Unnormalized fast Walsh–Hadamard transform along axis 0 (length a power of 2):
    returns H X with H the Sylvester Hadamard matrix (scipy.linalg.hadamard). Costs
    d log2(d) additions per column (numpy, vectorized by level)."""
    X = np.array(X, dtype=np.float64, copy=True)
    d = X.shape[0]
    if d & (d - 1):
        raise ShapeError(f"FWHT needs a power-of-2 length, got {d}")
    tail = X.shape[1:]
    h = 1
    while h < d:
        Y = X.reshape(d // (2 * h), 2, h, *tail)
        a = Y[:, 0].copy()
        Y[:, 0] += Y[:, 1]
        Y[:, 1] = a - Y[:, 1]
        h *= 2
    return X


def sketch(A, size: int, kind: str = "gaussian", *, seed: int = 0, nnz: int = 8,
           return_rows: bool = False):
    """S A for a random s x d sketch S of the given kind (A: d x n numpy, or a vector).

    size: s rows (s <= d for the sampling kinds; any s for the others).
    nnz: non-zeros per column for "sparse_sign" (8 is the usual robust choice).
    Returns S A (s x n); with return_rows=True also the sampled row indices (srht,
    leverage) or None. Costs: gaussian O(s d n), sparse_sign O(nnz d n), countsketch
    O(d n), srht O(d log d n), leverage one thin QR of A (O(d n^2)) plus O(s n).
    """
    A = np.asarray(A, dtype=np.float64)
    vec = A.ndim == 1
    if vec:
        A = A[:, None]
    d = A.shape[0]
    s = int(size)
    if s < 1:
        raise RankError(f"sketch size must be >= 1, got {size}")
    rng = np.random.default_rng(seed)
    rows = None
    if kind == "gaussian":
        SA = rng.standard_normal((s, d)) @ A / np.sqrt(s)
    elif kind in ("sparse_sign", "countsketch"):
        SA = _sparse_sign_matrix(s, d, 1 if kind == "countsketch" else nnz, rng) @ A
    elif kind == "srht":
        if s > d:
            raise RankError(f"SRHT samples rows: size must be <= {d}, got {s}")
        p = 1 << max(0, int(np.ceil(np.log2(d))))
        X = np.zeros((p, A.shape[1]))
        X[:d] = A * rng.choice(np.array([-1.0, 1.0]), size=d)[:, None]
        HX = fwht(X) / np.sqrt(p)
        rows = np.sort(rng.choice(p, size=s, replace=False))
        SA = HX[rows] * np.sqrt(p / s)
    elif kind == "leverage":
        if s > d:
            raise RankError(f"leverage sampling: size must be <= {d}, got {s}")
        Q, _ = np.linalg.qr(A)
        lev = np.sum(Q**2, axis=1)
        prob = lev / lev.sum()
        rows = rng.choice(d, size=s, replace=True, p=prob)
        SA = A[rows] / np.sqrt(s * prob[rows])[:, None]
    else:
        raise ValueError(f"sketch kind must be one of {SKETCHES}, got {kind!r}")
    out = SA[:, 0] if vec else SA
    return (out, rows) if return_rows else out


def _sparse_sign_matrix(s: int, d: int, z: int, rng: np.random.Generator):
    """scipy.sparse s x d matrix with z entries +-1/sqrt(z) per column at random rows."""
    import scipy.sparse as sps

    z = max(1, min(z, s))
    if z == 1:
        rows = rng.integers(0, s, size=d)
    else:
        # z distinct rows per column, uniformly: Floyd's algorithm, vectorized over the
        # d columns (z steps of O(d z))
        chosen = np.empty((d, z), dtype=np.int64)
        for i, j in enumerate(range(s - z, s)):
            t = rng.integers(0, j + 1, size=d)
            dup = (chosen[:, :i] == t[:, None]).any(axis=1)
            chosen[:, i] = np.where(dup, j, t)
        rows = chosen.ravel()
    cols = np.repeat(np.arange(d), z)
    vals = rng.choice(np.array([-1.0, 1.0]), size=d * z) / np.sqrt(z)
    return sps.csr_matrix((vals, (rows, cols)), shape=(s, d))


@dataclass(frozen=True)
class LstsqResult:
    """Sketched least squares min_x ||A x - b||.

    x: the solution; residual: ||A x - b||; exact_residual: ||A x* - b|| (x* by LAPACK);
    residual_ratio = residual / exact_residual (>= 1; (1 + eps) for a subspace embedding);
    x_error = ||x - x*|| / ||x*||; kind, size, method ("sketch-and-solve" or
    "sketch-and-precondition"), iterations (LSQR steps), seconds.
    """

    x: np.ndarray
    residual: float
    exact_residual: float
    x_error: float
    kind: str
    size: int
    method: str
    seconds: float
    exact_seconds: float
    iterations: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def residual_ratio(self) -> float:
        return self.residual / self.exact_residual if self.exact_residual > 0 else \
            (1.0 if self.residual == 0 else float("inf"))


def sketched_lstsq(A, b, size: int | None = None, kind: str = "gaussian", *, seed: int = 0,
                   method: str = "solve", tol: float = 1e-10) -> LstsqResult:
    """Least squares with a sketch (A: d x n with d >> n).

    method="solve" (sketch-and-solve): x = argmin ||S A x - S b||; with s = O(n / eps^2)
    rows the residual is within (1 + eps) of the optimum w.h.p. (for a Gaussian sketch
    E ||A x - b||^2 = (1 + n / (s - n - 1)) ||A x* - b||^2 exactly).
    method="precondition" (sketch-and-precondition, Blendenpik/LSRN): QR of S A = Q R,
    then LSQR on A R^-1, which is well conditioned: converges to x* (to `tol`) in a few
    dozen iterations whatever cond(A) is.
    size defaults to 4 n. Also solves exactly (LAPACK) to report the error.
    Returns LstsqResult.
    """
    import scipy.linalg

    A = numpy_f64(as_matrix(A))
    b = np.asarray(b, dtype=np.float64).ravel()
    d, n = A.shape
    if b.shape[0] != d:
        raise ShapeError(f"b must have length {d} (rows of A), got {b.shape[0]}")
    if not np.isfinite(b).all():
        from workbench.errors import NonFiniteError

        raise NonFiniteError("b contains NaN or inf")
    s = int(size) if size is not None else min(d, 4 * n)
    if s < n:
        raise RankError(f"sketch size must be at least the number of columns ({n}), got {s}")
    t0 = time.perf_counter()
    x_star = scipy.linalg.lstsq(A, b, check_finite=False)[0]
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    Ab = np.column_stack([A, b])
    SAb = sketch(Ab, s, kind, seed=seed)
    SA, Sb = SAb[:, :n], SAb[:, n]
    iters = 0
    if method == "solve":
        x = scipy.linalg.lstsq(SA, Sb, check_finite=False)[0]
    elif method == "precondition":
        from scipy.sparse.linalg import LinearOperator, lsqr

        _, R = np.linalg.qr(SA)
        solve = scipy.linalg.solve_triangular

        def mv(y):
            return A @ solve(R, y, check_finite=False)

        def rmv(z):
            return solve(R, A.T @ z, trans="T", check_finite=False)

        op = LinearOperator((d, n), matvec=mv, rmatvec=rmv, dtype=np.float64)
        out = lsqr(op, b, atol=tol, btol=tol, iter_lim=500)
        x = solve(R, out[0], check_finite=False)
        iters = int(out[2])
    else:
        raise ValueError(f"method must be 'solve' or 'precondition', got {method!r}")
    dt = time.perf_counter() - t0
    res = float(np.linalg.norm(A @ x - b))
    res_star = float(np.linalg.norm(A @ x_star - b))
    nx = float(np.linalg.norm(x_star))
    xerr = float(np.linalg.norm(x - x_star)) / nx if nx > 0 else float(np.linalg.norm(x))
    return LstsqResult(x=x, residual=res, exact_residual=res_star, x_error=xerr, kind=kind,
                       size=s, method="sketch-and-solve" if method == "solve"
                       else "sketch-and-precondition", seconds=dt, exact_seconds=t_exact,
                       iterations=iters, params=dict(seed=seed))


@dataclass(frozen=True)
class MatmulResult:
    """Approximate product A^T B ~ (S A)^T (S B).

    estimate (n x p); error = ||A^T B - estimate||_F / (||A||_F ||B||_F) (the scale of the
    classical bounds); bound: the expected-squared-error bound for the method
    (sampling with p_i ~ ||A_i|| ||B_i||: E err^2 <= 1/c; gaussian: E err^2 <= 2/c);
    relative_error = ||A^T B - estimate||_F / ||A^T B||_F; seconds.
    """

    estimate: np.ndarray
    error: float
    bound: float
    relative_error: float
    kind: str
    size: int
    seconds: float


def approx_matmul(A, B, size: int, kind: str = "sampling", *, seed: int = 0) -> MatmulResult:
    """Approximate A^T B (A: d x n, B: d x p share their d rows) from `size` sampled or
    sketched rows.

    kind="sampling": rows i sampled with probability p_i proportional to ||A_i|| ||B_i||
    (Drineas, Kannan & Mahoney 2006; the optimal probabilities for this estimator), each
    rescaled by 1/sqrt(c p_i) — the "coordinated sampling" of A and B (same rows for both).
    Other kinds: any sketch of :func:`sketch` applied to [A B] at once.
    Costs O(c (n + p)) to form the sketch and O(c n p) for the product.
    """
    A = numpy_f64(as_matrix(A, "A"))
    B = numpy_f64(as_matrix(B, "B"))
    if A.shape[0] != B.shape[0]:
        raise ShapeError(f"A and B must have the same number of rows, got {A.shape[0]} "
                         f"and {B.shape[0]}")
    c = int(size)
    if c < 1:
        raise RankError(f"sample size must be >= 1, got {size}")
    t0 = time.perf_counter()
    n = A.shape[1]
    if kind == "sampling":
        rng = np.random.default_rng(seed)
        w = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)
        if w.sum() == 0:
            est = np.zeros((A.shape[1], B.shape[1]))
        else:
            p = w / w.sum()
            idx = rng.choice(A.shape[0], size=c, replace=True, p=p)
            scale = 1.0 / np.sqrt(c * p[idx])
            est = (A[idx] * scale[:, None]).T @ (B[idx] * scale[:, None])
        bound = 1.0 / c
    else:
        SAB = sketch(np.column_stack([A, B]), c, kind, seed=seed)
        est = SAB[:, :n].T @ SAB[:, n:]
        bound = 2.0 / c
    dt = time.perf_counter() - t0
    exact = A.T @ B
    diff = float(np.linalg.norm(exact - est))
    scale = float(np.linalg.norm(A) * np.linalg.norm(B))
    ne = float(np.linalg.norm(exact))
    return MatmulResult(estimate=est, error=diff / scale if scale else 0.0, bound=bound,
                        relative_error=diff / ne if ne else diff, kind=kind, size=c,
                        seconds=dt)
