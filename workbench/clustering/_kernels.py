"""numba kernels of k-means: the fused Lloyd step and the k-means++ trial distances.

All kernels are ``cache=True`` (compiled once per machine, reused across processes) and
registered for warm-up, so a dashboard never pays the compile on a user's click. Call the
parallel ones inside ``workbench.backends.numba_support.parallel_guard()`` and with the BLAS
pool capped at one thread (each numba thread calls a small single-threaded GEMM).

Layout: the data ``X`` is C-contiguous (n x d), float32 or float64; ``C2`` is ``-2 *
centers`` (k x d, same dtype), ``cn`` the squared center norms and ``xsq`` the squared row
norms, so that the squared distances of a block are ``Xb @ C2.T + cn + xsq`` (one GEMM).
"""

from __future__ import annotations

import numpy as np

from workbench.backends.numba_support import HAVE_NUMBA, register_warmup
from workbench.clustering._hamerly import top_two

if HAVE_NUMBA:
    from numba import njit, prange
else:  # pragma: no cover - numba is a dependency; keep imports working without it
    def njit(*a, **k):
        def deco(f):
            return f
        return deco if not (a and callable(a[0])) else a[0]

    prange = range


@njit(fastmath=True, nogil=True, cache=True)
def _nearest_block(X, b0, b1, C2, CT2, cn, bd, bl, transposed):  # pragma: no cover
    """Nearest center of rows b0:b1 of X: bl[ii] (int32) and bd[ii] = ||c||^2 - 2 x.c
    (the squared distance minus ||x||^2). One GEMM for the block; ``transposed`` computes
    the k x nb product C2 @ Xb^T and runs the argmin as a vectorizable loop over points
    (faster for large k), else the nb x k product Xb @ CT2 scanned point by point."""
    nb = b1 - b0
    k = C2.shape[0]
    if transposed:
        DT = np.dot(C2, X[b0:b1].T)
        for ii in range(nb):
            bd[ii] = cn[0] + DT[0, ii]
            bl[ii] = 0
        for c in range(1, k):
            cc = cn[c]
            for ii in range(nb):
                v = cc + DT[c, ii]
                if v < bd[ii]:
                    bd[ii] = v
                    bl[ii] = c
    else:
        D = np.dot(X[b0:b1], CT2)
        for ii in range(nb):
            best = 0
            b = D[ii, 0] + cn[0]
            for c in range(1, k):
                v = D[ii, c] + cn[c]
                if v < b:
                    b = v
                    best = c
            bd[ii] = b
            bl[ii] = best


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def lloyd_step(X, xsq, C2, cn, w, labels, mind, n_chunks, block,
               transposed):  # pragma: no cover - compiled
    """One fused Lloyd pass: assign every point and accumulate the new centers' sums.

    ``C2`` = -2 * centers (k x d, X's dtype), ``cn`` their squared norms, ``xsq`` the
    squared row norms of X (computed once per fit). Parallel over ``n_chunks`` contiguous
    chunks, each with its own partial sums (no atomics). Inside a chunk, blocks of
    ``block`` rows are assigned with one GEMM each and summed while still in cache (block
    sums in X's dtype, added to float64 chunk sums after each block): X is read from
    memory once per iteration.

    Writes ``labels`` (int32) and ``mind`` (squared distance to the assigned center).
    Returns (sums (k, d) float64, weights (k,) float64, inertia float64).
    Cost: one pass over X; 2 n k d flops (GEMM) + n d adds.
    """
    n, d = X.shape
    k = C2.shape[0]
    CT2 = np.ascontiguousarray(C2.T)
    sums = np.zeros((n_chunks, k, d), dtype=np.float64)
    cnt = np.zeros((n_chunks, k), dtype=np.float64)
    iner = np.zeros(n_chunks, dtype=np.float64)
    step = (n + n_chunks - 1) // n_chunks
    for t in prange(n_chunks):
        lo = t * step
        hi = min(n, lo + step)
        S = sums[t]
        Sb = np.zeros((k, d), dtype=X.dtype)
        bd = np.empty(block, dtype=X.dtype)
        bl = np.empty(block, dtype=np.int32)
        acc = 0.0             # the chunk's inertia in a register, not iner[t] per row
        for b0 in range(lo, hi, block):
            b1 = min(hi, b0 + block)
            _nearest_block(X, b0, b1, C2, CT2, cn, bd, bl, transposed)
            for ii in range(b1 - b0):
                i = b0 + ii
                best = bl[ii]
                wi = w[i]
                for j in range(d):
                    Sb[best, j] += wi * X[i, j]
                labels[i] = best
                m = max(bd[ii] + xsq[i], 0.0)
                mind[i] = m
                acc += wi * m
                cnt[t, best] += wi
            for c in range(k):
                for j in range(d):
                    S[c, j] += Sb[c, j]
                    Sb[c, j] = 0.0
        iner[t] = acc
    S = np.zeros((k, d), dtype=np.float64)
    C = np.zeros(k, dtype=np.float64)
    for t in range(n_chunks):
        for c in range(k):
            C[c] += cnt[t, c]
            for j in range(d):
                S[c, j] += sums[t, c, j]
    return S, C, iner.sum()


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def assign(X, xsq, C2, cn, w, labels, mind, n_chunks, block,
           transposed):  # pragma: no cover - compiled
    """E-step only: nearest center of every point (labels, squared distance in ``mind``).
    Arguments as ``lloyd_step``. Returns the weighted inertia. Cost: one pass over X,
    2 n k d flops."""
    n = X.shape[0]
    CT2 = np.ascontiguousarray(C2.T)
    iner = np.zeros(n_chunks, dtype=np.float64)
    step = (n + n_chunks - 1) // n_chunks
    for t in prange(n_chunks):
        lo = t * step
        hi = min(n, lo + step)
        bd = np.empty(block, dtype=X.dtype)
        bl = np.empty(block, dtype=np.int32)
        for b0 in range(lo, hi, block):
            b1 = min(hi, b0 + block)
            _nearest_block(X, b0, b1, C2, CT2, cn, bd, bl, transposed)
            for ii in range(b1 - b0):
                i = b0 + ii
                labels[i] = bl[ii]
                m = max(bd[ii] + xsq[i], 0.0)
                mind[i] = m
                iner[t] += w[i] * m
    return iner.sum()


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def trial_potentials(X, xsq, cand, closest, w, n_chunks, block):  # pragma: no cover
    """k-means++ local trials: squared distances of every point to each candidate center
    (n x t) and each candidate's potential sum_i w_i min(closest_i, dist_it).

    Distances as ||x||^2 + ||c||^2 - 2 x.c (clipped at 0), one GEMM per block of
    ``block`` rows, as the numpy reference. Returns (D (n, t) in X's dtype, potentials
    (t,) float64). Cost: one pass over X, 2 n t d flops; no n x n or n x k matrix.
    """
    n, d = X.shape
    t_ = cand.shape[0]
    candT = np.ascontiguousarray(cand.T)
    csq = np.zeros(t_, dtype=X.dtype)
    for c in range(t_):
        for j in range(d):
            csq[c] += cand[c, j] * cand[c, j]
    D = np.empty((n, t_), dtype=X.dtype)
    pot = np.zeros((n_chunks, t_), dtype=np.float64)
    step = (n + n_chunks - 1) // n_chunks
    for t in prange(n_chunks):
        lo = t * step
        hi = min(n, lo + step)
        for b0 in range(lo, hi, block):
            b1 = min(hi, b0 + block)
            G = np.dot(X[b0:b1], candT)
            for ii in range(b1 - b0):
                i = b0 + ii
                for c in range(t_):
                    s = max(xsq[i] + csq[c] - 2 * G[ii, c], 0.0)
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


@njit(parallel=True, cache=True, nogil=True)
def row_norms_and_variance(X, n_chunks):  # pragma: no cover - compiled
    """(squared row norms (n,) in X's dtype, summed in float64; mean_j var(X[:, j]) in
    float64), parallel over ``n_chunks`` row chunks: column sums and row norms in one
    pass, squared deviations from the means in a second. Cost: two reads of X, no n x d
    temporary (``np.var(X, axis=0)`` makes two: 8-12 ms at 120k x 24 float32, ~1 ms
    here)."""
    n, d = X.shape
    step = (n + n_chunks - 1) // n_chunks
    xsq = np.empty(n, dtype=X.dtype)
    part = np.zeros((n_chunks, d), dtype=np.float64)
    for t in prange(n_chunks):
        for i in range(t * step, min(n, (t + 1) * step)):
            r = 0.0
            for j in range(d):
                v = np.float64(X[i, j])
                part[t, j] += v
                r += v * v
            xsq[i] = r
    mean = np.zeros(d, dtype=np.float64)
    for t in range(n_chunks):
        for j in range(d):
            mean[j] += part[t, j]
    for j in range(d):
        mean[j] /= n
    dev = np.zeros((n_chunks, d), dtype=np.float64)
    for t in prange(n_chunks):
        for i in range(t * step, min(n, (t + 1) * step)):
            for j in range(d):
                e = np.float64(X[i, j]) - mean[j]
                dev[t, j] += e * e
    tot = 0.0
    for t in range(n_chunks):
        for j in range(d):
            tot += dev[t, j]
    return xsq, tot / (n * d)


@njit(cache=True, nogil=True)
def center_geometry(C, prev, first):  # pragma: no cover - compiled
    """For Hamerly's bounds: (p, s, cmax) of the float64 centers ``C`` (k x d): ``p[c]``
    how far center c moved from ``prev`` (zeros when ``first``), ``s[c]`` half the
    distance to its nearest other center (+inf when k == 1, shrunk by 1e-12 so that
    rounding keeps it a lower bound), ``cmax`` the largest center norm. Direct float64
    sums. Cost: k^2 d / 2 flops (0.1 ms at k = 100, d = 24)."""
    k, d = C.shape
    p = np.zeros(k)
    s = np.full(k, np.inf)
    cmax = 0.0
    for a in range(k):
        nrm = 0.0
        mv = 0.0
        for j in range(d):
            nrm += C[a, j] * C[a, j]
            if not first:
                e = C[a, j] - prev[a, j]
                mv += e * e
        p[a] = np.sqrt(mv)
        cmax = max(cmax, np.sqrt(nrm))
        for b in range(a + 1, k):
            g = 0.0
            for j in range(d):
                e = C[a, j] - C[b, j]
                g += e * e
            h = 0.5 * np.sqrt(g) * (1.0 - 1e-12)
            if h < s[a]:
                s[a] = h
            if h < s[b]:
                s[b] = h
    return p, s, cmax


_FM = {"contract", "arcp", "nsz", "afn", "reassoc"}   # fastmath without nnan / ninf


@njit(nogil=True, cache=True, fastmath=_FM, inline="always")
def _argmin2(D, g, cn, inf):  # pragma: no cover - compiled
    """(index of the first minimum, minimum, second smallest value) of D[g, c] + cn[c];
    the second is +inf when k == 1."""
    k = cn.shape[0]
    best = 0
    b = D[g, 0] + cn[0]
    sec = inf
    for c in range(1, k):
        v = D[g, c] + cn[c]
        sec = min(sec, max(b, v))
        lt = v < b
        best = c if lt else best
        b = v if lt else b
    return best, b, sec


@njit(parallel=True, cache=True, nogil=True, fastmath=_FM)  # bounds may be +inf
def pruned_step(X, xsq, C2, cn, C, w, labels, u, lo, s, p, first, prune, err, cmax,
                n_chunks, block, sums_too):  # pragma: no cover - compiled
    """One Lloyd pass of the fused GEMM kernel with Hamerly's bounds as a filter.

    ``C2`` = -2 centers and ``cn`` their squared norms (X's dtype), ``C`` the centers in
    float64, ``s`` half the distance of each center to its nearest other one, ``p`` how
    far each center moved since the last pass (ignored when ``first``). ``u`` / ``lo``
    (float64, in place) bound each point's distance to its center from above and to every
    other center from below. Per block of ``block`` rows, a point keeps its label without
    any distance when its bounds prove its center nearest by more than the GEMM's rounding
    (squared-distance margin ``2 err (|x| + cmax)^2``, bounded by ``4 err (|x|^2 + cmax^2)``, so no rounding of the GEMM could
    have chosen another center); else ``u`` is tightened with one direct distance and
    the test repeated; the remaining rows are gathered and assigned with one GEMM + argmin
    as in ``lloyd_step``, which also gives new bounds (first and second smallest value,
    widened by the margin). ``prune=False`` sends every row to the GEMM.

    Writes ``labels`` (int32), ``u``, ``lo``. Returns (sums (k, d) float64, weights (k,)
    float64, rows assigned by GEMM). Sums as ``lloyd_step`` (block sums in X's dtype, added
    to float64 chunk sums, over every row: the same summation with or without pruning).
    Cost: n d (bounds, sums) + d per tightened row + 2 k d per GEMM row.
    """
    n, d = X.shape
    k = C2.shape[0]
    CT2 = np.ascontiguousarray(C2.T)
    cmax2 = cmax * cmax
    infv = np.full(1, np.inf, dtype=X.dtype)
    pmax, pmax2, amax = (0.0, 0.0, -1) if first else top_two(p)
    sums = np.zeros((n_chunks, k, d), dtype=np.float64)
    cnt = np.zeros((n_chunks, k), dtype=np.float64)
    ngemm = np.zeros(n_chunks, dtype=np.int64)
    step = (n + n_chunks - 1) // n_chunks
    for t in prange(n_chunks):
        c0 = t * step
        c1 = min(n, c0 + step)
        S = sums[t]
        Sb = np.zeros((k, d), dtype=X.dtype)
        Xg = np.empty((block, d), dtype=X.dtype)
        rows = np.empty(block, dtype=np.int64)
        for b0 in range(c0, c1, block):
            b1 = min(c1, b0 + block)
            ng = 0
            for i in range(b0, b1):
                full = first or not prune
                if not full:
                    a = labels[i]
                    u[i] += p[a]
                    lo[i] -= pmax2 if a == amax else pmax
                    # (|x| + cmax)^2 <= 2 (|x|^2 + cmax^2): no square root per row
                    marg = 4.0 * err * (np.float64(xsq[i]) + cmax2)
                    m = max(lo[i], 2.0 * s[a] - u[i])
                    if not (m > u[i] and m * m - u[i] * u[i] > marg):
                        e2 = 0.0
                        for j in range(d):
                            e = np.float64(X[i, j]) - C[a, j]
                            e2 += e * e
                        u[i] = np.sqrt(e2) * (1.0 + 1e-12)
                        m = max(lo[i], 2.0 * s[a] - u[i])
                        full = not (m > u[i] and m * m - u[i] * u[i] > marg)
                if full:
                    if prune and not first:
                        for j in range(d):
                            Xg[ng, j] = X[i, j]
                    rows[ng] = i
                    ng += 1
            if ng > 0:
                if ng == b1 - b0:   # every row of the block: no gather
                    D = np.dot(X[b0:b1], CT2)
                else:
                    D = np.dot(Xg[:ng], CT2)
                for g in range(ng):
                    i = rows[g]
                    best, bv, sv = _argmin2(D, g, cn, infv[0])
                    labels[i] = best
                    xi = np.float64(xsq[i])
                    marg = 2.0 * err * (xi + cmax2)
                    u[i] = np.sqrt(max(np.float64(bv) + xi + marg, 0.0))
                    lo[i] = np.sqrt(max(np.float64(sv) + xi - marg, 0.0))
                ngemm[t] += ng
            if sums_too:
                for i in range(b0, b1):
                    a = labels[i]
                    wi = w[i]
                    for j in range(d):
                        Sb[a, j] += wi * X[i, j]
                    cnt[t, a] += wi
                for c in range(k):
                    for j in range(d):
                        S[c, j] += Sb[c, j]
                        Sb[c, j] = 0.0
    S = np.zeros((k, d), dtype=np.float64)
    W = np.zeros(k, dtype=np.float64)
    for t in range(n_chunks):
        for c in range(k):
            W[c] += cnt[t, c]
            for j in range(d):
                S[c, j] += sums[t, c, j]
    return S, W, ngemm.sum()


def _warm() -> None:
    for dt in (np.float32, np.float64):
        X = np.zeros((8, 2), dtype=dt)
        X[4:] = 1.0
        xsq = (X * X).sum(1)
        C2 = np.ascontiguousarray(-2.0 * X[[0, 4]]).astype(dt)
        cn = np.array([0.0, 2.0], dtype=dt)
        w = np.ones(8, dtype=dt)
        lab = np.empty(8, dtype=np.int32)
        mind = np.empty(8, dtype=dt)
        for tr in (False, True):
            lloyd_step(X, xsq, C2, cn, w, lab, mind, 2, 4, tr)
            assign(X, xsq, C2, cn, w, lab, mind, 2, 4, tr)
        Dt, _ = trial_potentials(X, xsq, X[:2].copy(), np.ones(8, dtype=dt), w, 2, 4)
        update_closest(np.ones(8, dtype=dt), Dt, 0)
        row_norms_and_variance(X, 2)
        Cf = np.ascontiguousarray(X[[0, 4]], dtype=np.float64)
        u = np.zeros(8)
        lo = np.zeros(8)
        for first in (True, False):
            pruned_step(X, xsq, C2, cn, Cf, w, lab, u, lo, np.full(2, 0.7), np.zeros(2),
                        first, True, 1e-6, 1.5, 2, 4, True)
            center_geometry(Cf, Cf, first)


if HAVE_NUMBA:
    register_warmup(_warm)
