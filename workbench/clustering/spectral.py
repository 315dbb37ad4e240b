"""Spectral clustering: normalized Laplacian eigenvectors from the engine, then k-means or
cluster-QR on the embedding; eigengap estimate of the number of clusters.

The smallest eigenpairs of the normalized Laplacian L = I - D^-1/2 W D^-1/2 are the largest
of the normalized adjacency M = D^-1/2 W D^-1/2, which ``workbench.spectral.top_eigs``
(thick-restart Lanczos, which="LA") finds with sparse products only: no dense n x n
matrix is formed for a sparse graph.

The three steps are separate functions so a dashboard can cache the costly ones:
``affinity_graph`` (graph.py) -> ``spectral_embedding`` -> ``assign_labels``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import validate_data

from workbench.clustering.graph import AffinityGraph, affinity_graph
from workbench.clustering.validation import as_rng, check_finite_rows, check_n_clusters
from workbench.errors import RankError, WorkbenchError


@dataclass(frozen=True)
class SpectralEmbedding:
    """Laplacian eigenvalues (ascending, ``eigenvalues[0]`` ~ 0) and the embedding
    ``maps`` (n x m: eigenvectors of L scaled by D^-1/2, i.e. random-walk eigenvectors, as
    scikit-learn), with the engine's cost counters."""

    eigenvalues: np.ndarray
    maps: np.ndarray = field(repr=False)
    n_components: int
    num_matvecs: int
    converged: bool
    seconds: float

    def eigengap(self, k_max: int | None = None) -> int:
        """Estimated number of clusters: see ``eigengap_k``."""
        return eigengap_k(self.eigenvalues, k_max)


def normalized_adjacency(W) -> tuple[object, np.ndarray]:
    """M = D^-1/2 W D^-1/2 (same format as W) and sqrt(degree). Cost: O(nnz)."""
    deg = np.asarray(W.sum(axis=1)).ravel()
    if np.any(deg <= 0):
        raise WorkbenchError(f"{int((deg <= 0).sum())} point(s) have no edge in the affinity "
                             "graph (zero degree); give every point an edge, e.g. a "
                             "self-loop")
    dd = np.sqrt(deg)
    if sp.issparse(W):
        Dm = sp.diags(1.0 / dd)
        M = sp.csr_matrix(Dm @ W @ Dm)
    else:
        M = W / dd[:, None] / dd[None, :]
    return M, dd


def _sign_flip(U: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of each column positive (deterministic output)."""
    idx = np.argmax(np.abs(U), axis=0)
    signs = np.sign(U[idx, np.arange(U.shape[1])])
    signs[signs == 0] = 1
    return U * signs


ZERO_TOL = 1e-9   # Laplacian eigenvalues below this count as 0 (one per graph component)


def _canonical_null_space(vecs: np.ndarray, lap: np.ndarray, dd: np.ndarray) -> np.ndarray:
    """Rotate the eigenvectors of the (numerically) zero eigenvalues so that the first is
    sqrt(degree) / norm, the trivial one (constant after scaling by D^-1/2); the others
    then span the differences between graph components. The basis of a repeated
    eigenvalue is arbitrary, so this makes the embedding reproducible. Cost: O(n c^2)."""
    z = int((lap < ZERO_TOL).sum())
    if z < 1:
        return vecs
    v0 = dd / np.linalg.norm(dd)
    Q = vecs[:, :z]
    a = Q.T @ v0
    if np.linalg.norm(a) < 0.5:  # v0 not in the computed null space: leave it alone
        return vecs
    basis, _ = np.linalg.qr(np.column_stack([a, np.eye(z)]))
    basis = basis[:, :z]
    basis[:, 0] *= np.sign(a @ basis[:, 0]) or 1.0
    out = vecs.copy()
    out[:, :z] = Q @ basis
    return out


SHIFT = 1e-6   # shift-invert: eigenvalues lambda of L map to 1 / (lambda + SHIFT)


def shift_invert_operator(M, shift: float = SHIFT):
    """The operator (L + shift I)^-1, L = I - M, by a sparse LU factorization of L + shift I
    (SuperLU, minimum-degree ordering on the symmetric pattern). Its largest eigenpairs are
    the smallest of L, well separated (an eigenvalue lambda becomes 1 / (lambda + shift)).
    Returns a symmetric engine operator. Cost: one factorization (memory: the LU factors,
    ~ 3 nnz(L) for a 2-D point cloud graph), then two triangular solves per product."""
    import scipy.sparse.linalg as spla

    from workbench.operators.concrete import CallableOperator

    n = M.shape[0]
    A = (sp.identity(n, format="csc") * (1.0 + shift) - sp.csc_matrix(M)).tocsc()
    lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})

    def mm(X):
        Y = lu.solve(np.asarray(X, dtype=np.float64))
        return Y.reshape(X.shape)

    return CallableOperator((n, n), matvec=mm, matmat=mm, symmetric=True,
                            name="(L + shift I)^-1")


def spectral_embedding(graph: AffinityGraph, n_eigs: int = 10, *, solver: str = "auto",
                       tol: float = 1e-8, seed: int = 0,
                       max_matvecs: int | None = None) -> SpectralEmbedding:
    """The `n_eigs` smallest eigenpairs of the normalized Laplacian of ``graph.W``.

    solver:
    - "shift_invert" (default for sparse graphs): ``workbench.spectral.top_eigs(which="LA")``
      on (L + 1e-6 I)^-1 (``shift_invert_operator``); converges in a few tens of products
      even when the small eigenvalues are 1e-6 apart (long thin clusters, large n).
    - "lanczos" (default for dense affinities): ``top_eigs(M, which="LA")`` on the
      normalized adjacency, sparse products only; needs hundreds to thousands of products
      when the smallest Laplacian eigenvalues are clustered near 0 (large kNN graphs).
    - "dense": numpy ``eigh`` (small n only); also used when n <= 2 * n_eigs + 2.

    A graph with c > 1 components uses a block Krylov space of size min(c, n_eigs), since
    a single-vector one finds only one copy of the repeated eigenvalue 0.
    Returns SpectralEmbedding (``num_matvecs``: operator products, i.e. LU solves for
    shift-invert). Cost: see the solvers; no dense n x n matrix unless W is dense.
    """
    from workbench import spectral as engine

    t0 = time.perf_counter()
    n = graph.n
    if not 1 <= n_eigs <= n:
        raise RankError(f"n_eigs={n_eigs} is out of range: need 1 <= n_eigs <= n={n}")
    M, dd = normalized_adjacency(graph.W)
    if solver == "auto":
        solver = "shift_invert" if sp.issparse(M) else "lanczos"
    if solver not in ("shift_invert", "lanczos", "dense"):
        raise ValueError(f"solver must be 'auto', 'shift_invert', 'lanczos' or 'dense', got "
                         f"{solver!r}")
    if n <= 2 * n_eigs + 2 or solver == "dense":
        Md = M.toarray() if sp.issparse(M) else M
        vals, vecs = np.linalg.eigh((Md + Md.T) / 2)
        lap = 1.0 - vals[::-1][:n_eigs]
        vecs = vecs[:, ::-1][:, :n_eigs]
        nmv, conv = n, True
    else:
        from workbench.operators import aslinearoperator

        block = max(1, min(graph.n_components, n_eigs))
        if solver == "shift_invert":
            op = shift_invert_operator(M)
        else:
            op = aslinearoperator(M, symmetric=True)
        # the engine's tolerance is relative to the largest Ritz value, 1/SHIFT for the
        # inverted operator (zero eigenvalues): scale it so that residuals are ~tol in
        # units of (L + shift)^-1 ~ 1, i.e. eigenvalue errors ~tol also inside the bulk
        etol = tol * SHIFT if solver == "shift_invert" else tol
        res = engine.top_eigs(op, k=n_eigs, which="LA", tol=etol, seed=seed,
                              block_size=block, max_matvecs=max_matvecs)
        vals, vecs = res.values, np.asarray(res.vectors)
        lap = 1.0 / vals - SHIFT if solver == "shift_invert" else 1.0 - vals
        nmv, conv = int(res.num_matvecs), bool(res.converged)
    lap = np.clip(lap, 0.0, 2.0)
    order = np.argsort(lap, kind="stable")
    lap, vecs = lap[order], _canonical_null_space(vecs[:, order], lap[order], dd)
    maps = _sign_flip(vecs) / dd[:, None]
    return SpectralEmbedding(lap, maps, graph.n_components, nmv, conv,
                             time.perf_counter() - t0)


def eigengaps(eigenvalues) -> np.ndarray:
    """Gaps between consecutive smallest Laplacian eigenvalues: entry i-1 is
    lambda_{i+1} - lambda_i, the gap after the i-th (1-based). Returns (m - 1,) array."""
    return np.diff(np.sort(np.asarray(eigenvalues, dtype=np.float64)))


def eigengap_k(eigenvalues, k_max: int | None = None, zero_tol: float = ZERO_TOL) -> int:
    """Number of clusters suggested by the smallest normalized-Laplacian eigenvalues.

    1. Components: if the z >= 2 smallest eigenvalues are (nearly) 0 -- each below 1e-6
       and below 1e-3 times the next one, or below ``zero_tol`` -- the graph falls apart
       (or hangs together by a few edges) into z pieces, and z is returned: no partition
       into pieces is cheaper.
    2. Otherwise the largest gap decides: argmax_i (lambda_{i+1} - lambda_i) over
       i <= k_max (default: all but the last).

    Returns an int in [1, len(eigenvalues) - 1]. A heuristic (von Luxburg 2007): reliable
    when the clusters are well separated (few edges between them relative to within), as
    for blobs or a strongly planted partition; on elongated shapes (moons) that stay
    connected, and near the detectability threshold, the bulk eigenvalues rise steadily
    and no gap stands out.
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))
    if lam.size < 2:
        return 1
    near_zero = [i + 1 for i in range(lam.size - 1)
                 if lam[i] < zero_tol or (lam[i] < 1e-6 and lam[i] < 1e-3 * lam[i + 1])]
    z = max(near_zero, default=0)
    if z >= 2 and all(lam[i] < 1e-6 for i in range(z)):
        return min(z, lam.size - 1)
    m = lam.size if k_max is None else min(lam.size, int(k_max) + 1)
    return int(np.argmax(np.diff(lam[:m]))) + 1


def cluster_qr(vectors: np.ndarray) -> np.ndarray:
    """Labels from an embedding by column-pivoted QR (Damle, Minden & Ying 2019): pick k
    well-spread rows, rotate the embedding onto them, take the largest coordinate.
    Deterministic, no restarts. Returns int32 labels. Cost: O(n k^2)."""
    import scipy.linalg as sla

    k = vectors.shape[1]
    _, _, piv = sla.qr(vectors.T, pivoting=True, mode="economic")
    ut, _, vt = np.linalg.svd(vectors[piv[:k], :].T)
    return np.abs(vectors @ (ut @ vt)).argmax(axis=1).astype(np.int32)


def assign_labels(embedding: SpectralEmbedding, n_clusters: int, method: str = "kmeans",
                  seed: int = 0, n_init: int = 4) -> np.ndarray:
    """Cluster labels from the first `n_clusters` columns of the embedding: "kmeans"
    (``workbench.clustering.KMeans``, `n_init` restarts) or "cluster_qr". The cheap step:
    O(n k^2) per k-means iteration. Returns int32 labels."""
    from workbench.clustering.kmeans import KMeans

    if n_clusters > embedding.maps.shape[1]:
        raise RankError(f"n_clusters={n_clusters} exceeds the {embedding.maps.shape[1]} "
                        "eigenvectors computed; recompute the embedding with more")
    V = np.ascontiguousarray(embedding.maps[:, :n_clusters])
    if method == "cluster_qr":
        return cluster_qr(V)
    if method == "kmeans":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            km = KMeans(n_clusters, n_init=n_init, random_state=seed).fit(V)
        return km.labels_
    raise ValueError(f"assign_labels must be 'kmeans' or 'cluster_qr', got {method!r}")


class SpectralClustering(ClusterMixin, BaseEstimator):
    """Spectral clustering on a sparse kNN graph (or an RBF kernel), scikit-learn
    compatible.

    Parameters
    ----------
    n_clusters : number of clusters.
    affinity : "nearest_neighbors" (default, sparse), "knn_rbf" (sparse, RBF weights on
        kNN edges), "rbf" (dense n x n, at most 20 000 points) or "precomputed".
    n_neighbors, gamma : graph parameters (see ``affinity_graph``).
    assign_labels : "kmeans" or "cluster_qr".
    n_eigs : eigenpairs computed (default max(n_clusters, 10)): the extra ones give the
        eigengap estimate ``n_clusters_eigengap_``.
    eigen_solver : "auto", "shift_invert", "lanczos" or "dense" (see
        ``spectral_embedding``).
    eigen_tol : residual tolerance of the engine's Lanczos.
    random_state : seed of the Lanczos start and of k-means.

    Attributes: ``labels_``, ``embedding_`` (n x n_eigs), ``laplacian_eigenvalues_``
    (ascending), ``n_clusters_eigengap_``, ``n_components_`` (connected components of the
    graph), ``affinity_matrix_`` (sparse), ``num_matvecs_``, ``graph_seconds_``,
    ``embedding_seconds_``, ``assign_seconds_``.

    A disconnected graph is allowed: it warns (DisconnectedGraphWarning) and records
    ``n_components_``; the Laplacian then has that many zero eigenvalues, and with
    n_clusters <= n_components every cluster is a union of whole components.

    Cost of ``fit``: the kNN graph (a tree query) + the engine's products on M (O(nnz)
    each) + k-means on an n x k embedding.
    """

    def __init__(self, n_clusters=8, *, affinity="nearest_neighbors", n_neighbors=10,
                 gamma=None, assign_labels="kmeans", n_eigs=None, eigen_solver="auto",
                 eigen_tol=1e-8, random_state=None):
        self.n_clusters = n_clusters
        self.affinity = affinity
        self.n_neighbors = n_neighbors
        self.gamma = gamma
        self.assign_labels = assign_labels
        self.n_eigs = n_eigs
        self.eigen_solver = eigen_solver
        self.eigen_tol = eigen_tol
        self.random_state = random_state

    def fit(self, X, y=None):
        """Cluster the rows of X (or a precomputed affinity). Returns self."""
        if self.affinity != "precomputed":
            check_finite_rows(X, "SpectralClustering")
            X = validate_data(self, X, dtype=np.float64, ensure_min_samples=1)
        else:
            X = X if sp.issparse(X) else validate_data(self, X, dtype=np.float64)
        n = X.shape[0]
        if n < 2:
            raise RankError(f"spectral clustering needs at least 2 samples, got {n} sample "
                            "(a graph of one point has no structure)")
        if not isinstance(self.n_clusters, (int, np.integer)) or isinstance(self.n_clusters,
                                                                              bool):
            raise TypeError(f"n_clusters must be an int, got {self.n_clusters!r}")
        check_n_clusters(self.n_clusters, n)
        seed = int(as_rng(self.random_state).integers(2**31 - 1))
        nn = min(self.n_neighbors, n - 1)
        graph = affinity_graph(X, self.affinity, n_neighbors=nn, gamma=self.gamma)
        n_eigs = self.n_eigs if self.n_eigs is not None else max(self.n_clusters, 10)
        n_eigs = min(max(n_eigs, self.n_clusters), n)
        emb = spectral_embedding(graph, n_eigs, solver=self.eigen_solver, tol=self.eigen_tol,
                                 seed=seed)
        t0 = time.perf_counter()
        self.labels_ = assign_labels(emb, self.n_clusters, self.assign_labels, seed=seed)
        self.assign_seconds_ = time.perf_counter() - t0
        self.affinity_matrix_ = graph.W
        self.embedding_ = emb.maps
        self.laplacian_eigenvalues_ = emb.eigenvalues
        self.n_clusters_eigengap_ = emb.eigengap()
        self.n_components_ = graph.n_components
        self.num_matvecs_ = emb.num_matvecs
        self.graph_seconds_ = graph.seconds
        self.embedding_seconds_ = emb.seconds
        return self

    def fit_predict(self, X, y=None):
        """fit(X) and return ``labels_``."""
        return self.fit(X).labels_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.affinity == "precomputed"
        tags.input_tags.sparse = self.affinity == "precomputed"
        return tags
