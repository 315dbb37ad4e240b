"""Clustering explorer logic without a browser (labels = the API's, cached embedding on k
changes, errors as messages) and the viz functions (elements, rasterization, grid)."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pytest
from helpers import wait_until

from workbench.clustering import KMeans, assign_labels, datasets
from workbench.viz import clustering as vc

pytestmark = pytest.mark.slow




@pytest.fixture(scope="module")
def explorer():
    from workbench.ui.clustering import ClusteringExplorer

    ex = ClusteringExplorer(dataset="circles", n_samples=1500)
    ex.view()
    wait_until(lambda: ex.shown >= 1)
    return ex


def test_k_change_reuses_the_cached_embedding(explorer):
    ex = explorer
    emb = ex._emb
    shown = ex.shown
    ex.n_clusters = 3          # synchronous: labels from the cached embedding, no new graph
    assert ex.shown == shown + 1
    assert ex._emb is emb
    np.testing.assert_array_equal(ex._labels, assign_labels(emb, 3, ex.assign, seed=0))
    ex.assign = "cluster_qr"
    np.testing.assert_array_equal(ex._labels, assign_labels(emb, 3, "cluster_qr"))
    ex.n_clusters = 2
    d = datasets.toy_dataset("circles", 1500)
    assert ex.export_data().shape == (1500, 4)
    np.testing.assert_array_equal(ex.export_data()["true_label"], d.labels)
    assert ex._scores.ari > 0.99
    assert "eigengap estimate" in ex._metrics.object


def test_kmeans_labels_equal_the_api(explorer):
    ex = explorer
    n = ex.shown
    ex.algorithm = "k-means"
    wait_until(lambda: ex.shown > n)
    d = datasets.toy_dataset("circles", 1500)
    ref = KMeans(ex.n_clusters, random_state=0).fit(d.X).labels_
    np.testing.assert_array_equal(ex._labels, ref)
    ex.algorithm = "spectral"


def test_error_is_shown_and_view_kept(explorer):
    ex = explorer
    ex.algorithm = "spectral"
    before = ex._labels.copy()
    ex.affinity = "rbf"
    ex.n_samples = 100_000      # dense RBF above 20k points: refused with a message
    wait_until(lambda: "dense" in ex.message)
    np.testing.assert_array_equal(ex._labels, before)
    ex.affinity = "nearest_neighbors"
    ex.n_samples = 1500
    wait_until(lambda: ex.message == "" and ex._data.n == 1500 and ex._emb is not None)


def test_side_tabs_compute(explorer):
    ex = explorer
    ex._tabs.active = 3   # detectability
    wait_until(lambda: ex._det_curve is not None and ex._split is not None, 180)
    from workbench.clustering.detectability import spectral_split

    n, d = ex._det_dims()
    ref = spectral_split(n, d, round(ex.signal, 3), seed=0)
    assert ex._split.accuracy == ref.accuracy
    assert "threshold" in ex._det_info.object
    ex._tabs.active = 2   # k selection
    wait_until(lambda: ex._selection is not None, 180)
    assert set(ex._selection.suggested) >= {"elbow", "bic", "silhouette", "eigengap"}
    ex._tabs.active = 0


def test_viz_elements():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 2))
    lab = rng.integers(0, 3, 300)
    pts = vc.cluster_scatter(X, lab)
    assert isinstance(pts, hv.Points) and len(pts) == 300
    big = vc.cluster_scatter(X, lab, rasterize_above=100)
    assert isinstance(big, hv.DynamicMap)          # datashader image when large
    ov = vc.eigenvalue_plot([0, 0, 0.2, 0.21, 0.5], k=2, k_gap=2, log=True)
    assert any(isinstance(el, hv.Segments) for el in ov)
    emb = vc.embedding_plot(rng.standard_normal((50, 4)), lab[:50])
    assert isinstance(emb, hv.Points)
    cells = [{"dataset": "moons", "algorithm": "k-means", "X": X, "labels": lab,
              "seconds": 0.1, "ari": 0.5}]
    grid = vc.comparison_grid(cells, ["moons", "blobs"], ["k-means", "spectral"])
    assert len(grid) == 4
    hist = vc.projection_histogram(rng.standard_normal(100), lab[:100] % 2)
    assert len(hist) == 2
    curves = vc.selection_curves(
        __import__("pandas").DataFrame({"k": [1, 2, 3], "inertia": [3.0, 1.0, 0.8],
                                        "silhouette": [np.nan, 0.5, 0.4],
                                        "bic": [10.0, 5.0, 6.0]}), {"elbow": 2, "bic": 2})
    assert len(curves) == 3
