"""Lloyd iterations of k-means on three backends: numpy (reference), numba (fused), torch.

A backend object holds the prepared data (dtype, device, row norms) and offers two passes:

- ``step(centers) -> (sums (k,d) f64, weights (k,) f64, inertia, labels, mind)``: assign
  every point to its nearest center and accumulate the new centers' weighted sums.
- ``assign(centers) -> (labels, mind, inertia)``: the assignment only.

``mind`` is each point's squared distance to its center (numpy, used to relocate empty
clusters). Each pass reads X once and costs 2 n k d flops.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from workbench.backends.numba_support import parallel_guard

_BLOCK_ROWS = 512   # rows per GEMM block: 512 x d stays in L2 for d <= 256
# k from which the argmin runs vectorized over points (k x block GEMM); None: never. Off:
# measured slower than the point-by-point scan of the block x k GEMM at every k on the
# 2-core AMD EPYC build machine (CPU time per pass, 120k x 24 float32: k=12 3.8 vs 5.6 ms,
# k=100 18 vs 23 ms, k=200 35 vs 45 ms). Set an int to use it where it wins.
_TRANSPOSE_K: int | None = None
# PrunedLloyd(adaptive=True) hands the run to the fused pass when pass _FALLBACK_PASS sends
# more than this fraction of the rows through the GEMM. Measured fractions at that pass
# (120k x 24 float32): blobs k=25/50/100/200 0.81/0.52/0.56/0.84 (pruning then wins
# 1.2-1.8x); uniform 0.92/0.96/0.93/0.95 and blobs + 1000 (far from the origin: the
# rounding margin swamps the gaps) 0.96/0.82/0.87/0.92 (pruning loses up to 1.85x).
_FALLBACK_PASS = 3
_FALLBACK_FRACTION = 0.85
_PRUNED_BLOCK_ROWS = 2048  # rows per bound-filter block of PrunedLloyd (gathered GEMM):
# measured, CPU ms per fit at 120k x 24 float32 blobs k=100, block 256 / 512 / 1024 / 2048 /
# 4096: 261 / 249 / 245 / 237 / 234 (larger gathered GEMMs); uniform k=100 381 / 367 / 366 /
# 367 / 367


def _n_chunks(n: int) -> int:
    try:
        import numba

        threads = numba.get_num_threads()
    except ImportError:  # pragma: no cover
        threads = 1
    return max(1, min(2 * threads, n // 64 or 1))


class NumpyLloyd:
    """Reference backend: chunked GEMM for distances, a sparse one-hot product for sums."""

    name = "numpy"

    def __init__(self, X: np.ndarray, w: np.ndarray, chunk: int = 8192):
        self.X, self.w, self.chunk = X, w, chunk
        self.xsq = np.einsum("ij,ij->i", X, X)

    def _assign(self, centers):
        X = self.X
        n = X.shape[0]
        CT = (-2.0 * centers.T).astype(X.dtype)
        cn = (centers.astype(np.float64) ** 2).sum(1).astype(X.dtype)
        labels = np.empty(n, dtype=np.int32)
        mind = np.empty(n, dtype=X.dtype)
        for lo in range(0, n, self.chunk):
            D = X[lo:lo + self.chunk] @ CT + cn
            lab = np.argmin(D, axis=1)
            labels[lo:lo + self.chunk] = lab
            mind[lo:lo + self.chunk] = np.maximum(
                D[np.arange(D.shape[0]), lab] + self.xsq[lo:lo + self.chunk], 0)
        return labels, mind

    def assign(self, centers):
        labels, mind = self._assign(centers)
        return labels, mind, float(np.dot(self.w.astype(np.float64), mind))

    def step(self, centers):
        labels, mind = self._assign(centers)
        k = centers.shape[0]
        n = self.X.shape[0]
        onehot = sp.csr_matrix((self.w.astype(np.float64), (labels, np.arange(n))), shape=(k, n))
        sums = np.asarray(onehot @ self.X.astype(np.float64, copy=False))
        weights = np.bincount(labels, weights=self.w, minlength=k).astype(np.float64)
        return sums, weights, float(np.dot(self.w.astype(np.float64), mind)), labels, mind


class NumbaLloyd:
    """Fused kernel (``_kernels.lloyd_step``): one pass over X per iteration, parallel over
    chunks with per-thread partial sums; BLAS capped at one thread inside the pass (the
    caller's job, see ``KMeans.fit``). Row norms are computed once here."""

    name = "numba"

    def __init__(self, X: np.ndarray, w: np.ndarray, xsq: np.ndarray | None = None):
        from workbench.clustering import _kernels

        self.k = _kernels
        self.X, self.w = X, w
        n = X.shape[0]
        self.xsq = np.einsum("ij,ij->i", X, X) if xsq is None else xsq
        self.labels = np.empty(n, dtype=np.int32)
        self.mind = np.empty(n, dtype=X.dtype)
        self.n_chunks = _n_chunks(n)

    def _prep(self, centers):
        C2 = np.ascontiguousarray(-2.0 * centers, dtype=self.X.dtype)
        cn = (centers.astype(np.float64) ** 2).sum(1).astype(self.X.dtype)
        transposed = _TRANSPOSE_K is not None and centers.shape[0] >= _TRANSPOSE_K
        return C2, cn, transposed

    def step(self, centers):
        C2, cn, tr = self._prep(centers)
        with parallel_guard():
            sums, weights, inertia = self.k.lloyd_step(self.X, self.xsq, C2, cn, self.w,
                                                       self.labels, self.mind,
                                                       self.n_chunks, _BLOCK_ROWS, tr)
        return sums, weights, float(inertia), self.labels, self.mind

    def assign(self, centers):
        C2, cn, tr = self._prep(centers)
        with parallel_guard():
            inertia = self.k.assign(self.X, self.xsq, C2, cn, self.w, self.labels, self.mind,
                                    self.n_chunks, _BLOCK_ROWS, tr)
        return self.labels.copy(), self.mind, float(inertia)


class HamerlyLloyd:
    """Hamerly's exact pruning (``_hamerly.hamerly_step``): the same labels as computing
    every distance, with bounds carried from pass to pass so that most points skip the
    k-distance scan once the centers settle. Distances are direct float64 sums (not the
    GEMM expansion of ``NumbaLloyd``), so on exact ties of rounding the two may differ.

    ``mind`` from ``step`` is None (bounds, not distances, are kept); ``exact_mind()``
    computes the squared distances to the assigned centers of the last pass (n d flops),
    which the driver needs only to relocate an empty cluster. ``prune=False`` computes
    every distance (the reference the tests compare against). ``full_assignments``
    counts the points that needed the k-distance scan, pass by pass.
    """

    name = "numba"

    def __init__(self, X: np.ndarray, w: np.ndarray, prune: bool = True):
        from workbench.clustering import _hamerly

        self.kern = _hamerly
        self.X, self.w, self.prune = X, w, prune
        n = X.shape[0]
        self.labels = np.zeros(n, dtype=np.int32)
        self.u = np.zeros(n)
        self.lo = np.zeros(n)
        self.prev = None          # centers (float64) of the previous pass
        self.n_chunks = _n_chunks(n)
        self.xscale = float(np.sqrt(np.einsum("ij,ij->i", X, X).max(initial=0.0)))
        self.full_assignments: list[int] = []

    def _geometry(self, centers):
        """(C float64, moves p, half center distances (k x k), s, eps, first)."""
        C = np.ascontiguousarray(centers, dtype=np.float64)
        k = C.shape[0]
        first = self.prev is None or self.prev.shape != C.shape
        p = np.zeros(k) if first else np.sqrt(((C - self.prev) ** 2).sum(1))
        G = 0.5 * np.sqrt(((C[:, None, :] - C[None, :, :]) ** 2).sum(-1))
        np.fill_diagonal(G, np.inf)
        s = G.min(1)
        np.fill_diagonal(G, 0.0)
        # the bounds' float64 rounding is ~1e-16 of this scale per operation
        eps = 1e-9 * (self.xscale + float(np.sqrt((C * C).sum(1).max())) + 1.0)
        return C, p, G, s, eps, first

    def _pass(self, centers, sums_too: bool):
        C, p, _, s, eps, first = self._geometry(centers)
        with parallel_guard():
            sums, weights, nfull = self.kern.hamerly_step(
                self.X, self.w, C, np.ascontiguousarray(C.T), s, p, self.labels, self.u,
                self.lo, first, self.prune, eps, self.n_chunks, sums_too)
        self.prev = C
        self.full_assignments.append(int(nfull))
        return sums, weights

    def exact_mind(self):
        out = np.empty(self.X.shape[0])
        with parallel_guard():
            self.kern.assigned_sqdist(self.X, self.prev, self.labels, out)
        return out

    def step(self, centers):
        sums, weights = self._pass(centers, True)
        return sums, weights, float("nan"), self.labels, None

    def assign(self, centers):
        self._pass(centers, False)
        mind = self.exact_mind()
        return self.labels.copy(), mind, float(np.dot(self.w.astype(np.float64), mind))


class ElkanLloyd(HamerlyLloyd):
    """Elkan's exact pruning (``_hamerly.elkan_step``): k lower bounds per point (an n x k
    float64 array, kept relative to each center's cumulative move so a pass touches a
    point's bounds only when its upper bound fails ``s(a)``). Fewer distances than
    Hamerly for large k; same interface and exactness as ``HamerlyLloyd``."""

    def __init__(self, X: np.ndarray, w: np.ndarray, prune: bool = True):
        super().__init__(X, w, prune)
        self.Ls = None
        self.P = None

    def _pass(self, centers, sums_too: bool):
        C, p, G, s, eps, first = self._geometry(centers)
        k = C.shape[0]
        if first:
            self.Ls = np.empty((self.X.shape[0], k))
            self.P = np.zeros(k)
        self.P = self.P + p
        with parallel_guard():
            sums, weights, nfull = self.kern.elkan_step(
                self.X, self.w, C, np.ascontiguousarray(C.T), G, s, p, self.P, self.labels,
                self.u, self.Ls, first, self.prune, eps, self.n_chunks, sums_too)
        self.prev = C
        self.full_assignments.append(int(nfull))
        return sums, weights


class PrunedLloyd:
    """The fused GEMM pass with Hamerly's bounds as a filter (``_kernels.pruned_step``):
    rows whose bounds prove their center nearest by more than the GEMM's rounding keep it
    without any distance; the rest are gathered per block and assigned by one GEMM +
    argmin, as in ``NumbaLloyd``. Bounds are float64, two per point (16 n bytes).

    Exactness: a skipped row keeps the label any rounding of the GEMM would give it, so
    the labels equal the unpruned pass's (``prune=False``: every row through the GEMM)
    except where two centers are within the GEMM's rounding of a row (a near tie, where
    the GEMM's row-blocking decides either way). Sums, weights and the center update are
    the same code with or without pruning.

    ``mind`` from ``step`` is None; ``exact_mind()`` gives the direct float64 squared
    distances to the assigned centers (for empty-cluster relocation and the inertia).
    ``full_assignments`` counts the rows assigned by GEMM, pass by pass.

    ``adaptive=True`` (what ``KMeans`` runs): when the third pass still sends more than
    ``_FALLBACK_FRACTION`` of the rows through the GEMM, the rest of the run uses the
    plain fused pass (``NumbaLloyd``; ``fell_back_after`` says after how many passes):
    structureless or far-from-origin data, where the bounds prune too little to pay for
    themselves.
    """

    name = "numba"

    def __init__(self, X: np.ndarray, w: np.ndarray, prune: bool = True,
                 block: int | None = None, xsq: np.ndarray | None = None,
                 adaptive: bool = False):
        from workbench.clustering import _kernels

        self.kern = _kernels
        self.adaptive = adaptive
        self.fused: NumbaLloyd | None = None
        self.fell_back_after: int | None = None
        self.X, self.w, self.prune = X, w, prune
        n, d = X.shape
        self.xsq = np.einsum("ij,ij->i", X, X) if xsq is None else xsq
        self.labels = np.zeros(n, dtype=np.int32)
        self.u = np.zeros(n)
        self.lo = np.zeros(n)
        self.prev = None
        self.block = block or _PRUNED_BLOCK_ROWS
        self.n_chunks = _n_chunks(n)
        # rounding of one GEMM value ||c||^2 - 2 x.c relative to (|x| + |c|)^2: d + 2
        # roundings of the dtype's unit, doubled; plus float64 drift of the bounds
        unit = float(np.finfo(X.dtype).eps) / 2
        self.err = 2.0 * (d + 4) * unit + 1e-12
        self.full_assignments: list[int] = []

    def _pass(self, centers, sums_too: bool):
        C = np.ascontiguousarray(centers, dtype=np.float64)
        first = self.prev is None or self.prev.shape != C.shape
        p, s, cmax = self.kern.center_geometry(C, C if first else self.prev, first)
        C2 = np.ascontiguousarray(-2.0 * centers, dtype=self.X.dtype)
        cn = (C ** 2).sum(1).astype(self.X.dtype)
        with parallel_guard():
            sums, weights, ng = self.kern.pruned_step(
                self.X, self.xsq, C2, cn, C, self.w, self.labels, self.u, self.lo, s, p,
                first, self.prune, self.err, cmax, self.n_chunks, self.block, sums_too)
        self.prev = C
        self.full_assignments.append(int(ng))
        return sums, weights

    def exact_mind(self):
        from workbench.clustering import _hamerly

        out = np.empty(self.X.shape[0])
        with parallel_guard():
            _hamerly.assigned_sqdist(self.X, self.prev, self.labels, out)
        return out

    def step(self, centers):
        if self.fused is not None:
            self.full_assignments.append(self.X.shape[0])
            return self.fused.step(centers)
        sums, weights = self._pass(centers, True)
        n = self.X.shape[0]
        if (self.adaptive and self.prune and len(self.full_assignments) == _FALLBACK_PASS
                and self.full_assignments[-1] > _FALLBACK_FRACTION * n):
            # the bounds prune too little here: the rest of the run on the fused pass
            self.fused = NumbaLloyd(self.X, self.w, xsq=self.xsq)
            self.fell_back_after = len(self.full_assignments)
        return sums, weights, float("nan"), self.labels, None

    def assign(self, centers):
        if self.fused is not None:
            return self.fused.assign(centers)
        self._pass(centers, False)
        mind = self.exact_mind()
        return self.labels.copy(), mind, float(np.dot(self.w.astype(np.float64), mind))


class TorchLloyd:
    """torch backend (CPU or CUDA): chunked ``addmm`` + ``min`` for the assignment,
    ``index_add_`` for the sums (accumulated in float64)."""

    name = "torch"

    def __init__(self, X: np.ndarray, w: np.ndarray, device="cpu", chunk: int = 65536):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.X = torch.from_numpy(X).to(self.device)
        self.w = torch.from_numpy(w).to(self.device)
        self.xsq = (self.X * self.X).sum(1)
        self.chunk = chunk
        self.dtype = X.dtype
        self.unit_w = bool(np.all(w == 1))

    def _pass(self, centers, sums_too: bool):
        torch = self.torch
        C = torch.from_numpy(np.ascontiguousarray(centers, dtype=self.dtype)).to(self.device)
        k = C.shape[0]
        CT = (-2.0 * C).T.contiguous()
        cn = (C * C).sum(1)
        n = self.X.shape[0]
        labels = torch.empty(n, dtype=torch.int64, device=self.device)
        mind = torch.empty(n, dtype=self.X.dtype, device=self.device)
        sums = torch.zeros((k, C.shape[1]), dtype=torch.float64, device=self.device)
        for lo in range(0, n, self.chunk):
            Xb = self.X[lo:lo + self.chunk]
            D = torch.addmm(cn, Xb, CT)
            m, lab = D.min(1)
            labels[lo:lo + self.chunk] = lab
            mind[lo:lo + self.chunk] = (m + self.xsq[lo:lo + self.chunk]).clamp_min(0)
            if sums_too:  # chunk sums in X's dtype, accumulated in float64
                part = torch.zeros((k, C.shape[1]), dtype=Xb.dtype, device=self.device)
                xw = Xb if self.unit_w else Xb * self.w[lo:lo + self.chunk, None]
                sums += part.index_add_(0, lab, xw).double()
        inertia = float((self.w.double() * mind.double()).sum())
        weights = torch.bincount(labels, weights=self.w.double(), minlength=k)
        return (sums.cpu().numpy(), weights.cpu().numpy().astype(np.float64), inertia,
                labels.to(torch.int32).cpu().numpy(), mind.cpu().numpy())

    def step(self, centers):
        return self._pass(centers, True)

    def assign(self, centers):
        _, _, inertia, labels, mind = self._pass(centers, False)
        return labels, mind, inertia


# k from which KMeans(backend="numba", algorithm="auto") runs the direct-distance Hamerly
# kernel; None: never. Off: slower than the fused GEMM pass on the 2-core build machine
# (120k x 24 float32, 20 steps, CPU s: blobs k=12 Hamerly 0.131, Elkan 0.156 vs 0.066;
# k=100 0.546, 0.523 vs 0.398; uniform k=100 1.02, 1.49 vs 0.39): at d=24 a direct
# distance costs more than its share of a GEMM.
HAMERLY_MIN_K: int | None = None
# k from which "auto" takes PrunedLloyd (the GEMM pass behind Hamerly's bounds). Measured
# on the 2-core build machine (one numba thread, CPU ms of a 20-step fit from the same
# centers, 120k rows float32, fused / pruned): d=24 blobs (50 centres) k=12 50/67, k=25
# 87/67, k=50 201/130, k=100 374/278, k=200 715/673; uniform data (no clusters) k=12
# 78/143, k=25 117/180, k=50 202/244, k=100 370/394, k=200 704/744; d=64 blobs k=12 44/53,
# k=50 354/216, k=100 642/479; uniform k=50 374/430, k=100 646/681. From k=25 pruning
# wins 1.3-1.6x where the data have clusters and loses at most 17 % (6 % from k=100)
# where they have none; below, the fused pass wins.
PRUNED_MIN_K = 25


def make_backend(name: str, X: np.ndarray, w: np.ndarray, device: str = "cpu",
                 algorithm: str = "lloyd", xsq: np.ndarray | None = None):
    """The Lloyd backend object for `name` ("numpy", "numba" or "torch"); with "numba",
    ``algorithm="hamerly"`` / ``"elkan"`` / ``"pruned"`` give ``HamerlyLloyd`` /
    ``ElkanLloyd`` / ``PrunedLloyd``. ``xsq``: X's squared row norms when already known
    (numba "lloyd" and "pruned" use them)."""
    if name == "numba" and algorithm == "hamerly":
        return HamerlyLloyd(X, w)
    if name == "numba" and algorithm == "elkan":
        return ElkanLloyd(X, w)
    if name == "numba" and algorithm == "pruned":
        return PrunedLloyd(X, w, xsq=xsq, adaptive=True)
    if name == "numba":
        return NumbaLloyd(X, w, xsq=xsq)
    if name == "torch":
        return TorchLloyd(X, w, device=device)
    return NumpyLloyd(X, w)
