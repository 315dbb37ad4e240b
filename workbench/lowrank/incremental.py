"""Incremental truncated SVD: add rows or columns (dense or scipy.sparse) to a rank-k SVD
without recomputing it (Zha & Simon 1999, the update that "Fast Updating Truncated SVD for
Representation Learning with Sparse Matrices", Deng et al. 2024, accelerates).

    inc = IncrementalSVD.fit(A0, rank=20)     # one truncated SVD of the first block
    inc.add_rows(E)                           # E: s x n, dense or sparse (new samples)
    inc.add_columns(F)                        # F: m x s (new features)
    U, s, Vt = inc                            # the current rank-k factors

Adding rows E (s x n) to A ~ U S V^T: with P = E V and the residual R = E - P V^T
(orthogonalized twice against V), R^T = Q T (QR), the stacked matrix is exactly

    [A; E] ~ blockdiag(U, I) [[S, 0], [P, T^T]] [V, Q]^T,

so one SVD of the small (k+s) x (k+s) middle matrix gives the new factors, truncated to k.
Cost per update: O(nnz(E) k) for P (a sparse product when E is sparse), O(n k s + n s^2)
for the residual and its QR, O((k+s)^3) for the middle SVD, O((m+n)(k+s) k) to rotate the
bases; a fresh truncated SVD of the grown matrix costs O(m n k) or more. The update is
exact when the old block's truncation dropped nothing (rank <= k); otherwise it carries
the truncation error of earlier steps (measured against a fresh SVD in the tests and the
benchmark).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from workbench.errors import InputFormatError, NonFiniteError, RankError, ShapeError
from workbench.lowrank.results import LowRankResult

__all__ = ["IncrementalSVD"]


def _as_block(E, what: str):
    """A 2-D float64 numpy array or CSR matrix, checked finite."""
    if sp.issparse(E):
        E = sp.csr_matrix(E, dtype=np.float64)
        data = E.data
    else:
        E = np.asarray(E)
        if E.dtype.kind not in "biuf":
            raise InputFormatError(f"{what} must hold real numbers, got dtype {E.dtype}")
        E = np.atleast_2d(E.astype(np.float64, copy=False))
        data = E
    if E.ndim != 2:
        raise ShapeError(f"{what} must be a 2-D block, got shape {E.shape}")
    if not np.isfinite(data).all():
        raise NonFiniteError(f"{what} holds NaN or inf values")
    return E


def _dense(E) -> np.ndarray:
    return E.toarray() if sp.issparse(E) else E


class IncrementalSVD:
    """A rank-`rank` truncated SVD kept up to date as rows and columns arrive (see the
    module docstring). ``U`` (m x k), ``s`` (k,), ``Vt`` (k x n) are numpy float64;
    ``U, s, Vt = inc`` unpacks; ``result()`` is a :class:`LowRankResult`."""

    def __init__(self, U, s, Vt, rank: int | None = None):
        U, s, Vt = (np.asarray(x, dtype=np.float64) for x in (U, s, Vt))
        if U.ndim != 2 or Vt.ndim != 2 or s.ndim != 1 or U.shape[1] != s.shape[0] \
                or Vt.shape[0] != s.shape[0]:
            raise ShapeError(f"expected U (m x k), s (k,), Vt (k x n); got {U.shape}, "
                             f"{s.shape}, {Vt.shape}")
        self.rank = int(rank if rank is not None else len(s))
        if self.rank < 1:
            raise RankError(f"rank must be >= 1, got {self.rank}")
        self.U, self.s, self.Vt = U, s, Vt
        self.updates = 0
        self.seconds = 0.0

    @classmethod
    def fit(cls, A, rank: int) -> IncrementalSVD:
        """Start from the exact rank-`rank` truncated SVD of `A` (dense: LAPACK; sparse:
        ARPACK's svds for rank < min(shape) - 1, else densified). Cost: one SVD."""
        A = _as_block(A, "A")
        m, n = A.shape
        rank = int(rank)
        if not 1 <= rank <= min(m, n):
            raise RankError(f"rank {rank} is not in 1..{min(m, n)} for a {m} x {n} matrix")
        t0 = time.perf_counter()
        if sp.issparse(A) and rank < min(m, n) - 1:
            from scipy.sparse.linalg import svds

            U, s, Vt = svds(A, k=rank, random_state=0)
            order = np.argsort(s)[::-1]
            U, s, Vt = U[:, order], s[order], Vt[order]
        else:
            U, s, Vt = np.linalg.svd(_dense(A), full_matrices=False)
            U, s, Vt = U[:, :rank], s[:rank], Vt[:rank]
        inc = cls(U, s, Vt, rank)
        inc.seconds = time.perf_counter() - t0
        return inc

    @property
    def shape(self) -> tuple[int, int]:
        return (self.U.shape[0], self.Vt.shape[1])

    def __iter__(self):
        yield self.U
        yield self.s
        yield self.Vt

    # ------------------------------------------------------------------ updates
    def _update(self, U, s, V, E):
        """New (U, s, V) of [U S V^T; E] truncated to the rank (E: s x n)."""
        P = np.asarray(E @ V)                               # s x k (sparse-aware)
        R = _dense(E).T - V @ P.T                           # n x s residual
        R -= V @ (V.T @ R)                                  # second pass: orthogonality
        Q, T = np.linalg.qr(R)
        k, b = len(s), E.shape[0]
        K = np.zeros((k + b, k + b))
        K[:k, :k] = np.diag(s)
        K[k:, :k] = P
        K[k:, k:] = T.T
        Uk, sk, Vkt = np.linalg.svd(K)
        r = min(self.rank, len(sk))
        m = U.shape[0]
        U_new = np.empty((m + b, r))
        U_new[:m] = U @ Uk[:k, :r]
        U_new[m:] = Uk[k:, :r]
        V_new = V @ Vkt[:r, :k].T + Q @ Vkt[:r, k:].T
        return U_new, sk[:r], V_new

    def add_rows(self, E) -> IncrementalSVD:
        """Append the rows `E` (s x n, dense or sparse). Returns self."""
        E = _as_block(E, "the new rows")
        if E.shape[1] != self.shape[1]:
            raise ShapeError(f"new rows have {E.shape[1]} columns; the matrix has "
                             f"{self.shape[1]}")
        t0 = time.perf_counter()
        U, s, V = self._update(self.U, self.s, self.Vt.T, E)
        self.U, self.s, self.Vt = U, s, V.T
        self.updates += 1
        self.seconds += time.perf_counter() - t0
        return self

    def add_columns(self, F) -> IncrementalSVD:
        """Append the columns `F` (m x s, dense or sparse). Returns self."""
        F = _as_block(F, "the new columns")
        if F.shape[0] != self.shape[0]:
            raise ShapeError(f"new columns have {F.shape[0]} rows; the matrix has "
                             f"{self.shape[0]}")
        t0 = time.perf_counter()
        V, s, U = self._update(self.Vt.T, self.s, self.U, F.T.tocsr() if sp.issparse(F)
                               else F.T)
        self.U, self.s, self.Vt = U, s, V.T
        self.updates += 1
        self.seconds += time.perf_counter() - t0
        return self

    def result(self, A=None) -> LowRankResult:
        """The current factors as a LowRankResult (method "incremental"); with the full
        matrix `A` its error against the Eckart-Young optimum is attached."""
        from workbench.lowrank.results import approximation_error

        res = LowRankResult(method="incremental", rank=self.rank,
                            factors={"U": self.U, "s": self.s, "Vt": self.Vt},
                            shape=self.shape, params={"updates": self.updates},
                            seconds=self.seconds)
        if A is None:
            return res
        from dataclasses import replace

        return replace(res, error=approximation_error(_dense(_as_block(A, "A")), res))
