"""Streaming top eigenvector of A^T A from the rows of A arriving one at a time in random
order ("Approximating the Top Eigenvector in Random Order Streams"): Oja's rule and the
block (mini-batch) power method as the baseline. Both keep O(n) memory."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.backends.numba_support import register_warmup
from workbench.errors import ShapeError
from workbench.lowrank._checks import as_matrix, numpy_f64

try:
    import numba
except ImportError:  # pragma: no cover
    numba = None


@dataclass(frozen=True)
class StreamResult:
    """Estimated top eigenvector of A^T A from one pass over the rows.

    vector (n,) unit norm; eigenvalue: Rayleigh quotient ||A v||^2 (one extra pass, for
    reporting); rows_seen (checkpoints) and sin2 (sin^2 of the angle to the true top
    eigenvector at each checkpoint, when it was given or computed); method; params; seconds.
    """

    vector: np.ndarray
    eigenvalue: float
    rows_seen: np.ndarray
    sin2: np.ndarray
    method: str
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def final_sin2(self) -> float:
        return float(self.sin2[-1]) if len(self.sin2) else float("nan")


if numba is not None:
    @numba.njit(cache=True)
    def _oja(A, order, w, eta0, t0, checkpoints, truth, out_sin2):  # pragma: no cover
        n = A.shape[1]
        c = 0
        for t in range(order.shape[0]):
            a = A[order[t]]
            proj = 0.0
            for j in range(n):
                proj += a[j] * w[j]
            eta = eta0 / (t + t0)
            nrm = 0.0
            for j in range(n):
                w[j] += eta * proj * a[j]
                nrm += w[j] * w[j]
            nrm = np.sqrt(nrm)
            for j in range(n):
                w[j] /= nrm
            while c < checkpoints.shape[0] and checkpoints[c] == t + 1:
                d = 0.0
                for j in range(n):
                    d += w[j] * truth[j]
                out_sin2[c] = 1.0 - d * d
                c += 1
        return w
else:  # pragma: no cover
    def _oja(A, order, w, eta0, t0, checkpoints, truth, out_sin2):
        c = 0
        for t in range(order.shape[0]):
            a = A[order[t]]
            w = w + eta0 / (t + t0) * (a @ w) * a
            w /= np.linalg.norm(w)
            while c < len(checkpoints) and checkpoints[c] == t + 1:
                out_sin2[c] = 1.0 - (w @ truth) ** 2
                c += 1
        return w


@register_warmup
def _warm() -> None:
    A = np.ones((2, 2))
    _oja(A, np.array([0, 1]), np.ones(2) / np.sqrt(2), 1.0, 1.0, np.array([2]),
         np.ones(2) / np.sqrt(2), np.zeros(1))


def _setup(A, seed, truth, num_checkpoints):
    A = np.ascontiguousarray(numpy_f64(as_matrix(A)))
    m, n = A.shape
    rng = np.random.default_rng(seed)
    order = rng.permutation(m)
    if truth is None:
        import scipy.linalg

        truth = scipy.linalg.svd(A, full_matrices=False, check_finite=False)[2][0]
    truth = np.asarray(truth, dtype=np.float64).ravel()
    if truth.shape != (n,):
        raise ShapeError(f"truth must have length {n}, got {truth.shape}")
    truth = truth / np.linalg.norm(truth)
    cps = np.unique(np.linspace(1, m, num_checkpoints).astype(np.int64))
    w0 = rng.standard_normal(n)
    return A, order, truth, cps, w0 / np.linalg.norm(w0)


def oja(A, *, eta: float | None = None, seed: int = 0, truth=None,
        num_checkpoints: int = 50) -> StreamResult:
    """Oja's rule over the rows a_t of A in a random order: w <- normalize(w + eta_t a_t
    (a_t . w)) with eta_t = eta / (t + t0). One pass, O(n) per row (numba).

    eta defaults to 20 / tr(Sigma) with Sigma = A^T A / m the row covariance (the theory's
    c / gap with c ~ 2 for a relative eigen-gap ~ 0.1; scale-free); t0 = m / 10 damps the
    first steps.
    truth: the true top eigenvector for the sin^2 curve (computed by an SVD if omitted).
    Returns a StreamResult.
    """
    A, order, tv, cps, w0 = _setup(A, seed, truth, num_checkpoints)
    m = A.shape[0]
    fro2 = float(np.sum(A**2)) or 1.0
    eta0 = float(eta) if eta is not None else 20.0 * m / fro2
    t0 = max(1.0, m / 10)
    t_start = time.perf_counter()
    out = np.zeros(len(cps))
    w = _oja(A, order, w0.copy(), eta0, t0, cps, tv, out)
    dt = time.perf_counter() - t_start
    return StreamResult(vector=w, eigenvalue=float(np.sum((A @ w) ** 2)), rows_seen=cps,
                        sin2=out, method="oja", seconds=dt,
                        params=dict(eta=eta0, t0=t0, seed=seed))


def block_power(A, *, block_size: int | None = None, seed: int = 0, truth=None,
                num_checkpoints: int = 50) -> StreamResult:
    """Streaming block power method (Mitliagkas, Caramanis & Jain 2013): rows arrive in a
    random order in blocks of `block_size` (default ~ m / 20); after each block
    w <- normalize(sum_{a in block} a (a . w)). One pass, O(n) memory; equivalent to
    ~m / block_size power iterations each on a fresh sample. Returns a StreamResult."""
    A, order, tv, cps, w = _setup(A, seed, truth, num_checkpoints)
    m = A.shape[0]
    b = int(block_size) if block_size else max(1, m // 20)
    t_start = time.perf_counter()
    seen, sin2 = [], []
    for start in range(0, m, b):
        blk = A[order[start:start + b]]
        w = blk.T @ (blk @ w)
        w /= np.linalg.norm(w) or 1.0
        seen.append(min(start + b, m))
        sin2.append(1.0 - float(w @ tv) ** 2)
    dt = time.perf_counter() - t_start
    return StreamResult(vector=w, eigenvalue=float(np.sum((A @ w) ** 2)),
                        rows_seen=np.asarray(seen), sin2=np.asarray(sin2),
                        method="block_power", seconds=dt, params=dict(block_size=b,
                                                                      seed=seed))
