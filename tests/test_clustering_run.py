"""The clustering run (``workbench.clustering.run``) without a browser: data, graph and
embedding computed once, ``at(k)`` labels against exact answers (dense eigh of the
normalized Laplacian, scikit-learn), memoized views, settings checks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans as SkKMeans
from sklearn.cluster import SpectralClustering as SkSpectral
from sklearn.metrics import adjusted_rand_score

from workbench.clustering import KMeans, affinity_graph, assign_labels, spectral_embedding
from workbench.clustering.metrics import score
from workbench.clustering.run import (
    BIG,
    ClusteringView,
    choose_k,
    load_points,
    run_clustering,
    side_embedding,
)
from workbench.clustering.settings import (
    K_MAX,
    ClusteringSettings,
    DetectabilitySettings,
)
from workbench.errors import RankError


@pytest.fixture(scope="module")
def blobs():
    """Three well-separated blobs (the gallery's centres, spread 0.5): 500 points."""
    return ClusteringSettings(dataset="blobs", n_samples=500, noise=0.5, seed=0)


def test_run_computes_once_and_shares(blobs):
    run = run_clustering(blobs)
    assert run_clustering(blobs.copy()) is run          # same settings: the same run
    assert run.key == blobs.run_key() and run.algorithm == "spectral"
    assert run.data is load_points(blobs) and run.graph.maps.shape == (500, 12)
    # k and the labelling method are views of the same run
    assert run_clustering(ClusteringSettings(**{**blobs.param.values(), "name": "x",
                                                "n_clusters": 7, "assign": "cluster_qr"})) \
        is run
    v = run.at(3)
    assert isinstance(v, ClusteringView) and run.at(3) is v and run.has(3)
    assert run.at(50).k == run.k_max == K_MAX and run.at(0).k == 1   # k is clamped


def test_embedding_matches_dense_eigh(blobs):
    """The run's Laplacian eigenvalues are the smallest of the dense normalized Laplacian
    of the same kNN graph (shift-invert Lanczos to tol 1e-8: 1e-7 absolute on eigenvalues
    in [0, 2] leaves room for the residual bound)."""
    run = run_clustering(blobs)
    X = run.data.dataset.X
    W = affinity_graph(X, "nearest_neighbors", n_neighbors=10, warn=False).W
    W = W.toarray() if sp.issparse(W) else W
    dinv = 1.0 / np.sqrt(W.sum(axis=1))
    L = np.eye(len(X)) - dinv[:, None] * W * dinv[None, :]
    exact = np.linalg.eigvalsh(L)[:12]
    np.testing.assert_allclose(run.graph.eigenvalues, exact, atol=1e-7)
    assert run.graph.eigengap() == 3


def test_spectral_labels_match_the_api_and_scikit_learn(blobs):
    """at(k) is assign_labels on the embedding (exactly), and on well-separated blobs the
    same partition as scikit-learn's SpectralClustering (ARI 1: no point is ambiguous)."""
    run = run_clustering(blobs)
    X, truth = run.data.dataset.X, run.data.dataset.labels
    emb = spectral_embedding(affinity_graph(X, "nearest_neighbors", n_neighbors=10,
                                            warn=False), 12)
    for k in (2, 3, 5):
        np.testing.assert_array_equal(run.at(k).labels, assign_labels(emb, k, seed=0))
    np.testing.assert_array_equal(run.at(3, "cluster_qr").labels,
                                  assign_labels(emb, 3, "cluster_qr"))
    sk = SkSpectral(3, affinity="nearest_neighbors", n_neighbors=10, random_state=0).fit(X)
    assert adjusted_rand_score(sk.labels_, run.at(3).labels) == 1.0
    assert adjusted_rand_score(truth, run.at(3).labels) == 1.0
    v = run.at(3)
    assert v.scores == score(X, v.labels, truth, sample_size=2000)


def test_table_is_the_points_with_the_views_labels(blobs):
    run = run_clustering(blobs)
    v, d = run.at(3), run.data.dataset
    df = run.table(v)
    assert list(df.columns) == ["x", "y", "cluster", "true_label"] and len(df) == 500
    np.testing.assert_array_equal(df[["x", "y"]].to_numpy(), d.X[:, :2])
    np.testing.assert_array_equal(df["cluster"], v.labels)
    np.testing.assert_array_equal(df["true_label"], d.labels)
    from workbench.clustering.datasets import user_dataset

    s = ClusteringSettings()
    s.use_dataset(user_dataset(np.arange(12.0).reshape(6, 2)[:, :1], label="one").name)
    one = run_clustering(s)
    df = one.table(one.at(2))     # 1-D data without labels: y is 0, no true_label
    assert list(df.columns) == ["x", "y", "cluster"] and (df["y"] == 0).all()


def test_quick_and_unlabelled(blobs):
    BIG.clear()
    run = run_clustering(blobs)
    assert run.unlabelled(4) == [4, 3, 5, 2, 6, 1, 7, 8, 9, 10]
    assert run.quick(4) and run.quick(9, "cluster_qr")     # spectral, 500 points
    run.at(4)
    run.at(3, scores=False)
    assert run.unlabelled(4) == [3, 5, 2, 6, 1, 7, 8, 9, 10]   # 3 is labelled, not scored
    assert run.unlabelled(4, "cluster_qr")[0] == 4
    s = blobs.copy()
    s.algorithm = "k-means"
    km = run_clustering(s)
    assert not km.quick(2)                                  # a fit: not in a callback
    km.at(2, scores=False)
    assert km.quick(2) and not km.quick(3)


def test_shows_tells_a_runs_current_view(blobs):
    run = run_clustering(blobs)
    v = run.at(3, scores=False)
    assert run.shows(v, 3) and run.shows(v, 3, "kmeans") and not run.shows(v, 3, "cluster_qr")
    assert not run.shows(v, 4) and run.shows(run.at(50, scores=False), 50)   # k clamped
    s = blobs.copy()
    s.algorithm = "k-means"
    km = run_clustering(s)
    kv = km.at(2, scores=False)
    assert km.shows(kv, 2, "cluster_qr") and not run.shows(kv, 2)   # assign: spectral only
    other = run_clustering(ClusteringSettings(dataset="blobs", n_samples=1500, noise=0.5))
    assert not other.shows(v, 3)                                    # not one label per point


def test_kmeans_run_matches_the_estimator_and_scikit_learn(blobs):
    s = blobs.copy()
    s.algorithm = "k-means"
    run = run_clustering(s)
    assert run.graph is None and run.data is load_points(blobs)   # the data are shared
    X = run.data.dataset.X
    v = run.at(3)
    np.testing.assert_array_equal(v.labels, KMeans(3, random_state=0).fit(X).labels_)
    ref = SkKMeans(3, n_init=10, random_state=0).fit(X).labels_
    assert adjusted_rand_score(ref, v.labels) == 1.0
    assert v.info["n_iter"] >= 1 and v.seconds > 0
    # the side embedding of another algorithm is the spectral run's (a lookup)
    assert side_embedding(s) is run_clustering(blobs).graph


def test_labels_are_computed_once(blobs, monkeypatch):
    """A view is labelled and scored once: later calls (any thread, any session) look up."""
    import workbench.clustering.metrics as metrics
    import workbench.clustering.spectral as spectral

    BIG.clear()
    run = run_clustering(blobs)
    calls = {"assign": 0, "score": 0}
    real_assign, real_score = spectral.assign_labels, metrics.score
    # counted in this thread only: explorers of earlier tests may still be labelling their
    # own runs in background threads of this process
    here = threading.get_ident()

    def counting_assign(*a, **kw):
        calls["assign"] += threading.get_ident() == here
        return real_assign(*a, **kw)

    def counting_score(*a, **kw):
        calls["score"] += threading.get_ident() == here
        return real_score(*a, **kw)

    monkeypatch.setattr(spectral, "assign_labels", counting_assign)
    monkeypatch.setattr(metrics, "score", counting_score)
    a = run.at(4, scores=False)
    assert a.scores is None and not run.has(4) and run.has(4, scores=False)
    b = run.at(4)
    c = run.at(4, scores=False)
    assert calls == {"assign": 1, "score": 1}
    np.testing.assert_array_equal(a.labels, b.labels)
    assert c is b and b.scores is not None


def test_choose_k_on_blobs(blobs):
    run = run_clustering(blobs)
    sel = choose_k(run.data, run.graph)
    # (the elbow rule says 2 here: two of the three blobs are close next to the third)
    assert sel.suggested["bic"] == sel.suggested["silhouette"] == 3
    assert sel.suggested["eigengap"] == run.graph.eigengap() == 3
    assert list(sel.k_values) == list(range(1, K_MAX + 1))


def test_settings_refuse_what_would_not_fit():
    with pytest.raises(RankError, match="dense"):
        ClusteringSettings(affinity="rbf", n_samples=100_000).validate()
    with pytest.raises(RankError, match="PPP"):
        run_clustering(ClusteringSettings(algorithm="ppp", n_samples=300_000))
    ClusteringSettings(affinity="rbf", n_samples=20_000).validate()   # the limit itself


def test_settings_keys():
    s = ClusteringSettings(dataset="digits", n_samples=500)
    assert s.n_points == 1797 and s.data_key() == ("data", "digits", None, 1.0, 0)
    t = s.copy()
    t.n_clusters, t.assign, t.init = 5, "cluster_qr", "random"   # views / unused by spectral
    assert t.run_key() == s.run_key()
    t.algorithm = "k-means"
    assert t.run_key() != s.run_key() and t.run_key()[2] is None   # no graph for k-means
    u = t.copy()
    u.init = "k-means++"
    assert u.run_key() != t.run_key()
    det = DetectabilitySettings(det_n=1000, det_ratio=0.25, signal=1.23456)
    assert det.dims() == (1000, 250) and det.split_key() == ("split", 1000, 250, 1.235)
