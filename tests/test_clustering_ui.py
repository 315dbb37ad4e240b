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


def test_k_change_recolours_the_drawn_plots(explorer):
    """A new k writes labels into the figures already drawn (no new figure): the points'
    and the embedding's label columns, and the eigenvalue plot's k marker."""
    from workbench.ui.clustering import _k_marker, _scatter_source

    ex = explorer
    ex.n_clusters = 2
    figs = [ex._points_plot.bokeh.object, ex._embed_plot.bokeh.object, ex._eig_pane.object]
    ex.n_clusters = 4
    assert [ex._points_plot.bokeh.object, ex._embed_plot.bokeh.object,
            ex._eig_pane.object] == figs
    for fig in figs[:2]:
        src = _scatter_source(fig)
        np.testing.assert_array_equal(src.data["cluster"], ex._labels)
        np.testing.assert_array_equal(src.data["color"], ex._labels % len(vc.PALETTE))
    assert len(np.unique(ex._labels)) == 4
    assert _k_marker(figs[2]).location == 4.5
    ex.n_clusters = 2


def test_every_k_is_labelled_in_the_background(explorer):
    """After the embedding, labels and scores of k = 1..10 are computed in the background
    (so the slider only looks them up); they equal the API's."""
    from workbench.clustering.metrics import score
    from workbench.ui.clustering import K_MAX, LABELS

    ex = explorer

    def hit(k):
        return LABELS.get(("labels", ex._emb_key, ex.assign, k))

    wait_until(lambda: all(hit(k) is not None and hit(k).scores is not None
                           for k in range(1, K_MAX + 1)), 120)
    d = ex._data
    for k in (1, 3, K_MAX):
        np.testing.assert_array_equal(hit(k).labels, assign_labels(ex._emb, k, ex.assign,
                                                                   seed=0))
    ref = score(d.X, hit(3).labels, d.labels, sample_size=2000)
    assert hit(3).scores == ref
    ex.n_clusters = 3                       # a lookup: the cached labels are shown
    assert ex._labels is hit(3).labels and ex._scores == ref
    ex.n_clusters = 2


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
    # the curves of the data shown now, drawn (an earlier visit's figure may still be up)
    wait_until(lambda: ex._selection_key == ("selection", ex._data_key, ex._emb_key)
               and ex._sel_drawn is ex._selection and not ex.busy, 180)
    assert set(ex._selection.suggested) >= {"elbow", "bic", "silhouette", "eigengap"}
    fig = ex._sel_pane.object
    ex.n_clusters = 5                       # the dashed k lines move, the figure stays
    assert ex._sel_pane.object is fig
    assert [m.location for m in ex._sel_markers] == [5] * len(ex._sel_markers) != []
    ex.n_clusters = 2
    ex._tabs.active = 0


def test_datashaded_view_takes_new_labels_in_place():
    """Above the rasterization threshold the drawn DynamicMap stays and re-aggregates the
    labels sent through its Pipe: the image equals a fresh drawing of the new labels."""
    from workbench.ui.clustering import LabelledPlot

    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 2))
    lab1, lab2 = (X[:, 0] > 0).astype(int), (X[:, 1] > 0).astype(int) + 2

    def make(lab, stream):
        return vc.cluster_scatter(X, lab, rasterize_above=100, stream=stream)

    plot = LabelledPlot(300, rasterize_above=100)
    plot.show("a", len(X), make, lab1)
    dmap = plot.holo.object
    assert isinstance(dmap, hv.DynamicMap) and plot.holder.objects == [plot.holo]
    renderer = hv.renderer("bokeh")
    live = renderer.get_plot(dmap)          # what the served pane holds
    before = np.array(live.handles["source"].data["image"][0])
    plot.show("a", len(X), make, lab2)
    assert plot.holo.object is dmap
    after = np.array(live.handles["source"].data["image"][0])
    fresh = renderer.get_plot(vc.cluster_scatter(X, lab2, rasterize_above=100))
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, fresh.handles["source"].data["image"][0])


def test_datashaded_view_keeps_points_at_the_edges():
    """Points on the extremes of the coordinates (a two-valued eigenvector) are drawn
    inside the frame, not on its border, as the scatter's padding does."""
    rng = np.random.default_rng(2)
    X = np.column_stack([np.repeat([0.0, 1.0], 200), rng.standard_normal(400)])
    live = hv.renderer("bokeh").get_plot(vc.cluster_scatter(X, X[:, 0].astype(int),
                                                           rasterize_above=100))
    rgba = np.array(live.handles["source"].data["image"][0]).astype(np.uint32)
    alpha = rgba >> 24                      # RGBA packed little-endian: alpha on top
    cols = np.flatnonzero(alpha.any(axis=0))
    width = alpha.shape[1]
    assert cols.size and 0 < cols.min() < width // 4 and 3 * width // 4 < cols.max() < width - 1


def test_viz_elements():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 2))
    lab = rng.integers(0, 3, 300)
    pts = vc.cluster_scatter(X, lab)
    assert isinstance(pts, hv.Points) and len(pts) == 300
    src = hv.render(pts).select_one({"type": __import__("bokeh").models.ColumnDataSource})
    cols = vc.label_columns(lab + 15)       # colour index = label mod 16, as PALETTE wraps
    np.testing.assert_array_equal(src.data["color"], lab)
    np.testing.assert_array_equal(cols["color"], (lab + 15) % 16)
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
