"""numba kernels of Hamerly's k-means (exact distance pruning of Lloyd's assignment).

Hamerly (2010), "Making k-means even faster": per point one upper bound ``u`` on the
distance to its assigned center and one lower bound ``l`` on the distance to every other
center; per center ``s(c)`` = half the distance to its nearest other center. A point whose
``u`` is below ``max(s(a), l)`` keeps its center without computing any distance; else
``u`` is made exact (one distance) and tested again; only then are all k distances
computed. After the centers move by ``p(c)``: ``u += p(a)``, ``l -= max_{c != a} p(c)``.

Exactness. Every distance is computed directly, ``sum_j (x_j - c_j)^2`` in float64 in the
order j = 0..d-1 (no fastmath, so no reassociation or FMA contraction), and a full
assignment takes the lowest index among equal distances. A point is skipped only when its
bound gap exceeds ``eps`` (1e-9 of the data's scale, far above the float64 rounding of
the bounds over any number of iterations), i.e. when its center is strictly nearest by
more than rounding: the pruned kernel gives bit-for-bit the labels, hence the sums and
centers, of the same kernel with ``prune=False`` (every distance computed).

Kernels are ``cache=True``, registered for warm-up, and parallel over contiguous chunks of
points (per-chunk float64 sums, added in chunk order: deterministic for a fixed chunk
count). Call them inside ``parallel_guard()``.
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


@njit(cache=True, fastmath=False, inline="always")
def top_two(p):  # pragma: no cover - compiled
    """(largest, second largest, index of the largest) of the center moves `p` (>= 0):
    Hamerly's lower bound of a point falls by the largest move of a center other than
    its own. O(k)."""
    pmax = 0.0
    pmax2 = 0.0
    amax = -1
    for c in range(p.shape[0]):
        if p[c] > pmax:
            pmax2 = pmax
            pmax = p[c]
            amax = c
        elif p[c] > pmax2:
            pmax2 = p[c]
    return pmax, pmax2, amax


@njit(cache=True, fastmath=False, inline="always")
def _dist2(X, i, C, a):  # pragma: no cover - compiled
    """Squared distance of row i to center a: four partial sums over j mod 4, combined as
    (s0 + s1) + (s2 + s3) -- the formula of ``_scan`` too, so both give the same bits."""
    d = X.shape[1]
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    j = 0
    while j + 4 <= d:
        e0 = X[i, j] - C[a, j]
        e1 = X[i, j + 1] - C[a, j + 1]
        e2 = X[i, j + 2] - C[a, j + 2]
        e3 = X[i, j + 3] - C[a, j + 3]
        s0 += e0 * e0
        s1 += e1 * e1
        s2 += e2 * e2
        s3 += e3 * e3
        j += 4
    if j < d:
        e0 = X[i, j] - C[a, j]
        s0 += e0 * e0
    if j + 1 < d:
        e1 = X[i, j + 1] - C[a, j + 1]
        s1 += e1 * e1
    if j + 2 < d:
        e2 = X[i, j + 2] - C[a, j + 2]
        s2 += e2 * e2
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, fastmath=False, inline="always")
def _scan(X, i, CT, acc4, acc):  # pragma: no cover - compiled
    """acc[c] = squared distance of row i to every center (``CT`` = centers^T, d x k),
    vectorized over centers, same bits as ``_dist2``. ``acc4`` is (4, k) scratch."""
    d = X.shape[1]
    k = CT.shape[1]
    for r in range(4):
        for c in range(k):
            acc4[r, c] = 0.0
    for j in range(d):
        xj = np.float64(X[i, j])
        r = j % 4
        for c in range(k):
            e = xj - CT[j, c]
            acc4[r, c] += e * e
    for c in range(k):
        acc[c] = (acc4[0, c] + acc4[1, c]) + (acc4[2, c] + acc4[3, c])


@njit(cache=True, parallel=True, fastmath=False)
def hamerly_step(X, w, C, CT, s, p, labels, u, lo, first, prune, eps, n_chunks,
                 sums_too):  # pragma: no cover - compiled
    """One Hamerly pass: (re)assign every point, updating ``labels`` (int32), ``u`` and
    ``lo`` (float64 bounds) in place, and accumulate the new centers' weighted sums.

    ``C`` the centers (k x d, float64), ``CT`` their transpose (d x k, contiguous), ``s``
    half the distance of each center to its nearest other one, ``p`` how far each center
    moved since the previous pass (ignored when ``first``: every point then gets a full
    assignment). ``prune=False`` computes every distance (the unpruned reference).
    Returns (sums (k, d) float64, weights (k,) float64, points fully reassigned).
    Cost: n d (sums) + d per point whose upper bound is tightened + k d per point fully
    reassigned; no n x k matrix.
    """
    n, d = X.shape
    k = C.shape[0]
    # largest and second largest center move, for l -= max_{c != a} p(c)
    pmax, pmax2, amax = top_two(p)
    sums = np.zeros((n_chunks, k, d), dtype=np.float64)
    cnt = np.zeros((n_chunks, k), dtype=np.float64)
    nfull = np.zeros(n_chunks, dtype=np.int64)
    step = (n + n_chunks - 1) // n_chunks
    for t in prange(n_chunks):
        b0 = t * step
        b1 = min(n, b0 + step)
        acc = np.empty(k, dtype=np.float64)
        acc4 = np.empty((4, k), dtype=np.float64)
        for i in range(b0, b1):
            a = labels[i]
            full = first or not prune
            if not full:
                u[i] += p[a]
                lo[i] -= pmax2 if a == amax else pmax
                m = max(s[a], lo[i])
                if not (u[i] + eps < m):
                    u[i] = np.sqrt(_dist2(X, i, C, a))
                    full = not (u[i] + eps < m)
            if full:
                _scan(X, i, CT, acc4, acc)
                best = 0
                b = acc[0]
                for c in range(1, k):
                    if acc[c] < b:
                        b = acc[c]
                        best = c
                sec = np.inf
                for c in range(k):
                    if c != best and acc[c] < sec:
                        sec = acc[c]
                labels[i] = best
                u[i] = np.sqrt(b)
                lo[i] = np.sqrt(sec)
                nfull[t] += 1
            if sums_too:
                a = labels[i]
                wi = np.float64(w[i])
                for j in range(d):
                    sums[t, a, j] += wi * X[i, j]
                cnt[t, a] += wi
    S = np.zeros((k, d), dtype=np.float64)
    W = np.zeros(k, dtype=np.float64)
    for t in range(n_chunks):
        for c in range(k):
            W[c] += cnt[t, c]
            for j in range(d):
                S[c, j] += sums[t, c, j]
    return S, W, nfull.sum()


@njit(cache=True, parallel=True, fastmath=False)
def assigned_sqdist(X, C, labels, out):  # pragma: no cover - compiled
    """out[i] = squared distance of row i to its center C[labels[i]] (float64, direct sum
    in the order of the assignment kernel, so equal to the full pass's minimum).
    Cost: n d."""
    for i in prange(X.shape[0]):
        out[i] = _dist2(X, i, C, labels[i])


@njit(cache=True, parallel=True, fastmath=False)
def elkan_step(X, w, C, CT, hcc, s, p, P, labels, u, Ls, first, prune, eps, n_chunks,
               sums_too):  # pragma: no cover - compiled
    """One Elkan pass: k lower bounds per point, kept lazily as ``Ls[i, c] = bound + P[c]``
    where ``P`` is each center's cumulative move (so the bounds need no per-pass update:
    the effective bound is ``Ls[i, c] - P[c]``). ``hcc`` (k x k) half the center-center
    distances, ``s`` their row minima, ``p`` this pass's moves (``P`` already includes
    them). ``first`` or ``prune=False``: every distance computed. Same exactness rule and
    returns as ``hamerly_step`` (the count is of distances computed, in units of k).
    Cost: n d (sums) + d per distance computed; ``Ls`` is n x k float64.
    """
    n, d = X.shape
    k = C.shape[0]
    sums = np.zeros((n_chunks, k, d), dtype=np.float64)
    cnt = np.zeros((n_chunks, k), dtype=np.float64)
    ndist = np.zeros(n_chunks, dtype=np.int64)
    step = (n + n_chunks - 1) // n_chunks
    for t in prange(n_chunks):
        b0 = t * step
        b1 = min(n, b0 + step)
        acc = np.empty(k, dtype=np.float64)
        acc4 = np.empty((4, k), dtype=np.float64)
        for i in range(b0, b1):
            if first or not prune:
                _scan(X, i, CT, acc4, acc)
                best = 0
                b = acc[0]
                for c in range(k):
                    Ls[i, c] = np.sqrt(acc[c]) + P[c]
                    if acc[c] < b:
                        b = acc[c]
                        best = c
                labels[i] = best
                u[i] = np.sqrt(b)
                ndist[t] += k
            else:
                a = labels[i]
                u[i] += p[a]
                if not (u[i] + eps < s[a]):
                    tight = False
                    ua2 = 0.0  # squared distance to a once tight: ties compared squared
                    for c in range(k):
                        if c == a:
                            continue
                        z = max(Ls[i, c] - P[c], hcc[a, c])
                        if u[i] + eps < z:
                            continue
                        if not tight:
                            ua2 = _dist2(X, i, C, a)
                            u[i] = np.sqrt(ua2)
                            Ls[i, a] = u[i] + P[a]
                            tight = True
                            ndist[t] += 1
                            if u[i] + eps < z:
                                continue
                        dc2 = _dist2(X, i, C, c)
                        dc = np.sqrt(dc2)
                        ndist[t] += 1
                        Ls[i, c] = dc + P[c]
                        if dc2 < ua2 or (dc2 == ua2 and c < a):
                            a = c
                            ua2 = dc2
                            u[i] = dc
                    labels[i] = a
            if sums_too:
                a = labels[i]
                wi = np.float64(w[i])
                for j in range(d):
                    sums[t, a, j] += wi * X[i, j]
                cnt[t, a] += wi
    S = np.zeros((k, d), dtype=np.float64)
    W = np.zeros(k, dtype=np.float64)
    for t in range(n_chunks):
        for c in range(k):
            W[c] += cnt[t, c]
            for j in range(d):
                S[c, j] += sums[t, c, j]
    return S, W, ndist.sum() // k


def _warm() -> None:
    for dt in (np.float32, np.float64):
        X = np.zeros((8, 2), dtype=dt)
        X[4:] = 1.0
        w = np.ones(8, dtype=dt)
        C = np.ascontiguousarray(X[[0, 4]], dtype=np.float64)
        s = np.full(2, 0.7)
        lab = np.zeros(8, dtype=np.int32)
        u = np.zeros(8)
        lo = np.zeros(8)
        for first in (True, False):
            hamerly_step(X, w, C, np.ascontiguousarray(C.T), s, np.zeros(2), lab, u, lo,
                         first, True, 1e-9, 2, True)
        assigned_sqdist(X, C, lab, np.empty(8))
        hcc = np.array([[0.0, 0.7], [0.7, 0.0]])
        Ls = np.zeros((8, 2))
        for first in (True, False):
            elkan_step(X, w, C, np.ascontiguousarray(C.T), hcc, s, np.zeros(2), np.zeros(2),
                       lab, u, Ls, first, True, 1e-9, 2, True)


if HAVE_NUMBA:
    register_warmup(_warm)
