"""``KMeans``: a scikit-learn compatible k-means with numpy, numba and torch backends.

Same algorithm and stopping rule as scikit-learn's Lloyd k-means (strict convergence when
labels stop changing, else squared center shift <= tol * mean feature variance; empty
clusters relocated to the farthest points; a last assignment so labels match centers), so
from the same initial centers both give the same labels. The speed comes from the fused
numba pass (one read of X per iteration; for many centers a BLAS GEMM + argmin pass, see
:mod:`workbench.clustering.lloyd`) and a k-means++ seeding in numba.

``backend="torch"`` runs seeding (k-means++ / random / given centers) and every Lloyd step
on the torch device (:mod:`workbench.clustering.device_lloyd`); ``fit`` also takes a torch
tensor, which then stays where it is. The host reads the result, not each step.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from workbench import backends
from workbench.backends import arrays as ba
from workbench.clustering.init import kmeans_parallel, kmeans_plusplus, random_rows
from workbench.clustering.lloyd import HAMERLY_MIN_K, PRUNED_MIN_K, make_backend
from workbench.clustering.validation import as_rng, check_finite_rows, check_n_clusters
from workbench.errors import ConvergenceWarning, ShapeError


def _data_stats(X: np.ndarray):
    """(squared row norms or None, mean feature variance) of X: one parallel numba kernel
    (two reads of X) for float arrays when numba is there, else (None, numpy's float64
    variance)."""
    from workbench.backends.numba_support import HAVE_NUMBA, parallel_guard

    if HAVE_NUMBA and X.ndim == 2 and X.shape[0] > 0 and X.dtype in (np.float32,
                                                                      np.float64):
        from workbench.clustering import _kernels
        from workbench.clustering.lloyd import _n_chunks

        with parallel_guard():
            xsq, var = _kernels.row_norms_and_variance(np.ascontiguousarray(X),
                                                       _n_chunks(X.shape[0]))
        return xsq, float(var)
    return None, float(np.mean(np.var(X, axis=0, dtype=np.float64)))


def _tolerance(X: np.ndarray, tol: float) -> float:
    """``tol`` times the mean feature variance of X (scikit-learn's absolute tolerance).
    Cost: two reads of X (``_data_stats``)."""
    if tol == 0:
        return 0.0
    return _data_stats(X)[1] * tol


def lloyd(be, X, w, centers, max_iter: int, tol: float, tol_abs: float | None = None):
    """Run Lloyd iterations from `centers` on backend `be` (``tol_abs``: the absolute
    tolerance when already known, else computed from ``tol``).

    Returns (labels int32 (n,), centers (k, d), inertia, n_iter). Cost: n_iter + 1 passes
    over X (the last one assigns labels to the final centers).
    """
    if tol_abs is None:
        tol_abs = _tolerance(X, tol)
    labels_old = None
    centers = centers.astype(X.dtype, copy=True)
    n_iter = 0
    for it in range(max_iter):
        sums, weights, _, labels, mind = be.step(centers)
        empty = np.flatnonzero(weights == 0)
        if empty.size:
            if mind is None:            # a pruned backend keeps bounds, not distances
                mind = be.exact_mind()
            far = np.argsort(mind)[::-1][:empty.size]
            for c, i in zip(empty, far, strict=False):
                old = labels[i]
                sums[old] -= X[i] * w[i]
                weights[old] -= w[i]
                sums[c] = X[i] * w[i]
                weights[c] = w[i]
        nz = weights > 0
        new = centers.copy()
        new[nz] = (sums[nz] / weights[nz, None]).astype(X.dtype)
        shift = float(((new.astype(np.float64) - centers) ** 2).sum())
        centers = new
        n_iter = it + 1
        if labels_old is not None and np.array_equal(labels, labels_old):
            break
        if shift <= tol_abs:
            break
        labels_old = np.array(labels, copy=True)
    labels, _, inertia = be.assign(centers)
    return np.asarray(labels, dtype=np.int32), centers, inertia, n_iter


class KMeans(TransformerMixin, ClusterMixin, BaseEstimator):
    """k-means clustering (Lloyd), scikit-learn compatible.

    Parameters
    ----------
    n_clusters : number of clusters k (1 <= k <= number of distinct points).
    init : "k-means++" (greedy, numba), "k-means||", "random", or an array (k, d).
    n_init : restarts ("auto": 1 for k-means++/k-means||/array, 10 for random); the run
        with the lowest inertia is kept.
    max_iter, tol : as in scikit-learn (tol is relative to the mean feature variance).
    backend : "auto" (numba, else numpy; torch when ``device`` is a CUDA device), "numpy",
        "numba" or "torch".
    device : torch device for the torch backend ("cpu", "cuda", "auto"). A torch tensor
        given to ``fit`` stays on its own device unless ``device`` names a CUDA device
        (and a CUDA tensor selects the torch backend under backend="auto").
    random_state : int, None, numpy Generator or RandomState.
    n_local_trials : k-means++ candidates per center (default 2 + log k).
    algorithm : "auto", "lloyd", "pruned", "hamerly" or "elkan" (numba backend only; the
        others run Lloyd). "lloyd": the fused GEMM + argmin pass. "pruned": the same GEMM
        pass behind Hamerly's bounds (``lloyd.PrunedLloyd``): a row skips the GEMM when
        its bounds prove its center nearest by more than the GEMM's rounding, so labels
        are those of the unpruned pass but for near ties; when its third pass still sends
        over 85 % of the rows to the GEMM, the run continues on the plain fused pass
        (the bounds do not pay there). "hamerly" / "elkan" prune
        direct float64 distances with Hamerly's (2 bounds per point) / Elkan's (k + 1
        bounds per point, n x k float64) bounds (``_hamerly``): exact, the same labels,
        centers and n_iter as computing every distance with the same formula. "auto":
        "pruned" from k >= ``lloyd.PRUNED_MIN_K`` (25), else "lloyd" (measured on the
        2-core build machine, see docs/clustering.md).

    Attributes: ``cluster_centers_`` (k, d), ``labels_``, ``inertia_``, ``n_iter_``,
    ``n_features_in_``, ``init_seconds_``, ``fit_seconds_``, ``backend_`` (resolved name),
    ``algorithm_`` (what ran: "lloyd", "pruned", "hamerly" or "elkan");
    torch backend: ``lloyd_steps_run_`` (steps computed, >= n_iter_: on CUDA the
    convergence flag is read a few steps late, and steps past it change nothing).

    Cost of ``fit``: per restart, the seeding (k-means++: k passes over X) plus
    ``n_iter_ + 1`` passes over X of 2 n k d flops each.
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300,
                 tol=1e-4, backend="auto", device="cpu", random_state=None,
                 n_local_trials=None, algorithm="auto"):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.device = device
        self.random_state = random_state
        self.n_local_trials = n_local_trials
        self.algorithm = algorithm

    # ------------------------------------------------------------------ helpers
    def _resolve_backend(self) -> str:
        dev = str(self.device)
        if self.backend == "auto":
            if dev.startswith("cuda"):
                return "torch"
            return backends.resolve("auto", ("numba", "numpy"))
        return backends.resolve(self.backend)

    def _resolve_algorithm(self, be_name: str) -> str:
        if self.algorithm not in ("auto", "lloyd", "pruned", "hamerly", "elkan"):
            raise ValueError(f"algorithm must be 'auto', 'lloyd', 'pruned', 'hamerly' or "
                             f"'elkan', got {self.algorithm!r}")
        if be_name != "numba":
            return "lloyd"
        if self.algorithm == "auto":
            if HAMERLY_MIN_K is not None and self.n_clusters >= HAMERLY_MIN_K:
                return "hamerly"
            return "pruned" if self.n_clusters >= PRUNED_MIN_K else "lloyd"
        return self.algorithm

    def _device(self) -> str:
        if self.device == "auto":
            return str(backends.torch_device("auto"))
        return str(self.device)

    def _check_tensor(self, X):
        """A torch tensor for the device path: 2-D, float32/float64, finite (one device
        reduction; the bad row is located on the host only when there is one)."""
        import torch

        if X.ndim != 2:
            raise ShapeError(f"KMeans: X must be 2-D (n_samples, n_features), got shape "
                             f"{tuple(X.shape)}")
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ShapeError(f"KMeans: X is empty (shape {tuple(X.shape)})")
        if X.dtype not in (torch.float32, torch.float64):
            X = X.to(torch.float64)
        if not bool(torch.isfinite(X).all()):
            check_finite_rows(ba.to_numpy(X), "KMeans")
        self.n_features_in_ = int(X.shape[1])
        return X

    def _check_X(self, X, reset: bool):
        if ba.is_torch(X):
            X = ba.to_numpy(X)
        check_finite_rows(X, "KMeans")
        X = validate_data(self, X, reset=reset, accept_sparse=False,
                          dtype=[np.float64, np.float32], order="C", copy=False,
                          ensure_min_samples=1)
        if not X.flags.writeable:  # read-only (e.g. a memmap): the compiled kernels take
            X = X.copy()           # writeable arrays only (one specialization, warmed up)
        return X

    def _n_init(self) -> int:
        if self.n_init == "auto":
            return 10 if isinstance(self.init, str) and self.init == "random" else 1
        n_init = int(self.n_init)
        if n_init < 1:
            raise ValueError(f"n_init must be >= 1, got {self.n_init}")
        return n_init

    def _initial_centers(self, X, w, rng, be_name):
        k = self.n_clusters
        init = self.init
        if isinstance(init, str):
            if init == "k-means++":
                return kmeans_plusplus(X, k, rng, sample_weight=w,
                                       n_local_trials=self.n_local_trials,
                                       use_numba=be_name != "numpy")[0]
            if init == "k-means||":
                return kmeans_parallel(X, k, rng, sample_weight=w, backend=be_name)
            if init == "random":
                return random_rows(X, k, rng)
            raise ValueError(
                f"init must be 'k-means++', 'k-means||', 'random' or an array, got {init!r}")
        C = np.asarray(init, dtype=X.dtype)
        if C.shape != (k, X.shape[1]):
            raise ShapeError(f"init array has shape {C.shape}; expected (n_clusters, "
                             f"n_features) = ({k}, {X.shape[1]})")
        check_finite_rows(C, "KMeans init")
        return np.ascontiguousarray(C)

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None, sample_weight=None):
        """Cluster X (n x d). Returns self."""
        t0 = time.perf_counter()
        be_name = self._resolve_backend()
        if ba.is_torch(X) and X.device.type == "cuda" and self.backend == "auto":
            be_name = "torch"
        if ba.is_torch(X) and be_name == "torch":
            X = self._check_tensor(X)
        else:
            X = self._check_X(X, reset=True)
        n = X.shape[0]
        if not isinstance(self.n_clusters, (int, np.integer)) or isinstance(self.n_clusters,
                                                                              bool):
            raise TypeError(f"n_clusters must be an int, got {self.n_clusters!r}")
        check_n_clusters(self.n_clusters, n)
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        np_dtype = ba.numpy_dtype(X.dtype)
        if sample_weight is None:
            w = np.ones(n, dtype=np_dtype)
        else:
            w = np.asarray(ba.to_numpy(sample_weight), dtype=np_dtype).reshape(-1)
            if w.shape[0] != n:
                raise ShapeError(f"sample_weight has {w.shape[0]} entries for {n} samples")
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError("sample_weight must be finite and non-negative")
            if not np.any(w > 0):
                raise ValueError("sample_weight is zero for every sample: nothing to cluster")
        n_init = self._n_init()
        if not isinstance(self.init, str) and n_init != 1:
            warnings.warn("explicit initial centers given: n_init is set to 1",
                          RuntimeWarning, stacklevel=2)
            n_init = 1
        rng = as_rng(self.random_state)
        self.algorithm_ = self._resolve_algorithm(be_name)
        if be_name == "torch":
            best, init_s = self._fit_device(X, w, sample_weight is None, rng, n_init)
            return self._store(X, best, be_name, init_s, t0)
        best = None
        init_s = 0.0
        from workbench.backends.threads import one_blas_thread

        # numba threads each call a small GEMM: BLAS must not start its own threads inside
        limits = one_blas_thread() if be_name == "numba" else None
        # row norms and the variance behind tol: one numba kernel, once for all restarts
        xsq, var = _data_stats(X) if be_name == "numba" else (None, None)
        tol_abs = None if var is None else (0.0 if self.tol == 0 else var * self.tol)
        try:
            for _ in range(n_init):
                ti = time.perf_counter()
                C0 = self._initial_centers(X, w, rng, be_name)
                init_s += time.perf_counter() - ti
                # a fresh backend per restart: Hamerly's bounds belong to one run
                be = make_backend(be_name, X, w, device=self._device(),
                                  algorithm=self.algorithm_, xsq=xsq)
                labels, centers, inertia, n_iter = lloyd(be, X, w, C0, self.max_iter, self.tol,
                                                         tol_abs)
                if best is None or inertia < best[2]:
                    best = (labels, centers, inertia, n_iter)
        finally:
            if limits is not None:
                limits.restore_original_limits()
        return self._store(X, best, be_name, init_s, t0)

    def _fit_device(self, X, w, unit_weights: bool, rng, n_init: int):
        """Seeding and Lloyd on the torch device; returns ((labels, centers, inertia,
        n_iter) on the host, seeding seconds). One host read per restart (its inertia)."""
        import torch

        from workbench.clustering import device_lloyd as dl

        # a tensor stays on its device unless `device` names a CUDA device
        on_own = ba.is_torch(X) and not str(self.device).startswith("cuda")
        dev = X.device if on_own else self._device()
        Xt, wt = dl.as_device_data(X, w, dev)
        k = self.n_clusters
        best, best_inertia, init_s = None, None, 0.0
        self.lloyd_steps_run_ = 0
        for _ in range(n_init):
            ti = time.perf_counter()
            init = self.init
            if isinstance(init, str) and init == "k-means++":
                C0 = dl.kmeans_plusplus(Xt, k, rng, w=wt, n_local_trials=self.n_local_trials)
            elif isinstance(init, str) and init == "random":
                idx = rng.choice(Xt.shape[0], size=k, replace=False)
                C0 = Xt.index_select(0, torch.as_tensor(idx, device=Xt.device))
            elif isinstance(init, str) and init == "k-means||":   # seeded on the host
                Xn = ba.to_numpy(X) if ba.is_torch(X) else X
                C0 = torch.as_tensor(kmeans_parallel(Xn, k, rng, sample_weight=w,
                                                     backend="numba"), device=Xt.device)
            else:
                C0 = torch.as_tensor(self._initial_centers(ba.to_numpy(X[:1]), w[:1], rng,
                                                           "numpy"), device=Xt.device)
            init_s += time.perf_counter() - ti
            labels, C, inertia, n_iter, steps = dl.lloyd(Xt, wt, C0.to(Xt.dtype),
                                                         self.max_iter, self.tol,
                                                         unit_weights=unit_weights)
            self.lloyd_steps_run_ += steps
            val = float(inertia)                        # one host read per restart
            if best is None or val < best_inertia:
                best, best_inertia = (labels, C, n_iter), val
        labels, C, n_iter = best
        return (labels.to(torch.int32).cpu().numpy(), C.cpu().numpy(), best_inertia,
                int(n_iter)), init_s

    def _store(self, X, best, be_name: str, init_s: float, t0: float):
        labels, centers, inertia, n_iter = best
        n_distinct = int(np.count_nonzero(np.bincount(labels, minlength=self.n_clusters)))
        if n_distinct < self.n_clusters:
            warnings.warn(f"found {n_distinct} distinct clusters, fewer than n_clusters="
                          f"{self.n_clusters} (duplicate points?)", ConvergenceWarning,
                          stacklevel=2)
        self.cluster_centers_ = centers
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        self.backend_ = be_name
        self.init_seconds_ = init_s
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _assign(self, X):
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        w = np.ones(X.shape[0], dtype=X.dtype)
        be = make_backend(self.backend_, X, w, device=self._device())
        return be.assign(self.cluster_centers_.astype(X.dtype))

    def predict(self, X):
        """Index of the nearest center for every row of X. Cost: one pass, 2 n k d flops."""
        return np.asarray(self._assign(X)[0], dtype=np.int32)

    def fit_predict(self, X, y=None, sample_weight=None):
        """fit(X) then return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X):
        """Euclidean distances to every center, (n, k). Cost: 2 n k d flops."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        C = self.cluster_centers_.astype(X.dtype)
        D = (np.einsum("ij,ij->i", X, X)[:, None] - 2.0 * X @ C.T + (C * C).sum(1)[None])
        return np.sqrt(np.maximum(D, 0))

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Minus the inertia of X against the fitted centers (higher is better)."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        w = (np.ones(X.shape[0], dtype=X.dtype) if sample_weight is None
             else np.asarray(sample_weight, dtype=X.dtype))
        be = make_backend(self.backend_, X, w, device=self._device())
        return -float(be.assign(self.cluster_centers_.astype(X.dtype))[2])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
