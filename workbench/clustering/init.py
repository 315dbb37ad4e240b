"""k-means seeding: greedy k-means++, k-means|| (scalable k-means++) and random rows.

The k-means++ distance updates run in numba (one pass over X per chosen center, computing
all local trials at once and never an n x k matrix); numpy is the fallback.
"""

from __future__ import annotations

import numpy as np

from workbench.backends.numba_support import HAVE_NUMBA, parallel_guard


def _trials_numpy(X, xsq, cand, closest, w):
    D = np.maximum(xsq[:, None] + (cand * cand).sum(1)[None, :] - 2.0 * (X @ cand.T), 0)
    D = D.astype(X.dtype, copy=False)
    pots = (w[:, None].astype(np.float64) * np.minimum(closest[:, None], D)).sum(0)
    return D, pots


def kmeans_plusplus(X: np.ndarray, n_clusters: int, rng: np.random.Generator,
                    sample_weight: np.ndarray | None = None, n_local_trials: int | None = None,
                    use_numba: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii; the greedy variant of scikit-learn).

    Each new center is the best of ``n_local_trials`` (default 2 + log k) candidates drawn
    with probability proportional to the squared distance to the closest chosen center.
    Returns (centers (k, d) in X's dtype, indices (k,) of the chosen rows).
    Cost: k passes over X, each 2 n t d flops in GEMM blocks (t = n_local_trials).
    """
    n = X.shape[0]
    w = np.ones(n, dtype=X.dtype) if sample_weight is None else sample_weight.astype(X.dtype)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    use_numba = use_numba and HAVE_NUMBA
    xsq = np.einsum("ij,ij->i", X, X)
    if use_numba:  # numba threads each call a small GEMM: no BLAS threads inside them
        from workbench.backends.threads import one_blas_thread

        with one_blas_thread():
            return _plusplus(X, xsq, w, n_clusters, rng, n_local_trials, True)
    return _plusplus(X, xsq, w, n_clusters, rng, n_local_trials, False)


def _plusplus(X, xsq, w, n_clusters, rng, n_local_trials, use_numba):
    n = X.shape[0]
    if use_numba:
        from workbench.clustering import _kernels
        from workbench.clustering.lloyd import _BLOCK_ROWS, _n_chunks
        nch = _n_chunks(n)
    centers = np.empty((n_clusters, X.shape[1]), dtype=X.dtype)
    idx = np.empty(n_clusters, dtype=np.int64)
    w64 = w.astype(np.float64)
    wsum = w64.cumsum()
    first = int(np.searchsorted(wsum, rng.random() * wsum[-1]))
    first = min(first, n - 1)
    idx[0] = first
    centers[0] = X[first]
    # squared distances to the first center
    closest = np.full(n, np.inf, dtype=X.dtype)
    if use_numba:
        with parallel_guard():
            D, _ = _kernels.trial_potentials(X, xsq, X[first:first + 1].copy(), closest, w,
                                             nch, _BLOCK_ROWS)
    else:
        D, _ = _trials_numpy(X, xsq, X[first:first + 1], closest, w)
    closest = np.ascontiguousarray(D[:, 0])
    pot = float(np.dot(w64, closest))
    for c in range(1, n_clusters):
        if pot <= 0:  # every point coincides with a chosen center: take any unused row
            cand_ids = rng.choice(n, size=1)
        else:
            cum = np.cumsum(w64 * closest)
            cand_ids = np.searchsorted(cum, rng.random(n_local_trials) * cum[-1])
            np.clip(cand_ids, 0, n - 1, out=cand_ids)
        cand = np.ascontiguousarray(X[cand_ids])
        if use_numba:
            with parallel_guard():
                D, pots = _kernels.trial_potentials(X, xsq, cand, closest, w, nch,
                                                    _BLOCK_ROWS)
            best = int(np.argmin(pots))
            with parallel_guard():
                _kernels.update_closest(closest, D, best)
        else:
            D, pots = _trials_numpy(X, xsq, cand, closest, w)
            best = int(np.argmin(pots))
            np.minimum(closest, D[:, best], out=closest)
        pot = float(pots[best])
        idx[c] = cand_ids[best]
        centers[c] = X[cand_ids[best]]
    return centers, idx


def kmeans_parallel(X: np.ndarray, n_clusters: int, rng: np.random.Generator,
                    sample_weight: np.ndarray | None = None, oversampling: float = 2.0,
                    rounds: int = 5, backend: str = "numba") -> np.ndarray:
    """k-means|| seeding (Bahmani et al. 2012): ``rounds`` passes that each sample about
    ``oversampling * k`` points with probability proportional to their squared distance,
    then a weighted k-means++ (and a few weighted Lloyd steps) on the candidates.

    Returns centers (k, d) in X's dtype. Cost: ``rounds + 1`` assignment passes over X
    against the (growing) candidate set, plus work on about ``rounds * oversampling * k``
    candidates; cheaper than k-means++ when k is large (k passes over X).
    """
    from workbench.clustering.lloyd import make_backend

    n = X.shape[0]
    w = np.ones(n, dtype=X.dtype) if sample_weight is None else sample_weight.astype(X.dtype)
    ell = oversampling * n_clusters
    first = int(rng.integers(n))
    cand = [X[first:first + 1]]
    be = make_backend("numba" if backend == "numba" and HAVE_NUMBA else "numpy", X, w)
    _, closest, pot = be.assign(cand[0])
    closest = np.array(closest, copy=True)
    for _ in range(rounds):
        if pot <= 0:
            break
        p = np.minimum(1.0, ell * w * closest / pot)
        sel = np.flatnonzero(rng.random(n) < p)
        if sel.size == 0:
            continue
        new = np.ascontiguousarray(X[sel])
        cand.append(new)
        _, mind, _ = be.assign(new)
        np.minimum(closest, mind, out=closest)
        pot = float(np.dot(w.astype(np.float64), closest))
    C = np.unique(np.concatenate(cand), axis=0)
    if C.shape[0] <= n_clusters:  # too few distinct candidates: top up with random rows
        extra = X[rng.choice(n, size=n_clusters - C.shape[0] + 1, replace=False)]
        C = np.concatenate([C, extra])[:max(n_clusters, C.shape[0])]
        if C.shape[0] == n_clusters:
            return np.ascontiguousarray(C)
    labels, _, _ = be.assign(np.ascontiguousarray(C))
    cw = np.bincount(labels, weights=w, minlength=C.shape[0]).astype(X.dtype)
    keep = cw > 0
    C, cw = np.ascontiguousarray(C[keep]), cw[keep]
    if C.shape[0] < n_clusters:
        C = np.concatenate([C, X[rng.choice(n, n_clusters - C.shape[0], replace=False)]])
        return np.ascontiguousarray(C)
    centers, _ = kmeans_plusplus(C, n_clusters, rng, sample_weight=cw, use_numba=False)
    small = make_backend("numpy", C, cw)
    for _ in range(10):  # weighted Lloyd on the candidates (small: ~rounds * ell points)
        sums, weights, _, _, _ = small.step(centers)
        nz = weights > 0
        centers[nz] = (sums[nz] / weights[nz, None]).astype(X.dtype)
    return centers


def random_rows(X: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """``n_clusters`` distinct rows of X drawn uniformly. Cost: k rows copied."""
    return np.ascontiguousarray(X[rng.choice(X.shape[0], size=n_clusters, replace=False)])
