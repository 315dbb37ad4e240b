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




def _scatter_source(fig):
    """The data source of the (single) scatter glyph of a rendered cluster_scatter."""
    from bokeh.models import GlyphRenderer

    return next(r.data_source for r in fig.select({"type": GlyphRenderer}))


@pytest.fixture(scope="module")
def explorer():
    from workbench.ui.clustering import ClusteringExplorer

    ex = ClusteringExplorer(dataset="circles", n_samples=1500)
    ex.view()
    wait_until(lambda: ex.clusters.shown >= 1 and ex.clusters.view.scores is not None)
    return ex


def test_k_change_reuses_the_cached_embedding(explorer):
    ex, tab = explorer, explorer.clusters
    graph, run = tab.graph, tab.run
    shown = tab.shown
    ex.settings.n_clusters = 3   # synchronous: labels from the cached embedding, no new graph
    assert tab.shown == shown + 1
    assert tab.graph is graph and tab.run is run
    np.testing.assert_array_equal(tab.view.labels, assign_labels(graph.embedding, 3,
                                                                 ex.settings.assign, seed=0))
    ex.settings.assign = "cluster_qr"
    np.testing.assert_array_equal(tab.view.labels, assign_labels(graph.embedding, 3,
                                                                 "cluster_qr"))
    ex.settings.n_clusters = 2
    d = datasets.toy_dataset("circles", 1500)
    assert ex.export_data().shape == (1500, 4)
    np.testing.assert_array_equal(ex.export_data()["true_label"], d.labels)
    assert tab.view.scores.ari > 0.99
    assert "eigengap estimate" in tab.metrics.object
    ex.settings.assign = "kmeans"


def test_k_change_recolours_the_drawn_plots(explorer):
    """A new k writes labels into the figures already drawn (no new figure): the points'
    and the embedding's label columns, and the eigenvalue plot's k marker."""
    ex, tab = explorer, explorer.clusters
    ex.settings.n_clusters = 2
    figs = [tab.points.figure, tab.embedded.figure, tab.eigen.figure]
    renders = tab.eigen.renders
    ex.settings.n_clusters = 4
    assert [tab.points.figure, tab.embedded.figure, tab.eigen.figure] == figs
    assert tab.eigen.renders == renders
    labels = tab.view.labels
    for fig in figs[:2]:
        src = _scatter_source(fig)
        np.testing.assert_array_equal(src.data["cluster"], labels)
        np.testing.assert_array_equal(src.data["color"], labels % len(vc.PALETTE))
    assert len(np.unique(labels)) == 4
    assert [s.location for s in tab.eigen.spans(dashed=True)] == [4.5]
    ex.settings.n_clusters = 2


def test_every_k_is_labelled_in_the_background(explorer):
    """After the embedding, labels and scores of k = 1..10 are computed in the background
    (so the slider only looks them up); they equal the API's."""
    from workbench.clustering.metrics import score
    from workbench.clustering.settings import K_MAX

    ex, tab = explorer, explorer.clusters
    run, assign = tab.run, ex.settings.assign
    wait_until(lambda: all(run.has(k, assign) for k in range(1, K_MAX + 1)), 120)
    d = run.data.dataset
    for k in (1, 3, K_MAX):
        np.testing.assert_array_equal(run.at(k, assign).labels,
                                      assign_labels(tab.graph.embedding, k, assign, seed=0))
    ref = score(d.X, run.at(3, assign).labels, d.labels, sample_size=2000)
    assert run.at(3, assign).scores == ref
    ex.settings.n_clusters = 3                 # a lookup: the labelled view is shown
    assert tab.view is run.at(3, assign) and tab.view.scores == ref
    ex.settings.n_clusters = 2


def test_kmeans_labels_equal_the_api(explorer):
    ex, tab = explorer, explorer.clusters
    n = tab.shown
    ex.settings.algorithm = "k-means"
    wait_until(lambda: tab.shown > n and tab.view.algorithm == "k-means")
    d = datasets.toy_dataset("circles", 1500)
    ref = KMeans(ex.settings.n_clusters, random_state=0).fit(d.X).labels_
    np.testing.assert_array_equal(tab.view.labels, ref)
    ex.settings.algorithm = "spectral"
    wait_until(lambda: tab.view.algorithm == "spectral" and not ex.busy)


def test_error_is_shown_and_view_kept(explorer):
    ex, tab = explorer, explorer.clusters
    ex.settings.algorithm = "spectral"
    before = tab.view.labels.copy()
    ex.settings.affinity = "rbf"
    ex.settings.n_samples = 100_000      # dense RBF above 20k points: refused with a message
    wait_until(lambda: "dense" in ex.message)
    np.testing.assert_array_equal(tab.view.labels, before)
    ex.settings.param.update(affinity="nearest_neighbors", n_samples=1500)
    wait_until(lambda: ex.message == "" and tab.run is not None and tab.run.data.n == 1500
               and tab.graph is not None and tab.run.key == ex.settings.run_key())


def test_side_tabs_compute(explorer):
    ex = explorer
    det = ex.detectability
    ex._tabs.active = 3   # detectability
    # (busy until the results are drawn: on_done runs before busy drops)
    wait_until(lambda: det.curve is not None and det.split is not None and not ex.busy, 180)
    from workbench.clustering.detectability import spectral_split

    n, d = det.settings.dims()
    ref = spectral_split(n, d, round(det.settings.signal, 3), seed=0)
    assert det.split.accuracy == ref.accuracy
    assert "threshold" in det.info.object
    # a new signal moves the drawn marker at once and writes the new split's bars into
    # the drawn histogram (no new figures)
    curve_fig, hist_fig = det.curve_figure.figure, det.hist_figure.figure
    assert curve_fig is not None and hist_fig is not None
    split = det.split
    det.settings.signal = 2.0
    assert [s.location for s in det.curve_figure.spans(dashed=False)] == [2.0]
    wait_until(lambda: det.split is not split and not ex.busy, 180)
    assert det.curve_figure.figure is curve_fig and det.hist_figure.figure is hist_fig
    bars = vc.projection_histogram_columns(det.split.projection, det.split.truth)
    for name, cols in bars.items():
        np.testing.assert_array_equal(det.hist_figure.source(name).data["top"], cols["top"])
    assert det.split.signal == 2.0 and "2.00" in det.hist_figure.figure.title.text

    ex._tabs.active = 2   # k selection
    tab, run = ex.choosing_k, ex.clusters.run
    # the curves of the data shown now, drawn (an earlier visit's figure may still be up)
    wait_until(lambda: tab.key == ("selection", run.data.key, ex.clusters.graph.key)
               and tab.drawn is tab.selection and not ex.busy, 180)
    assert set(tab.selection.suggested) >= {"elbow", "bic", "silhouette", "eigengap"}
    fig = tab.figure.figure
    ex.settings.n_clusters = 5                       # the dashed k lines move, the figure stays
    assert tab.figure.figure is fig
    markers = tab.figure.spans(dashed=True)
    assert [m.location for m in markers] == [5] * len(markers) != []
    ex.settings.n_clusters = 2
    ex._tabs.active = 0


def test_url_round_trips_the_settings(explorer):
    """The URL's names are the settings' (on two sub-objects): written, then restored."""
    from urllib.parse import urlencode

    from panel.util import parse_query

    from workbench.ui.clustering import ClusteringExplorer

    src = ClusteringExplorer(dataset="blobs", n_clusters=3, noise=0.5, signal=2.0,
                             det_ratio=0.25)
    query = src._url_query()
    assert set(query) == set(ClusteringExplorer.url_params)
    dst = ClusteringExplorer()
    dst._restore_from_url(parse_query("?" + urlencode(query)))
    for name in ClusteringExplorer.url_params:
        assert getattr(dst._url_owner(name), name) == getattr(src._url_owner(name), name)
    assert dst.settings.n_clusters == 3 and dst.detectability.settings.signal == 2.0
    dst._restore_from_url({"n_clusters": 99, "noise": 2.0})   # k out of bounds
    assert dst.settings.noise == 2.0 and dst.settings.n_clusters == 3
    assert "n_clusters" in dst.message


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
    for lam, gap, log in (([0, 0, 0.02, 0.5], 2, True), ([0, 0, 0.2, 0.5], 2, False),
                          ([0, 0, 0.02, 0.5], 4, False)):
        plot = hv.renderer("bokeh").get_plot(vc.eigenvalue_plot(lam, k_gap=gap, log="auto"))
        assert (type(plot.state.y_scale).__name__ == "LogScale") == log, (lam, gap)
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
