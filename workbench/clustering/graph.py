"""Affinity graphs for spectral clustering: a sparse symmetric kNN graph (scikit-learn's
``kneighbors_graph``, kd-tree/ball-tree for low dimension), an RBF kernel on the kNN edges,
or a dense RBF kernel when asked; and their connected components.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from workbench.clustering.validation import check_finite_rows
from workbench.errors import RankError, ShapeError

DENSE_LIMIT = 20_000   # a dense n x n affinity above this is refused (3.2 GB at 20k float64)


class DisconnectedGraphWarning(UserWarning):
    """The affinity graph has several connected components (see ``n_components``)."""


@dataclass(frozen=True)
class AffinityGraph:
    """A symmetric affinity matrix W (scipy CSR, or a dense array when asked for) with its
    connected components. ``n_components`` > 1 means the Laplacian has that many zero
    eigenvalues and each component is a cluster of its own."""

    W: object
    n_components: int
    component_labels: np.ndarray = field(repr=False)
    affinity: str
    params: dict
    seconds: float

    @property
    def n(self) -> int:
        return self.W.shape[0]

    @property
    def nnz(self) -> int:
        return int(self.W.nnz) if sp.issparse(self.W) else self.n * self.n


def knn_graph(X: np.ndarray, n_neighbors: int = 10, *, mode: str = "connectivity",
              gamma: float | None = None, n_jobs: int | None = None) -> sp.csr_matrix:
    """Symmetric kNN affinity: W = (A + A^T) / 2 with A the kNN graph including the point
    itself (as scikit-learn's SpectralClustering). mode="connectivity": 0/1 weights;
    mode="rbf": exp(-gamma d^2) on the kNN edges (gamma default 1 / median squared kNN
    distance). Returns CSR float64 (n x n, about 2 n k nonzeros).
    Cost: a tree query, O(n k log n) for low dimension; O(n^2 d) brute force otherwise.
    """
    from sklearn.neighbors import kneighbors_graph

    if mode == "connectivity":
        A = kneighbors_graph(X, n_neighbors, mode="connectivity", include_self=True,
                             n_jobs=n_jobs)
    elif mode == "rbf":
        A = kneighbors_graph(X, n_neighbors, mode="distance", include_self=False,
                             n_jobs=n_jobs)
        d2 = A.data ** 2
        if gamma is None:
            med = float(np.median(d2)) if d2.size else 1.0
            gamma = 1.0 / med if med > 0 else 1.0
        A.data = np.exp(-gamma * d2)
        A = A + sp.identity(A.shape[0], format="csr")
    else:
        raise ValueError(f"mode must be 'connectivity' or 'rbf', got {mode!r}")
    W = 0.5 * (A + A.T)
    return sp.csr_matrix(W, dtype=np.float64)


def affinity_graph(X, affinity: str = "nearest_neighbors", n_neighbors: int = 10,
                   gamma: float | None = None, warn: bool = True) -> AffinityGraph:
    """Build the affinity graph of the rows of X.

    affinity: "nearest_neighbors" (sparse 0/1 kNN graph), "knn_rbf" (sparse, RBF weights on
    kNN edges), "rbf" (dense exp(-gamma ||x - y||^2), refused above DENSE_LIMIT points;
    gamma default 1 / n_features as scikit-learn), or "precomputed" (X is the affinity).
    A graph with several components gives a DisconnectedGraphWarning (when `warn`).
    Returns AffinityGraph. Cost: see ``knn_graph``; dense rbf O(n^2 d) time, n^2 memory.
    """
    t0 = time.perf_counter()
    if affinity == "precomputed":
        W = X if sp.issparse(X) else np.asarray(X, dtype=np.float64)
        if W.ndim != 2 or W.shape[0] != W.shape[1]:
            raise ShapeError(f"a precomputed affinity must be square, got shape {W.shape}")
        W = sp.csr_matrix(W, dtype=np.float64) if sp.issparse(W) else W
        data = W.data if sp.issparse(W) else W
        if not np.all(np.isfinite(data)) or np.any(data < 0):
            raise ValueError("a precomputed affinity must be finite and non-negative")
    else:
        check_finite_rows(X, "affinity graph")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ShapeError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        n = X.shape[0]
        if affinity in ("nearest_neighbors", "knn_rbf"):
            if not 1 <= n_neighbors < n:
                raise RankError(f"n_neighbors={n_neighbors} is out of range: need 1 <= "
                                f"n_neighbors < n_samples={n}")
            W = knn_graph(X, n_neighbors, mode="connectivity" if affinity ==
                          "nearest_neighbors" else "rbf", gamma=gamma)
        elif affinity == "rbf":
            if n > DENSE_LIMIT:
                raise RankError(f"affinity='rbf' forms a dense {n} x {n} matrix "
                                f"({n * n * 8 / 2**30:.1f} GiB); above {DENSE_LIMIT} points "
                                "use 'nearest_neighbors' or 'knn_rbf'")
            from sklearn.metrics.pairwise import rbf_kernel

            W = rbf_kernel(X, gamma=gamma if gamma is not None else 1.0 / X.shape[1])
        else:
            raise ValueError("affinity must be 'nearest_neighbors', 'knn_rbf', 'rbf' or "
                             f"'precomputed', got {affinity!r}")
    ncomp, comp = connected_components(sp.csr_matrix(W) if not sp.issparse(W) else W,
                                       directed=False)
    if ncomp > 1 and warn:
        warnings.warn(f"the affinity graph has {ncomp} connected components: the Laplacian "
                      f"has {ncomp} zero eigenvalues and no cluster spans two components "
                      "(increase n_neighbors to connect them)", DisconnectedGraphWarning,
                      stacklevel=2)
    return AffinityGraph(W, int(ncomp), comp, affinity,
                         {"n_neighbors": n_neighbors, "gamma": gamma},
                         time.perf_counter() - t0)
