"""numba kernels of k-means: the fused Lloyd step and the k-means++ trial distances.

All kernels are ``cache=True`` (compiled once per machine, reused across processes) and
registered for warm-up, so a dashboard never pays the compile on a user's click. Call the
parallel ones inside ``workbench.backends.numba_support.parallel_guard()`` and with the BLAS
pool capped at one thread (each numba thread calls a small single-threaded GEMM).

Layout: the data ``X`` is C-contiguous (n x d), float32 or float64; ``CT`` is ``-2 *
centers.T`` (d x k, same dtype) and ``cn`` the squared center norms, so that the distance
block of a chunk is ``X_chunk @ CT + cn`` (one GEMM) plus the row norms.
"""

from __future__ import annotations

import numpy as np

from workbench.backends.numba_support import HAVE_NUMBA, register_warmup

if HAVE_NUMBA:
    from numba import njit, prange
else:  # pragma: no cover - numba is a dependency; keep imports working without it
    def njit(*a, **k):
        def deco(f):
            return f
        return deco if not (a and callable(a[0])) else a[0]

    prange = range


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def lloyd_step(X, CT, cn, w, labels, mind, n_chunks, block):  # pragma: no cover - compiled
    """One fused Lloyd pass: assign every point and accumulate the new centers' sums.

    Parallel over ``n_chunks`` contiguous chunks; each chunk keeps its own partial sums
    (n_chunks x k x d) which are reduced at the end, so no atomics. Inside a chunk, blocks of
    ``block`` rows are assigned with one GEMM each and their sums accumulated while the block
    is still in cache: X is read from memory exactly once.

    Writes ``labels`` (int32) and ``mind`` (squared distance to the assigned center).
    Returns (sums (k, d) float64, weights (k,) float64, inertia float64).
    Cost: one pass over X; 2 n k d flops (GEMM) + n d adds.
    """
    n, d = X.shape
    k = CT.shape[1]
    sums = np.zeros((n_chunks, k, d), dtype=np.float64)
    cnt = np.zeros((n_chunks, k), dtype=np.float64)
    iner = np.zeros(n_chunks, dtype=np.float64)
    step = (n + n_chunks - 1) // n_chunks
    for t in prange(n_chunks):
        lo = t * step
        hi = min(n, lo + step)
        for b0 in range(lo, hi, block):
            b1 = min(hi, b0 + block)
            D = np.dot(X[b0:b1], CT)
            for ii in range(b1 - b0):
                i = b0 + ii
                best = 0
                bd = D[ii, 0] + cn[0]
                for c in range(1, k):
                    v = D[ii, c] + cn[c]
                    if v < bd:
                        bd = v
                        best = c
                xx = 0.0
                wi = w[i]
                for j in range(d):
                    xj = X[i, j]
                    xx += xj * xj
                    sums[t, best, j] += wi * xj
                labels[i] = best
                m = max(bd + xx, 0.0)
                mind[i] = m
                iner[t] += wi * m
                cnt[t, best] += wi
    S = np.zeros((k, d), dtype=np.float64)
    C = np.zeros(k, dtype=np.float64)
    for t in range(n_chunks):
        for c in range(k):
            C[c] += cnt[t, c]
            for j in range(d):
                S[c, j] += sums[t, c, j]
    return S, C, iner.sum()


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def assign(X, CT, cn, w, labels, mind, n_chunks, block):  # pragma: no cover - compiled
    """E-step only: nearest center of every point (labels, squared distance in ``mind``).
    Returns the weighted inertia. Cost: one pass over X, 2 n k d flops."""
    n, d = X.shape
    k = CT.shape[1]
    iner = np.zeros(n_chunks, dtype=np.float64)
    step = (n + n_chunks - 1) // n_chunks
    for t in prange(n_chunks):
        lo = t * step
        hi = min(n, lo + step)
        for b0 in range(lo, hi, block):
            b1 = min(hi, b0 + block)
            D = np.dot(X[b0:b1], CT)
            for ii in range(b1 - b0):
                i = b0 + ii
                best = 0
                bd = D[ii, 0] + cn[0]
                for c in range(1, k):
                    v = D[ii, c] + cn[c]
                    if v < bd:
                        bd = v
                        best = c
                xx = 0.0
                for j in range(d):
                    xx += X[i, j] * X[i, j]
                labels[i] = best
                m = max(bd + xx, 0.0)
                mind[i] = m
                iner[t] += w[i] * m
    return iner.sum()


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def trial_potentials(X, cand, closest, w, n_chunks):  # pragma: no cover - compiled
    """k-means++ local trials: squared distances of every point to each candidate center
    (n x t) and each candidate's potential sum_i w_i min(closest_i, dist_it).

    Returns (D (n, t) in X's dtype, potentials (t,) float64). Cost: one pass over X,
    3 n t d flops; no n x n or n x k matrix.
    """
    n, d = X.shape
    t_ = cand.shape[0]
    D = np.empty((n, t_), dtype=X.dtype)
    pot = np.zeros((n_chunks, t_), dtype=np.float64)
    step = (n + n_chunks - 1) // n_chunks
    for t in prange(n_chunks):
        lo = t * step
        hi = min(n, lo + step)
        for i in range(lo, hi):
            for c in range(t_):
                s = 0.0
                for j in range(d):
                    diff = X[i, j] - cand[c, j]
                    s += diff * diff
                D[i, c] = s
                pot[t, c] += w[i] * min(closest[i], s)
    out = np.zeros(t_, dtype=np.float64)
    for t in range(n_chunks):
        for c in range(t_):
            out[c] += pot[t, c]
    return D, out


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def update_closest(closest, D, col):  # pragma: no cover - compiled
    """closest_i <- min(closest_i, D[i, col]) in place; returns nothing. Cost: n."""
    for i in prange(closest.shape[0]):
        if D[i, col] < closest[i]:
            closest[i] = D[i, col]


def _warm() -> None:
    for dt in (np.float32, np.float64):
        X = np.zeros((8, 2), dtype=dt)
        X[4:] = 1.0
        C = np.ascontiguousarray(-2.0 * X[[0, 4]].T).astype(dt)
        cn = np.array([0.0, 2.0], dtype=dt)
        w = np.ones(8, dtype=dt)
        lab = np.empty(8, dtype=np.int32)
        mind = np.empty(8, dtype=dt)
        lloyd_step(X, C, cn, w, lab, mind, 2, 4)
        assign(X, C, cn, w, lab, mind, 2, 4)
        Dt, _ = trial_potentials(X, X[:2].copy(), np.ones(8, dtype=dt), w, 2)
        update_closest(np.ones(8, dtype=dt), Dt, 0)


if HAVE_NUMBA:
    register_warmup(_warm)
