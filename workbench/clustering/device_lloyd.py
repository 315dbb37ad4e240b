"""k-means on a torch device, end to end: k-means++ seeding, Lloyd iterations (chunked
GEMM + argmin assignment, ``index_add_`` update, empty-cluster relocation, convergence
test) all as device tensors; the host sees the result.

The steps are those of :func:`workbench.clustering.kmeans.lloyd` (scikit-learn's Lloyd):
from the same initial centers both give the same labels and centers (float64: to
summation-order rounding; float32: to float32 rounding of the sums).

How the host never waits per step:

- Empty clusters are relocated without asking whether there are any: the farthest points
  (``topk`` of the distances, k of them) are matched to the empty clusters by rank with
  masked arithmetic, a no-op when no cluster is empty.
- Convergence is a device flag. Once it is set, later steps leave the state unchanged
  (``torch.where`` on the flag), so steps run past convergence are harmless. On CUDA the
  flag of step t is copied (non-blocking) to pinned host memory and read ``lag`` steps
  later, when the GPU has long finished it, so the queue never drains: at most ``lag``
  wasted steps per fit. On CPU it is read every step (no transfer).
- Distances use ``torch.addmm`` on row chunks whose n_chunk x k block stays within
  ``chunk_bytes`` (bounded memory whatever n); the argmin is ``Tensor.min(1)``. This is
  the "chunked GEMM" route: plain torch kernels, no torch.compile / Triton.
"""

from __future__ import annotations

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover - torch is a dependency
    torch = None

DEFAULT_CHUNK_BYTES = {"cuda": 512 * 2**20, "cpu": 8 * 2**20}
DEFAULT_LAG = 4


def chunk_rows(n: int, k: int, itemsize: int, device, chunk_bytes: int | None = None
               ) -> int:
    """Rows per assignment chunk: the n_chunk x k distance block within `chunk_bytes`
    (default 512 MiB on CUDA, 8 MiB on CPU: cache-sized)."""
    kind = torch.device(device).type
    budget = chunk_bytes or DEFAULT_CHUNK_BYTES.get(kind, DEFAULT_CHUNK_BYTES["cpu"])
    return int(max(256, min(n, budget // max(1, k * itemsize))))


def assign(X, xsq, C, chunk: int):
    """Nearest center of every row: (labels int64 (n,), mind (n,) squared distances in X's
    dtype), device tensors. Cost: 2 n k d flops in ``ceil(n / chunk)`` GEMMs; extra memory
    chunk x k."""
    n = X.shape[0]
    CT = (-2.0 * C).T.contiguous()
    cn = (C.double() ** 2).sum(1).to(X.dtype)
    labels = torch.empty(n, dtype=torch.int64, device=X.device)
    mind = torch.empty(n, dtype=X.dtype, device=X.device)
    for lo in range(0, n, chunk):
        D = torch.addmm(cn, X[lo:lo + chunk], CT)
        m, lab = D.min(1)
        labels[lo:lo + chunk] = lab
        torch.clamp_min(m + xsq[lo:lo + chunk], 0, out=mind[lo:lo + chunk])
    return labels, mind


def _sums(X, w, labels, k: int, chunk: int, unit_w: bool, w64=None):
    """Weighted sums (k, d) and weights (k,) of the points per label, float64. Chunk sums
    in X's dtype (``index_add_``), accumulated in float64 (``w64``: w in float64)."""
    d = X.shape[1]
    sums = torch.zeros((k, d), dtype=torch.float64, device=X.device)
    part = torch.empty((k, d), dtype=X.dtype, device=X.device)
    for lo in range(0, X.shape[0], chunk):
        Xb = X[lo:lo + chunk]
        lab = labels[lo:lo + chunk]
        xw = Xb if unit_w else Xb * w[lo:lo + chunk, None]
        part.zero_()
        sums += part.index_add_(0, lab, xw).double()
    weights = torch.zeros(k, dtype=torch.float64, device=X.device)
    weights.index_add_(0, labels, w.double() if w64 is None else w64)
    return sums, weights


def _relocate_empty(X, w, sums, weights, labels, mind):
    """scikit-learn's empty-cluster rule without a host sync: the j-th empty cluster (in
    index order) takes the j-th farthest point from its own center, which leaves its old
    cluster. Masked arithmetic: nothing changes when no cluster is empty."""
    k = weights.shape[0]
    empty = weights == 0
    far = torch.topk(mind, k).indices              # farthest first (k <= n)
    rank = (torch.cumsum(empty.to(torch.int64), 0) - 1).clamp_min(0)
    pt = far[rank]                                 # point for each (empty) cluster
    wv = torch.where(empty, w[pt].double(), torch.zeros((), dtype=torch.float64,
                                                        device=w.device))
    xw = X[pt].double() * wv[:, None]
    old = labels[pt]
    sums = sums.index_add(0, old, -xw)
    weights = weights.index_add(0, old, -wv)
    sums = torch.where(empty[:, None], xw, sums)
    weights = torch.where(empty, wv, weights)
    return sums, weights


def tolerance(X, tol: float):
    """tol times the mean feature variance, as a device scalar (scikit-learn's rule)."""
    if tol == 0:
        return torch.zeros((), dtype=torch.float64, device=X.device)
    return torch.var(X, dim=0, correction=0).double().mean() * tol


class _FlagReader:
    """Reads a device bool `lag` steps late without draining the queue. On CUDA the copy
    goes to pinned memory behind an event; on CPU the same bookkeeping runs synchronously
    (lag 0 by default there: nothing to overlap)."""

    def __init__(self, device, lag: int):
        self.cuda = device.type == "cuda"
        self.lag = max(0, int(lag))
        R = self.lag + 1
        self.host = torch.zeros(R, dtype=torch.bool, pin_memory=self.cuda)
        self.events = [torch.cuda.Event() for _ in range(R)] if self.cuda else None

    def push(self, t: int, flag) -> bool:
        """Record step t's flag; returns True when the flag of step t - lag is set."""
        R = self.lag + 1
        self.host[t % R].copy_(flag, non_blocking=self.cuda)
        if self.cuda:
            self.events[t % R].record()
        if t >= self.lag:
            s = (t - self.lag) % R
            if self.cuda:
                self.events[s].synchronize()       # step t - lag: long done on the GPU
            return bool(self.host[s])
        return False


def lloyd(X, w, centers, max_iter: int, tol: float, *, chunk: int | None = None,
          lag: int | None = None, unit_weights: bool = False):
    """Lloyd iterations from `centers`, all on X's device.

    X (n, d) float32/float64 tensor, w (n,) weights (X's dtype), centers (k, d).
    Returns (labels int64 (n,), centers (k, d) X's dtype, inertia float64 0-d, n_iter int64
    0-d, steps_run) — tensors on X's device but `steps_run` (steps computed, >= n_iter:
    the flag is read `lag` steps late on CUDA). ``unit_weights=True`` (the caller knows
    every weight is 1) skips the weighting pass. Cost: (steps_run + 1) passes over X, each
    2 n k d flops; memory chunk x k besides X.
    """
    k = centers.shape[0]
    n = X.shape[0]
    chunk = chunk or chunk_rows(n, k, X.element_size(), X.device)
    xsq = (X * X).sum(1)
    unit_w = bool(unit_weights)     # told by the caller: checking w here would sync
    tol_abs = tolerance(X, tol)
    w64 = w.double()
    C = centers.to(X.dtype).clone()
    done = torch.zeros((), dtype=torch.bool, device=X.device)
    n_iter = torch.zeros((), dtype=torch.int64, device=X.device)
    labels_old = None
    if lag is None:
        lag = DEFAULT_LAG if X.device.type == "cuda" else 0
    reader = _FlagReader(X.device, lag)
    steps = 0
    for it in range(max_iter):
        labels, mind = assign(X, xsq, C, chunk)
        sums, weights = _sums(X, w, labels, k, chunk, unit_w, w64)
        sums, weights = _relocate_empty(X, w, sums, weights, labels, mind)
        nz = weights > 0
        new = torch.where(nz[:, None], sums / torch.where(nz, weights, 1.0)[:, None],
                          C.double()).to(X.dtype)
        shift = ((new.double() - C.double()) ** 2).sum()
        conv = shift <= tol_abs
        if labels_old is not None:
            conv = conv | ~(labels != labels_old).any()
        C = torch.where(done, C, new)              # frozen once converged
        n_iter = n_iter + (~done).to(torch.int64)
        done = done | conv
        labels_old = labels
        steps = it + 1
        if reader.push(it, done):
            break
    labels, mind = assign(X, xsq, C, chunk)
    inertia = (w64 * mind.double()).sum()
    return labels, C, inertia, n_iter, steps


def kmeans_plusplus(X, n_clusters: int, rng: np.random.Generator, w=None,
                    n_local_trials: int | None = None, chunk: int | None = None):
    """Greedy k-means++ on X's device (the steps and random draws of
    :func:`workbench.clustering.init.kmeans_plusplus`: numpy's Generator draws the uniform
    numbers, the device does the rest; the host never reads a device value).

    Returns centers (k, d) in X's dtype on X's device. Cost: k passes over X, each
    2 n t d flops (t = n_local_trials, default 2 + log k); memory n x t. If every point
    coincides with a chosen center (zero potential) later candidates repeat row 0's
    neighbourhood rather than a random row (numpy draws a random row there).
    """
    n, d = X.shape
    dev = X.device
    if w is None:
        w = torch.ones(n, dtype=X.dtype, device=dev)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    chunk = chunk or chunk_rows(n, max(n_local_trials, 1), X.element_size(), dev)
    w64 = w.double()
    xsq = (X * X).sum(1)
    wsum = torch.cumsum(w64, 0)

    def dists(cand):                          # (n, t) squared distances, X's dtype
        csq = (cand * cand).sum(1)
        out = torch.empty((n, cand.shape[0]), dtype=X.dtype, device=dev)
        for lo in range(0, n, chunk):
            G = X[lo:lo + chunk] @ cand.T
            out[lo:lo + chunk] = (xsq[lo:lo + chunk, None] + csq[None] - 2 * G).clamp_min(0)
        return out

    # every uniform number up front, in the numpy reference's order, moved in one copy (a
    # pageable host-to-device copy per center would wait for the queue each time)
    u_all = np.concatenate([[rng.random()]] + [rng.random(n_local_trials)
                                                for _ in range(1, n_clusters)])
    u_dev = torch.as_tensor(u_all, dtype=torch.float64).to(dev)

    def draw(cum, u_t):
        idx = torch.searchsorted(cum, u_t * cum[-1])
        return idx.clamp_(0, n - 1)

    # indices stay 1-d device tensors (index_select / gather): indexing with a 0-d tensor
    # would read it on the host
    centers = torch.empty((n_clusters, d), dtype=X.dtype, device=dev)
    first = draw(wsum, u_dev[:1])
    centers[0:1] = X.index_select(0, first)
    closest = dists(X.index_select(0, first))[:, 0].contiguous()
    for c in range(1, n_clusters):
        cum = torch.cumsum(w64 * closest.double(), 0)
        lo = 1 + (c - 1) * n_local_trials
        cand_ids = draw(cum, u_dev[lo:lo + n_local_trials])
        D = dists(X.index_select(0, cand_ids))
        pots = (w64[:, None] * torch.minimum(closest[:, None], D).double()).sum(0)
        best = torch.argmin(pots).view(1)
        closest = torch.minimum(closest, D.index_select(1, best)[:, 0])
        centers[c:c + 1] = X.index_select(0, cand_ids.gather(0, best))
    return centers


def as_device_data(X, w, device, dtype=None):
    """(X, w) as contiguous tensors on `device` (copied only when needed)."""
    dev = torch.device(device)
    Xt = X if torch.is_tensor(X) else torch.from_numpy(np.ascontiguousarray(X))
    if dtype is not None:
        Xt = Xt.to(dtype)
    Xt = Xt.to(dev).contiguous()
    wt = w if torch.is_tensor(w) else torch.from_numpy(np.ascontiguousarray(w))
    wt = wt.to(device=dev, dtype=Xt.dtype)
    return Xt, wt
