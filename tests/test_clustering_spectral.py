"""Spectral clustering against exact answers: Laplacian eigenvalues vs dense eigh,
embedding vs scikit-learn's, moons and circles separated, the eigengap counting planted
clusters, the cheap re-assignment step, scikit-learn's estimator checks, and bad input
(disconnected graphs, single point, duplicates, dense refusal)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils.estimator_checks import parametrize_with_checks

from workbench.clustering import (
    DisconnectedGraphWarning,
    SpectralClustering,
    affinity_graph,
    assign_labels,
    cluster_qr,
    datasets,
    eigengap_k,
    eigengaps,
    metrics,
    spectral_embedding,
)
from workbench.clustering import graph as graph_mod
from workbench.errors import NonFiniteError, RankError, ShapeError, WorkbenchError


def _dense_laplacian_eigs(W, m):
    W = W.toarray() if sp.issparse(W) else np.asarray(W)
    d = W.sum(1)
    L = np.eye(len(W)) - W / np.sqrt(np.outer(d, d))
    return np.linalg.eigvalsh(L)[:m]


@pytest.mark.parametrize("solver", ["shift_invert", "lanczos", "dense"])
def test_laplacian_eigenvalues_match_dense_eigh(solver):
    d = datasets.toy_dataset("varied", 600, seed=1)
    g = affinity_graph(d.X, "nearest_neighbors", n_neighbors=8, warn=False)
    emb = spectral_embedding(g, 8, solver=solver, tol=1e-10)
    ref = _dense_laplacian_eigs(g.W, 8)
    # engine tolerance 1e-10 on residuals: eigenvalue errors ~1e-10 (Lanczos) and
    # ~1e-10 x (lambda + shift)^2 for shift-invert; 1e-7 leaves room for clustered values
    np.testing.assert_allclose(emb.eigenvalues, np.clip(ref, 0, 2), atol=1e-7)
    assert emb.converged


def test_embedding_spans_sklearn_spectral_embedding():
    from sklearn.manifold import spectral_embedding as sk_embedding

    d = datasets.toy_dataset("no_structure", 500, seed=0)
    g = affinity_graph(d.X, "knn_rbf", n_neighbors=15)
    assert g.n_components == 1
    emb = spectral_embedding(g, 4, tol=1e-10)
    ref = sk_embedding(g.W, n_components=4, drop_first=False, random_state=0)
    W = g.W.toarray()
    dd = np.sqrt(W.sum(1))
    _, V = np.linalg.eigh(np.eye(len(W)) - W / np.outer(dd, dd))
    exact = V[:, :4] / dd[:, None]

    def cosines(A, B):  # cosines of the principal angles between two column spaces
        return np.linalg.svd(np.linalg.qr(A)[0].T @ np.linalg.qr(B)[0], compute_uv=False)
    # exact subspace to solver accuracy (eigenvalue gap after the 4th ~ 4e-3)
    np.testing.assert_allclose(cosines(emb.maps, exact), 1.0, atol=1e-8)
    # scikit-learn's (ARPACK, its default tolerance) agrees to its own accuracy
    np.testing.assert_allclose(cosines(emb.maps, ref), 1.0, atol=1e-3)
    # the first map is the trivial (constant) one; the rest are D-orthogonal to it
    assert np.ptp(emb.maps[:, 0]) < 1e-8 * np.abs(emb.maps[:, 0]).max()


@pytest.mark.parametrize("name", ["moons", "circles"])
@pytest.mark.parametrize("method", ["kmeans", "cluster_qr"])
def test_separates_moons_and_circles(name, method):
    d = datasets.toy_dataset(name, 2000, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisconnectedGraphWarning)
        sc = SpectralClustering(2, assign_labels=method, random_state=0).fit(d.X)
    assert metrics.ari(d.labels, sc.labels_) > 0.99
    assert sc.embedding_.shape == (2000, 10)
    assert sc.laplacian_eigenvalues_[0] == pytest.approx(0, abs=1e-9)
    assert np.all(np.diff(sc.laplacian_eigenvalues_) >= 0)
    # k-means on the raw points cannot do it (the point of the demo)
    from workbench.clustering import KMeans
    assert metrics.ari(d.labels, KMeans(2, random_state=0).fit(d.X).labels_) < 0.6


def test_connected_noisy_moons_still_separated():
    # noise 1.8x the gallery's: the kNN graph connects the moons; the cheapest cut is
    # still the thin bridge between them
    d = datasets.toy_dataset("moons", 1500, noise=1.8, seed=0)
    sc = SpectralClustering(2, n_neighbors=10, random_state=0).fit(d.X)
    assert sc.n_components_ == 1
    assert metrics.ari(d.labels, sc.labels_) > 0.99


@pytest.mark.parametrize("k", [3, 5])
def test_eigengap_counts_planted_partition(k):
    # strongly planted (4x the Kesten-Stigum threshold: b = c/10): the k-1 informative
    # Laplacian eigenvalues sit near 1 - (a-b)/(a+(k-1)b) = 0.1, the bulk starts near 0.55
    g = datasets.planted_partition(1500, k, mean_degree=20, signal=0.9 * k * 20, seed=1)
    assert g.params["signal"] > 4 * g.threshold
    sc = SpectralClustering(k, affinity="precomputed", random_state=0).fit(g.W)
    assert sc.n_clusters_eigengap_ == k
    assert metrics.ari(g.labels, sc.labels_) > 0.99
    lam = _dense_laplacian_eigs(g.W, 10)
    np.testing.assert_allclose(sc.laplacian_eigenvalues_, lam, atol=1e-7)


def test_eigengap_counts_blobs_and_components():
    d = datasets.toy_dataset("blobs", 1500, seed=0)
    sc = SpectralClustering(3, random_state=0).fit(d.X)   # 3 components: 3 zeros
    assert sc.n_components_ == 3 and sc.n_clusters_eigengap_ == 3
    # connected version (dense RBF kernel, gamma = 1 on standardized data): the gap after
    # the third eigenvalue (0.46 -> 0.95) is the largest
    g = affinity_graph(d.X, "rbf", gamma=1.0)
    emb = spectral_embedding(g, 10)
    assert g.n_components == 1 and emb.eigengap() == 3


def test_eigengap_rule_on_given_values():
    assert eigengap_k([0, 0, 0, 0.5, 0.6]) == 3                 # components
    assert eigengap_k([0, 3e-9, 2e-5, 2.1e-5, 1e-4, 2e-4]) == 2  # nearly disconnected
    assert eigengap_k([0, 0.01, 0.02, 0.5, 0.55, 0.6]) == 3     # largest gap after 3
    assert eigengap_k([0, 0.9, 0.95, 1.0]) == 1                 # no structure
    assert eigengap_k([0.0]) == 1
    np.testing.assert_allclose(eigengaps([0.3, 0, 0.1]), [0.1, 0.2])


def test_changing_k_reuses_the_embedding():
    d = datasets.toy_dataset("blobs", 1200, noise=1.5, seed=2)
    g = affinity_graph(d.X, "nearest_neighbors", n_neighbors=15, warn=False)
    emb = spectral_embedding(g, 10)
    for k in (2, 3, 4):
        for method in ("kmeans", "cluster_qr"):
            lab = assign_labels(emb, k, method)
            assert lab.shape == (1200,) and len(np.unique(lab)) == k
    assert metrics.ari(d.labels, assign_labels(emb, 3, "cluster_qr")) > 0.95
    with pytest.raises(RankError, match="exceeds the 10 eigenvectors"):
        assign_labels(emb, 11)


def test_cluster_qr_matches_sklearn():
    from sklearn.cluster._spectral import cluster_qr as sk_cluster_qr

    rng = np.random.default_rng(0)
    V = rng.standard_normal((300, 4))
    np.testing.assert_array_equal(cluster_qr(V), sk_cluster_qr(V))


def test_estimator_matches_sklearn_on_blobs():
    from sklearn.cluster import SpectralClustering as SkSpectral

    d = datasets.toy_dataset("aniso", 800, noise=0.7, seed=0)
    sk = SkSpectral(3, affinity="nearest_neighbors", n_neighbors=10, random_state=0,
                    assign_labels="cluster_qr").fit(d.X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisconnectedGraphWarning)
        sc = SpectralClustering(3, n_neighbors=10, assign_labels="cluster_qr",
                                random_state=0).fit(d.X)
    # same graph, same eigenvectors (to solver tolerance), same deterministic rounding
    np.testing.assert_allclose(sc.affinity_matrix_.toarray(), sk.affinity_matrix_.toarray())
    assert metrics.ari(sk.labels_, sc.labels_) > 0.99


# ---------------------------------------------------------------------- bad input
def test_disconnected_graph_warns_and_keeps_components_whole():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.1, (60, 2)), rng.normal(50, 0.1, (60, 2)),
                   rng.normal(100, 0.1, (60, 2))])
    with pytest.warns(DisconnectedGraphWarning, match="3 connected components"):
        sc = SpectralClustering(2, n_neighbors=5, random_state=0).fit(X)
    assert sc.n_components_ == 3
    assert np.sum(sc.laplacian_eigenvalues_ < 1e-9) == 3
    # documented: with n_clusters <= components every cluster is a union of components
    for block in (slice(0, 60), slice(60, 120), slice(120, 180)):
        assert len(np.unique(sc.labels_[block])) == 1


def test_single_point_k_too_large_nan_rows():
    with pytest.raises(RankError):
        SpectralClustering(1).fit(np.array([[0.0, 1.0]]))
    X = np.random.default_rng(0).standard_normal((30, 2))
    with pytest.raises(RankError, match="n_clusters=40 is out of range"):
        SpectralClustering(40).fit(X)
    X[3] = np.inf
    with pytest.raises(NonFiniteError, match="row 3"):
        SpectralClustering(2).fit(X)


def test_duplicate_points():
    # every point repeated 5 times: kNN distances 0 inside a group; the graph is still
    # built (ties broken by the tree) and the two separated groups are found
    base = np.array([[0.0, 0], [0.2, 0], [0, 0.2], [5, 5], [5.2, 5], [5, 5.2]])
    X = np.repeat(base, 5, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisconnectedGraphWarning)
        sc = SpectralClustering(2, n_neighbors=6, random_state=0).fit(X)
    assert metrics.ari(np.repeat([0, 0, 0, 1, 1, 1], 5), sc.labels_) == 1.0


def test_dense_rbf_is_refused_above_the_limit(monkeypatch):
    monkeypatch.setattr(graph_mod, "DENSE_LIMIT", 100)
    X = np.random.default_rng(0).standard_normal((101, 2))
    with pytest.raises(RankError, match="dense 101 x 101"):
        SpectralClustering(2, affinity="rbf").fit(X)


def test_precomputed_affinity_checks():
    with pytest.raises(ShapeError, match="square"):
        affinity_graph(np.ones((3, 4)), "precomputed")
    with pytest.raises(ValueError, match="non-negative"):
        affinity_graph(-np.ones((3, 3)), "precomputed")
    W = sp.csr_matrix(np.array([[1.0, 1, 0], [1, 1, 0], [0, 0, 0]]))
    g = affinity_graph(W, "precomputed", warn=False)
    with pytest.raises(WorkbenchError, match="no edge"):
        spectral_embedding(g, 2)


@parametrize_with_checks([SpectralClustering(3, n_neighbors=5)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
