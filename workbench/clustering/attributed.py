"""Spectral clustering of graphs whose vertices carry attributes, through the augmented
graph (as in "Extending Bootstrap AMG for Clustering of Attributed Graphs"): every
attribute becomes a vertex joined to the vertices that carry it, and the Laplacian
embedding of the augmented graph is computed with an algebraic-multigrid-preconditioned
eigensolver (pyamg's smoothed aggregation inside scipy's LOBPCG, as scikit-learn's
``spectral_embedding(eigen_solver="amg")``), then k-means clusters the graph vertices.

    A, X, y = planted_attributed_graph(2000, n_clusters=4, seed=0).arrays()
    model = AttributedSpectralClustering(4, attribute_weight=1.0).fit(A, X)
    model.labels_, model.embedding_.eigenvalues

    W_aug = [[A,        alpha X],
             [alpha X^T,      0]]     (n + a) x (n + a), sparse

`alpha` (``attribute_weight``) sets how much the attributes count against the edges:
0 is structure only; a large value lets the attributes dominate. Cost: O(nnz(A) + nnz(X))
to build, AMG set-up about O(nnz) and a few tens of LOBPCG iterations of O(nnz k) each;
no dense (n + a)-square matrix is ever formed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from workbench.clustering.graph import AffinityGraph
from workbench.clustering.spectral import (
    SpectralEmbedding,
    _sign_flip,
    assign_labels,
    normalized_adjacency,
    spectral_embedding,
)
from workbench.errors import InputFormatError, NonFiniteError, RankError, ShapeError

__all__ = ["AttributedGraph", "AttributedSpectralClustering", "attributed_embedding",
           "augmented_graph", "planted_attributed_graph"]


def _check(adjacency, attributes):
    A = sp.csr_matrix(adjacency, dtype=np.float64)
    X = sp.csr_matrix(attributes, dtype=np.float64)
    n = A.shape[0]
    if A.shape != (n, n):
        raise ShapeError(f"the adjacency must be square, got shape {A.shape}")
    if X.shape[0] != n:
        raise ShapeError(f"the attribute matrix has {X.shape[0]} rows; the graph has {n} "
                         "vertices (one row of attributes per vertex)")
    for name, M in (("adjacency", A), ("attribute matrix", X)):
        if not np.isfinite(M.data).all():
            raise NonFiniteError(f"the {name} holds NaN or inf values")
        if (M.data < 0).any():
            raise InputFormatError(f"the {name} has negative entries; weights must be >= 0")
    if abs(A - A.T).max() > 1e-12 * max(1.0, abs(A).max()):
        raise InputFormatError("the adjacency is not symmetric (an undirected graph is "
                               "needed); pass (A + A.T) / 2")
    return A, X


def augmented_graph(adjacency, attributes, attribute_weight: float = 1.0) -> AffinityGraph:
    """The augmented graph [[A, w X], [w X^T, 0]] as an AffinityGraph over n + a' vertices
    (graph vertices first; attributes nobody carries are dropped, ``params["attributes"]``
    lists the kept columns). Cost: O(nnz(A) + nnz(X))."""
    from scipy.sparse.csgraph import connected_components

    t0 = time.perf_counter()
    A, X = _check(adjacency, attributes)
    w = float(attribute_weight)
    if w < 0:
        raise InputFormatError(f"attribute_weight must be >= 0, got {w}")
    kept = np.flatnonzero(np.asarray(X.sum(axis=0)).ravel() > 0) if w > 0 else \
        np.zeros(0, dtype=int)
    Xk = X[:, kept] * w
    W = sp.bmat([[A, Xk], [Xk.T, None]], format="csr") if kept.size else A.copy()
    ncomp, comp = connected_components(W, directed=False)
    return AffinityGraph(W, int(ncomp), comp, "augmented",
                         {"n_vertices": A.shape[0], "attributes": kept,
                          "attribute_weight": w}, time.perf_counter() - t0)


def _amg_embedding(graph: AffinityGraph, n_eigs: int, tol: float | None, seed: int,
                   max_iter: int) -> SpectralEmbedding:
    """Smallest eigenpairs of the normalized Laplacian by LOBPCG with a smoothed-
    aggregation AMG preconditioner (scikit-learn's amg recipe: precondition L + 1e-5 I,
    start from D^1/2 1 and random vectors)."""
    from pyamg import smoothed_aggregation_solver
    from scipy.sparse.linalg import lobpcg

    t0 = time.perf_counter()
    M, dd = normalized_adjacency(graph.W)
    n = graph.n
    L = (sp.identity(n, format="csr") - M).tocsr()
    ml = smoothed_aggregation_solver((L + 1e-5 * sp.identity(n, format="csr")).tocsr())
    rng = np.random.default_rng(seed)
    X0 = rng.standard_normal((n, n_eigs + 1))
    X0[:, 0] = dd
    vals, vecs, hist = lobpcg(L, X0, M=ml.aspreconditioner(), tol=tol, largest=False,
                              maxiter=max_iter, retResidualNormsHistory=True)
    order = np.argsort(vals)[:n_eigs]
    vals, vecs = np.clip(vals[order], 0.0, 2.0), vecs[:, order]
    iters = len(hist)
    res = np.linalg.norm(L @ vecs - vecs * vals, axis=0)
    maps = _sign_flip(vecs) / dd[:, None]
    goal = n * np.sqrt(np.finfo(float).eps) if tol is None else tol
    return SpectralEmbedding(vals, maps, graph.n_components, iters * (n_eigs + 1),
                             bool(np.all(res <= 10 * goal)), time.perf_counter() - t0)


def attributed_embedding(adjacency, attributes, n_eigs: int = 8, *,
                         attribute_weight: float = 1.0, solver: str = "amg",
                         tol: float | None = None, seed: int = 0,
                         max_iter: int = 40) -> SpectralEmbedding:
    """The `n_eigs` smallest normalized-Laplacian eigenpairs of the augmented graph,
    restricted to the graph's vertices (``maps`` has n rows; eigenvalues are those of the
    augmented graph). solver: "amg" (LOBPCG + pyamg; large graphs), or any solver of
    :func:`workbench.clustering.spectral_embedding` ("shift_invert", "lanczos", "dense").
    `tol` / `max_iter`: LOBPCG's residual tolerance (None: scipy's default, n sqrt(eps),
    as scikit-learn's amg solver; enough for k-means on the embedding) and iteration cap;
    ask for 1e-8 for eigenvectors accurate to plotting precision.
    Returns SpectralEmbedding. Cost: see the module docstring."""
    graph = augmented_graph(adjacency, attributes, attribute_weight)
    n = graph.params["n_vertices"]
    if not 1 <= n_eigs < graph.n:
        raise RankError(f"n_eigs={n_eigs} is out of range for a graph of {graph.n} vertices")
    if solver == "amg" and graph.n > 5 * (n_eigs + 1):
        emb = _amg_embedding(graph, n_eigs, tol, seed, max_iter)
    else:
        emb = spectral_embedding(graph, n_eigs, solver="dense" if solver == "amg" else solver,
                                 tol=1e-8 if tol is None else tol, seed=seed)
    return SpectralEmbedding(emb.eigenvalues, emb.maps[:n], emb.n_components,
                             emb.num_matvecs, emb.converged, emb.seconds)


class AttributedSpectralClustering:
    """Spectral clustering of an attributed graph (see the module docstring).
    ``fit(adjacency, attributes)`` sets ``labels_`` (n,), ``embedding_``
    (SpectralEmbedding over the graph vertices) and ``seconds_``."""

    def __init__(self, n_clusters: int, *, attribute_weight: float = 1.0,
                 solver: str = "amg", n_eigs: int | None = None, seed: int = 0,
                 assign: str = "kmeans"):
        self.n_clusters, self.attribute_weight = int(n_clusters), float(attribute_weight)
        self.solver, self.n_eigs, self.seed, self.assign = solver, n_eigs, int(seed), assign

    def fit(self, adjacency, attributes) -> AttributedSpectralClustering:
        t0 = time.perf_counter()
        if self.n_clusters < 1:
            raise RankError(f"n_clusters must be >= 1, got {self.n_clusters}")
        k = self.n_eigs or self.n_clusters
        self.embedding_ = attributed_embedding(adjacency, attributes, max(k, self.n_clusters),
                                               attribute_weight=self.attribute_weight,
                                               solver=self.solver, seed=self.seed)
        self.labels_ = assign_labels(self.embedding_, self.n_clusters, self.assign,
                                     seed=self.seed)
        self.seconds_ = time.perf_counter() - t0
        return self

    def fit_predict(self, adjacency, attributes) -> np.ndarray:
        return self.fit(adjacency, attributes).labels_


@dataclass(frozen=True)
class AttributedGraph:
    """A planted attributed graph: ``adjacency`` (n x n CSR, 0/1, symmetric, self-loops),
    ``attributes`` (n x a CSR, 0/1), ``labels`` (n,) and the parameters."""

    adjacency: sp.csr_matrix = field(repr=False)
    attributes: sp.csr_matrix = field(repr=False)
    labels: np.ndarray = field(repr=False)
    params: dict

    def arrays(self):
        """(adjacency, attributes, labels)."""
        return self.adjacency, self.attributes, self.labels


def planted_attributed_graph(n_samples: int = 2000, n_clusters: int = 4,
                             mean_degree: float = 8.0, signal: float | None = None,
                             n_attributes: int = 200, attributes_per_vertex: float = 6.0,
                             attribute_purity: float = 0.5, seed: int = 0) -> AttributedGraph:
    """A planted partition (``clustering.datasets.planted_partition``: k blocks, mean
    degree, structural `signal` a - b) whose vertices also carry binary attributes: the
    `n_attributes` attributes are split evenly among the blocks, each vertex draws
    Poisson(`attributes_per_vertex`) of them, a fraction `attribute_purity` from its own
    block's attributes and the rest uniformly from all. Both the edges and the attributes
    then carry part of the signal. Cost O(n (c + attributes_per_vertex))."""
    from workbench.clustering.datasets import planted_partition

    g = planted_partition(n_samples, n_clusters, mean_degree, signal, seed)
    n, k, a = g.W.shape[0], int(n_clusters), int(n_attributes)
    if a < k:
        raise RankError(f"n_attributes={a} must be >= n_clusters={k}")
    if not 0 <= attribute_purity <= 1:
        raise InputFormatError(f"attribute_purity must be in [0, 1], got {attribute_purity}")
    rng = np.random.default_rng(seed + 1)
    owner = np.arange(a) % k
    own = [np.flatnonzero(owner == c) for c in range(k)]
    rows, cols = [], []
    counts = rng.poisson(attributes_per_vertex, n)
    for i in range(n):
        m = counts[i]
        pure = rng.random(m) < attribute_purity
        picks = np.where(pure, rng.choice(own[g.labels[i]], m), rng.integers(0, a, m))
        rows.append(np.full(m, i))
        cols.append(picks)
    r, c = np.concatenate(rows), np.concatenate(cols)
    X = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, a))
    X.data[:] = 1.0  # duplicates count once
    return AttributedGraph(g.W, X, g.labels,
                           {**g.params, "n_attributes": a,
                            "attributes_per_vertex": attributes_per_vertex,
                            "attribute_purity": attribute_purity})
