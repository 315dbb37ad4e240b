"""Approximations of one matrix at every rank from one decomposition — what a rank slider
needs: ``path = rank_path(A, 100, "cur_qr"); path.approx(12)`` costs milliseconds.

- SVD-type methods ("svd", "randomized", "krylov", "nystrom") are computed once at the
  largest rank and truncated by slicing (for the randomized ones the slice of a rank-100
  run is at least as good as a rank-k run: it had more oversampling).
- CUR ranks the columns and rows once — by pivoted QR of A and A^T ("cur_qr") or as one
  leverage-score sample without replacement at the largest rank ("cur_leverage") — and
  takes the first 2k of each for rank k (nested selections), with the best rank-k middle.
- The interpolative decomposition ("id") comes from one column-pivoted QR A P = Q R: for
  rank k the skeleton is the first k pivots and the interpolation matrix R11^-1 R12.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.lowrank._checks import as_matrix, check_rank, numpy_f64
from workbench.lowrank.results import (
    LowRankResult,
    error_ratio,
    exact_singular_values,
    optimum,
    relative_fro_error,
)

SLICED = ("svd", "randomized", "krylov", "nystrom")
PATH_METHODS = (*SLICED, "cur_leverage", "cur_qr", "id")


@dataclass
class RankPath:
    """A family of approximations of A for ranks 1..max_rank.

    method, max_rank, shape; seconds: time of the one decomposition; sv: all singular
    values of A (for the Eckart–Young optimum); base: the LowRankResult at max_rank
    (SVD-type methods) or None; columns / rows: the ranked selections (CUR, ID).
    """

    A: np.ndarray
    method: str
    max_rank: int
    seconds: float
    sv: np.ndarray
    base: LowRankResult | None = None
    columns: np.ndarray | None = None
    rows: np.ndarray | None = None
    qr_r: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.A.shape)

    def _check(self, rank: int) -> int:
        return check_rank(rank, (self.max_rank, self.max_rank), "rank")

    def result(self, rank: int) -> LowRankResult:
        """The rank-`rank` approximation (no error attached). Costs O(1) for SVD-type
        methods, O((m + n) k^2 + m n k) for CUR, O(k^2 n) for ID."""
        from workbench.lowrank.cur import cur_factors

        k = self._check(rank)
        if self.base is not None:
            return self.base.truncate(k)
        m, n = self.shape
        if self.method.startswith("cur"):
            c, r = min(n, 2 * k), min(m, 2 * k)
            J, I_ = np.sort(self.columns[:c]), np.sort(self.rows[:r])
            C, U, R = cur_factors(self.A, J, I_, k)
            return LowRankResult(self.method, k, {"C": C, "U": U, "R": R}, (m, n),
                                 params=dict(columns=c, rows=r, nested=True),
                                 info=dict(columns=J, rows=I_))
        # interpolative: A[:, piv] = Q R -> A ~ A[:, piv[:k]] [I, R11^-1 R12] (permuted)
        import scipy.linalg

        R11, R12 = self.qr_r[:k, :k], self.qr_r[:k, k:]
        T = scipy.linalg.solve_triangular(R11, R12, check_finite=False) if k < n else \
            np.zeros((k, 0))
        P = np.empty((k, n))
        P[:, self.columns[:k]] = np.eye(k)
        P[:, self.columns[k:]] = T
        return LowRankResult("id", k, {"C": self.A[:, self.columns[:k]], "P": P}, (m, n),
                             info=dict(columns=np.sort(self.columns[:k])))

    def approx(self, rank: int) -> np.ndarray:
        """The dense rank-`rank` approximation (m x n)."""
        return self.result(rank).approx()

    @property
    def norm(self) -> float:
        """||A||_F, from the singular values."""
        return float(np.sqrt(np.sum(self.sv**2)))

    def fro_error(self, rank: int) -> float:
        """||A - A_hat||_F / ||A||_F at this rank (one dense residual, O(m n k))."""
        return relative_fro_error(self.A, self.approx(rank), self.norm)

    def errors(self, ranks) -> list[dict[str, float]]:
        """Rows (method, rank, fro, fro_opt, fro_ratio, compression, seconds) for each
        rank: the relative Frobenius error next to the Eckart–Young optimum. Costs one
        dense approximation and residual per rank."""
        out = []
        for r in ranks:
            res = self.result(int(r))
            fro = relative_fro_error(self.A, res.approx(), self.norm)
            fo = optimum(self.sv, int(r))[0]
            out.append(dict(method=self.method, rank=int(r), fro=fro, fro_opt=fo,
                            fro_ratio=error_ratio(fro, fo),
                            compression=res.compression_ratio, seconds=self.seconds))
        return out


def rank_path(A, max_rank: int, method: str = "svd", *, seed: int = 0,
              reference_sv: np.ndarray | None = None) -> RankPath:
    """One decomposition of A (numpy float64 copy) serving every rank 1..max_rank by
    `method` (one of PATH_METHODS). Costs one run of the method at max_rank (SVD-type),
    or two column-pivoted QRs (cur_qr; O(m n min(m, n))), or one SVD for the leverage
    scores (cur_leverage), or one pivoted QR (id); plus the exact singular values of A
    unless given. Returns a RankPath."""
    import scipy.linalg

    from workbench.lowrank.methods import approximate

    A = np.ascontiguousarray(numpy_f64(as_matrix(A)))
    m, n = A.shape
    k = check_rank(max_rank, (m, n), "max_rank")
    if method not in PATH_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(PATH_METHODS)}")
    sv = exact_singular_values(A) if reference_sv is None else np.asarray(reference_sv)
    t0 = time.perf_counter()
    if method in SLICED:
        base = approximate(A, k, method, seed=seed, compute_error=False)
        return RankPath(A, method, k, time.perf_counter() - t0, sv, base=base)
    if method == "cur_qr":
        cols = scipy.linalg.qr(A, mode="r", pivoting=True, check_finite=False)[1]
        rows = scipy.linalg.qr(A.T, mode="r", pivoting=True, check_finite=False)[1]
        return RankPath(A, method, k, time.perf_counter() - t0, sv, columns=cols, rows=rows)
    if method == "cur_leverage":
        U, _, Vt = scipy.linalg.svd(A, full_matrices=False, check_finite=False)
        rng = np.random.default_rng(seed)
        # one ordered sample without replacement: every prefix is a leverage sample
        cols = _ordered_sample(np.sum(Vt[:k] ** 2, axis=0), rng)
        rows = _ordered_sample(np.sum(U[:, :k] ** 2, axis=1), rng)
        return RankPath(A, method, k, time.perf_counter() - t0, sv, columns=cols, rows=rows)
    _, R, piv = scipy.linalg.qr(A, mode="economic", pivoting=True, check_finite=False)
    return RankPath(A, "id", k, time.perf_counter() - t0, sv, columns=piv, qr_r=R)


def _ordered_sample(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """All indices ordered by successive sampling without replacement with probability
    proportional to `weights` (zero weights last, in random order): Efraimidis–Spirakis
    keys u^(1/w), sorted decreasing."""
    w = np.asarray(weights, dtype=np.float64)
    u = rng.random(len(w))
    with np.errstate(divide="ignore"):
        keys = np.where(w > 0, np.log(u) / np.where(w > 0, w, 1.0), -np.inf)
    return np.lexsort((u, -keys))
