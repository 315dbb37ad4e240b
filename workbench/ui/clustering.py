"""Clustering explorer: k-means, spectral clustering and mixtures on scikit-learn's toy
sets (up to a million points), seen through the graph Laplacian's spectrum.

Tabs: *Clusters* (points coloured by cluster, the spectral embedding, the Laplacian's
smallest eigenvalues with the eigengap, metrics and times), *Comparison grid* (datasets x
algorithms, computed live), *Choosing k* (elbow, silhouette, BIC, eigengap) and
*Detectability* (a two-cluster Gaussian mixture: accuracy against signal strength with the
theoretical threshold).

Caching: the dataset and the graph + embedding are computed once in the background and
kept (across sessions) by their parameters, so changing k or the assignment method of
spectral clustering re-runs only the cheap labelling step (k-means or cluster-QR on the
n x k embedding). Once the embedding is there, the labels (and scores) of every k are
computed in the background, nearest k first, and kept across sessions: moving the k
slider then only looks them up.

Drawing: the scatter plots are drawn once per dataset / embedding and new labels recolour
the drawn points in place (written into the rendered Bokeh data source, or, for the
datashaded views above 20,000 points, sent through a Pipe so that only the image is
re-aggregated); the eigenvalue plot's k marker moves; the metrics line is updated after
the plots have gone out. This module calls topic functions only (no linear algebra here).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import panel as pn
import param

from workbench.clustering import datasets as cds
from workbench.clustering.compare import ALGORITHMS, GRID_DATASETS
from workbench.errors import RankError
from workbench.ui.base import (
    Explorer,
    ResultCache,
    _on_session,
    error_message,
    themed_renderer,
    undelayed,
)
from workbench.viz.clustering import RASTERIZE_ABOVE, label_columns, rasterized

DATASETS = (*cds.TOY_DATASETS, "digits", "two_gaussians")
SIZES = (500, 1500, 5000, 20_000, 100_000, 300_000, 1_000_000)
N_EIGS = 12                 # Laplacian eigenpairs kept: k up to 10 plus the gap after it
SPECTRAL_LIMIT = 1_000_000  # spectral clustering up to this many points (shift-invert LU)
EMBED_SIDE_LIMIT = 100_000  # with another algorithm, the Laplacian is shown up to here
SELECTION_SAMPLE = 20_000   # k-selection curves on a random sample of this many points
GRID_SAMPLES = 500          # points per grid cell (as scikit-learn's gallery)
DET_SIZES = (500, 1000, 2000, 4000)
DET_RATIOS = (0.1, 0.25, 0.5, 1.0, 2.0)

log = logging.getLogger("workbench.ui")

# big results (datasets, embeddings, labels of a million points) in a small LRU of their
# own: the base CACHE holds 128 entries of any size
BIG = ResultCache(maxsize=8)
GRID_CACHE = ResultCache(maxsize=4 * len(GRID_DATASETS) * len(ALGORITHMS))  # small cells
# labels of spectral clustering per (graph, assignment method, k): int8, 1 MB per million
LABELS = ResultCache(maxsize=64)
K_MAX = 10                  # the k slider's upper bound
SYNC_ASSIGN_LIMIT = 20_000  # up to this many points a missing labelling runs in the callback


def _cached(key, fn):
    """BIG[key], computing and storing fn() when missing (called in worker threads)."""
    hit = BIG.get(key)
    if hit is None:
        hit = fn()
        BIG.put(key, hit)
    return hit


@dataclass
class Labelling:
    """Labels of spectral clustering for one k, the seconds they took, and their scores
    (filled in later when computed on the UI thread)."""

    labels: np.ndarray
    seconds: float
    scores: object = None


def labelling(emb, graph_key, k: int, method: str, X=None, truth=None) -> Labelling:
    """The labels for `k` clusters from the embedding `emb` (cached in LABELS by
    (graph_key, method, k)); with `X`, their scores too (``metrics.score``: the sampled
    silhouette costs O(2000^2 d)). Labelling cost: k-means on the n x k embedding, O(n k^2)
    per iteration, 4 restarts (cluster_qr: one pivoted QR, O(n k^2)). Thread-safe."""
    from workbench.clustering.metrics import score
    from workbench.clustering.spectral import assign_labels

    key = ("labels", graph_key, method, int(k))
    hit = LABELS.get(key)
    if hit is None:
        t0 = time.perf_counter()
        labels = assign_labels(emb, int(k), method, seed=0)
        hit = Labelling(labels.astype(np.int8 if k <= 127 else np.int32),
                        time.perf_counter() - t0)
        LABELS.put(key, hit)
    if X is not None and hit.scores is None:
        hit.scores = score(X, hit.labels, truth, sample_size=2000)
    return hit


def data_key(dataset: str, n_samples: int, noise: float, seed: int) -> tuple:
    """The cache key of a dataset (digits has its own size)."""
    n = None if dataset == "digits" else int(n_samples)
    return ("data", dataset, n, round(float(noise), 3), int(seed))


def graph_key(dkey: tuple, affinity: str, n_neighbors: int) -> tuple:
    """The cache key of a graph + embedding of the dataset `dkey`."""
    return ("graph", dkey, affinity, int(n_neighbors))


def load_data(key: tuple):
    """(Dataset, its 2-D coordinates to draw: a projection when d > 2) for a data_key,
    cached in BIG. Cost: generating n points, O(n d)."""
    _, name, n, noise, seed = key
    data = _cached(key, lambda: cds.load(name, n or 1500, noise, seed))
    return data, _cached(("plane", key), lambda: cds.plane(data))


def warm_cache(dataset: str = "moons", n_samples: int = 1500, noise: float = 1.0,
               seed: int = 0, affinity: str = "nearest_neighbors", n_neighbors: int = 10,
               assign: str = "kmeans") -> None:
    """Compute and cache, in this process, everything the explorer shows for spectral
    clustering with these parameters: the data, the graph and its embedding, and the
    labels and scores of every k; so that a server opens that view at once (e.g. a
    million points before a class: about a minute for the embedding and ~15 s of
    labelling on 2 cores). Returns None."""
    dkey = data_key(dataset, n_samples, noise, seed)
    data, _ = load_data(dkey)
    gkey = graph_key(dkey, affinity, n_neighbors)
    emb, _ = embedding(gkey, data.X, affinity, n_neighbors)
    for k in range(1, min(K_MAX, emb.maps.shape[1]) + 1):
        labelling(emb, gkey, k, assign, data.X, data.labels)


def embedding(key, X, affinity: str, n_neighbors: int):
    """(SpectralEmbedding, info) of X's `affinity` graph with `n_neighbors` neighbours,
    N_EIGS eigenpairs, cached in BIG by `key`. Cost: the kNN graph (O(n log n) with a
    tree) and shift-invert Lanczos on the sparse Laplacian (one sparse LU)."""
    from workbench.clustering.graph import affinity_graph
    from workbench.clustering.spectral import spectral_embedding

    def build():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = affinity_graph(X, affinity, n_neighbors=min(n_neighbors, len(X) - 1))
        emb = spectral_embedding(g, min(N_EIGS, len(X) - 1))
        info = {"graph_s": g.seconds, "embed_s": emb.seconds, "nnz": g.nnz,
                "components": g.n_components, "matvecs": emb.num_matvecs}
        return emb, info
    return _cached(key, build)


def render(element):
    """A HoloViews element as a Bokeh model, drawn once and then updated in place, in the
    page's Bokeh theme (the dark template sets one on the document; HoloViews would
    otherwise write its light defaults into the model, as pn.pane.HoloViews does not)."""
    return themed_renderer().get_plot(element).state


def _scatter_source(fig):
    """The data source of the (single) scatter glyph of a rendered cluster_scatter."""
    from bokeh.models import GlyphRenderer

    return next(r.data_source for r in fig.select({"type": GlyphRenderer}))


def _k_markers(fig) -> list:
    """The dashed vertical k lines (hv.VLine -> bokeh Span) of a rendered plot or layout
    from ``viz.clustering`` (solid lines mark other things)."""
    from bokeh.models import Span

    return [s for s in fig.select({"type": Span})
            if s.dimension == "height" and s.line_dash not in ("solid", [])]


def _k_marker(fig):
    """The dashed k line of a rendered eigenvalue_plot, or None."""
    return next(iter(_k_markers(fig)), None)


class LabelledPlot:
    """A cluster scatter drawn once per ``key`` (data, embedding) whose labels change in
    place: up to ``viz.clustering.RASTERIZE_ABOVE`` points the rendered Bokeh data source
    takes the new label columns (a few ms, nothing re-laid out); above, the datashaded
    DynamicMap re-aggregates from a Pipe of labels (one O(n) aggregation, same figure).
    ``make(labels, stream)`` must rasterize above the same ``rasterize_above``."""

    def __init__(self, min_height: int, rasterize_above: int = RASTERIZE_ABOVE):
        self.rasterize_above = rasterize_above
        self.bokeh = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=min_height)
        # linked_axes=False: the points and the embedding both name their axes x and y
        self.holo = pn.pane.HoloViews(None, sizing_mode="stretch_width", min_height=min_height,
                                      linked_axes=False)
        self.holder = pn.Column(self.bokeh, sizing_mode="stretch_width", margin=0)
        self.key = None
        self._update = None

    def show(self, key, n: int, make, labels) -> None:
        """Recolour the drawn plot with `labels`, or draw ``make(labels, stream)`` (an
        element from ``viz.clustering``) when `key` differs from the drawn one."""
        if key == self.key and self._update is not None:
            self._update(labels)
            return
        import holoviews as hv

        if rasterized(n, self.rasterize_above):
            pipe = hv.streams.Pipe(data=labels)
            self.holo.object = make(labels, pipe)
            pane, self._update = self.holo, pipe.send
        else:
            fig = render(make(labels, None))
            src = _scatter_source(fig)
            self.bokeh.object = fig
            pane, self._update = self.bokeh, lambda lab: src.data.update(label_columns(lab))
        if self.holder.objects[0] is not pane:
            self.holder.objects = [pane]
        self.key = key

    def reset(self) -> None:
        self.key, self._update = None, None


class ClusteringExplorer(Explorer):
    """Cluster toy datasets with k-means, spectral clustering and mixtures; see the
    Laplacian spectrum, the spectral embedding, a comparison grid and detectability."""

    title = "Clustering through its spectra"
    description = ("k-means, spectral clustering and Gaussian mixtures on scikit-learn's toy "
                   "sets up to a million points: the Laplacian's eigengap counts clusters, "
                   "the spectral embedding turns moons into blobs, and below a signal "
                   "threshold no method can find them.")
    url_params = ("n_clusters", "dataset", "n_samples", "noise", "seed", "algorithm",
                  "affinity", "n_neighbors", "assign", "init", "backend", "covariance",
                  "signal", "det_n", "det_ratio")

    n_clusters = param.Integer(default=2, bounds=(1, 10), doc="Number of clusters k")
    dataset = param.Selector(default="moons", objects=list(DATASETS), doc="Dataset")
    n_samples = param.Selector(default=1500, objects=list(SIZES), doc="Number of points")
    noise = param.Number(default=1.0, bounds=(0.0, 3.0), step=0.1,
                         doc="Noise, as a multiple of scikit-learn's gallery")
    seed = param.Integer(default=0, bounds=(0, 99), doc="Random seed of the data")
    algorithm = param.Selector(default="spectral", objects=list(ALGORITHMS), doc="Algorithm")
    affinity = param.Selector(default="nearest_neighbors",
                              objects=["nearest_neighbors", "knn_rbf", "rbf"],
                              doc="Graph of spectral clustering")
    n_neighbors = param.Integer(default=10, bounds=(3, 50), doc="Neighbours in the kNN graph")
    assign = param.Selector(default="kmeans", objects=["kmeans", "cluster_qr"],
                            doc="Labels from the embedding")
    init = param.Selector(default="k-means++", objects=["k-means++", "k-means||", "random"],
                          doc="k-means seeding")
    backend = param.Selector(default="auto", objects=["auto", "numba", "numpy", "torch"],
                             doc="k-means backend")
    covariance = param.Selector(default="full", objects=["full", "tied", "diag", "spherical"],
                                doc="Mixture covariance")
    signal = param.Number(default=1.2, bounds=(0.0, 3.0), step=0.05,
                          doc="Signal strength ||mu|| of the two-cluster mixture")
    det_n = param.Selector(default=1000, objects=list(DET_SIZES), doc="Points n")
    det_ratio = param.Selector(default=0.5, objects=list(DET_RATIOS), doc="Dimension ratio d/n")
    shown = param.Integer(default=0, precedence=-1, doc="Counts label updates (for tests)")

    def __init__(self, **params):
        super().__init__(**params)
        self._data: cds.Dataset | None = None
        self._data_key = None
        self._plane: np.ndarray | None = None
        self._emb = None
        self._emb_key = None
        self._graph_info: dict = {}
        self._labels: np.ndarray | None = None
        self._fit_info: dict = {}
        self._scores = None
        self._grid_cells: dict = {}
        self._grid_key = None
        self._selection = None
        self._selection_key = None
        self._det_curve = None
        self._det_curve_key = None
        self._split = None

        self._prefetch_token = None

        def pane(h):
            return pn.pane.HoloViews(None, sizing_mode="stretch_width", min_height=h)

        # drawn once per data / embedding, then recoloured in place (see LabelledPlot)
        self._points_plot = LabelledPlot(420)
        self._embed_plot = LabelledPlot(320)
        self._points_pane = self._points_plot.holder
        self._embed_pane = self._embed_plot.holder
        self._eig_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=320)
        self._eig_key = None
        self._eig_marker = None
        self._spectrum_note = pn.pane.Markdown("", visible=False, sizing_mode="stretch_width")
        self._metrics = pn.pane.Markdown("", sizing_mode="stretch_width",
                                         css_classes=["wb-cl-metrics"])
        self._grid_pane = pane(300)
        self._grid_info = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._sel_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=480)
        self._sel_drawn = None      # the KSelection drawn, and its dashed k lines
        self._sel_markers: list = []
        self._sel_info = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._det_pane = pane(340)
        self._hist_pane = pane(340)
        self._det_info = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._tabs = None

        self.param.watch(self._on_data_param, ["dataset", "n_samples", "noise", "seed"])
        self.param.watch(self._on_graph_param, ["affinity", "n_neighbors"])
        self.param.watch(self._on_cheap, ["n_clusters", "assign"])
        self.param.watch(self._on_fit_param, ["algorithm", "init", "backend", "covariance"])
        self.param.watch(self._on_signal, ["signal"])
        self.param.watch(self._on_det_size, ["det_n", "det_ratio"])
        self.guarded(self._load_data)()

    # ------------------------------------------------------------------ data
    def _current_data_key(self):
        return data_key(self.dataset, self.n_samples, self.noise, self.seed)

    def _validate(self, n: int) -> None:
        """Refuse combinations that would not fit (before anything changes)."""
        if self.algorithm == "spectral":
            if n > SPECTRAL_LIMIT:
                raise RankError(f"spectral clustering is limited to {SPECTRAL_LIMIT:,} points")
            if self.affinity == "rbf" and n > 20_000:
                raise RankError(f"affinity='rbf' forms a dense {n:,} x {n:,} matrix; above "
                                "20,000 points use 'nearest_neighbors' or 'knn_rbf'")
        if self.algorithm == "ppp" and n > 200_000:
            raise RankError("PPP fits k-means and a mixture for every k: limited to 200,000 "
                            "points here")

    def _load_data(self) -> None:
        key = self._current_data_key()
        _, name, n, _, _ = key
        self._validate(n or 1797)
        label = f"Generating {name} ({n or 1797:,} points)…"
        self.run_background(None, lambda: load_data(key), lambda r: self._set_data(key, *r),
                            channel="data", label=label, use_cache=False)

    def _set_data(self, key, data: cds.Dataset, plane: np.ndarray) -> None:
        self._data, self._data_key, self._plane = data, key, plane
        self._emb, self._emb_key, self._labels = None, None, None
        self._compute()
        self._refresh_side_tabs()

    def _on_data_param(self, *_):
        self.guarded(self._load_data)()

    # ------------------------------------------------------------------ fitting
    def _graph_key(self):
        return graph_key(self._data_key, self.affinity, self.n_neighbors)

    def _need_embedding(self) -> bool:
        n = self._data.n
        return self.algorithm == "spectral" or n <= EMBED_SIDE_LIMIT

    def _compute(self) -> None:
        if self._data is None:
            return
        self._validate(self._data.n)
        if self._need_embedding():
            self._request_embedding()
        else:
            self._emb, self._emb_key = None, None
        if self.algorithm != "spectral":
            self._request_fit()

    def _request_embedding(self) -> None:
        key = self._graph_key()
        if key == self._emb_key and self._emb is not None:
            if self.algorithm == "spectral":
                self._assign()
            return
        X = self._data.X
        affinity, nn = self.affinity, int(self.n_neighbors)

        def work():
            return embedding(key, X, affinity, nn)

        n = len(X)
        label = (f"Building the {affinity} graph and the Laplacian embedding of {n:,} "
                 "points…" + (" (a million points: about a minute)" if n >= 500_000 else ""))
        self.run_background(None, work, lambda r: self._set_embedding(key, r),
                            channel="embed", label=label, use_cache=False)

    def _set_embedding(self, key, result) -> None:
        if key != self._graph_key():
            return
        self._emb, self._graph_info = result
        self._emb_key = key
        if self.algorithm == "spectral":
            self._assign()
            self._prefetch_labels()
        else:
            self._draw_spectrum()

    def _labelling_key(self):
        k = min(int(self.n_clusters), self._emb.maps.shape[1])
        return ("labels", self._emb_key, self.assign, k)

    def _assign(self) -> None:
        """The cheap step of spectral clustering: labels from the cached embedding, looked
        up when prefetched, else computed here (up to SYNC_ASSIGN_LIMIT points) or in the
        background."""
        if self._emb is None:
            return
        key = self._labelling_key()
        _, gkey, method, k = key
        hit = LABELS.get(key)
        if hit is not None:
            self._show_labelling(key, hit)
            return
        emb = self._emb
        if self._data.n <= SYNC_ASSIGN_LIMIT:
            self._show_labelling(key, labelling(emb, gkey, k, method))
            return
        d = self._data
        self.run_background(None, lambda: labelling(emb, gkey, k, method, d.X, d.labels),
                            lambda hit: self._show_labelling(key, hit), channel="assign",
                            label=f"Labelling {d.n:,} points for k = {k}…", use_cache=False)

    def _show_labelling(self, key, hit: Labelling) -> None:
        if self._emb is None or key != self._labelling_key():
            return  # superseded: k, the method or the embedding changed meanwhile
        self._fit_info = {"assign_s": hit.seconds, **self._graph_info}
        self._set_labels(hit.labels, hit)

    def _prefetch_labels(self) -> None:
        """Label (and score) every k of the slider in the background, nearest first, so
        that moving k only looks labels up. Stops when the embedding or method changes."""
        if self._emb is None or self.algorithm != "spectral" or self._data is None:
            return
        emb, gkey, method, d = self._emb, self._emb_key, self.assign, self._data
        token = (gkey, method)
        if self._prefetch_token == token:
            return
        k0 = int(self.n_clusters)
        ks = sorted(range(1, min(K_MAX, emb.maps.shape[1]) + 1), key=lambda k: (abs(k - k0), k))
        todo = [k for k in ks if getattr(LABELS.get(("labels", gkey, method, k)), "scores",
                                         None) is None]
        self._prefetch_token = token
        if not todo:
            return

        def work():
            for k in todo:
                if self._prefetch_token != token:
                    return None
                labelling(emb, gkey, k, method, d.X, d.labels)
            return None

        self.run_background(None, work, lambda _: None, channel="prefetch",
                            label=f"Labelling the {d.n:,} points for every k (1–{K_MAX}), so "
                            "that the k slider only looks them up…", use_cache=False)

    def _request_fit(self) -> None:
        from workbench.clustering.compare import make_estimator
        from workbench.clustering.metrics import score

        d = self._data
        key = ("fit", self._data_key, self.algorithm, int(self.n_clusters), self.init,
               self.backend, self.covariance)
        alg, k = self.algorithm, int(self.n_clusters)
        est = make_estimator(alg, k, init=self.init, backend=self.backend,
                             covariance_type=self.covariance, k_max=10)
        X = d.X

        def work():
            def fit():
                import warnings

                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    labels = np.asarray(est.fit_predict(X), dtype=np.int32)
                info = {"fit_s": time.perf_counter() - t0}
                if alg == "ppp":
                    info["k_chosen"] = int(est.n_clusters_)
                if alg == "k-means":
                    info["n_iter"] = int(est.n_iter_)
                    info["init_s"] = float(est.init_seconds_)
                return labels, info, score(X, labels, d.labels, sample_size=2000)
            return _cached(key, fit)

        self.run_background(None, work, lambda r: self._set_fit(key, r), channel="fit",
                            label=f"Fitting {alg} on {d.n:,} points…", use_cache=False)

    def _set_fit(self, key, result) -> None:
        if key[1] != self._data_key or key[2] != self.algorithm:
            return  # the data or the algorithm changed meanwhile
        labels, info, scores = result
        self._fit_info = info
        self._set_labels(labels, scores=scores)

    def _on_cheap(self, *_):
        def run():
            if self._data is None:
                return
            if self.algorithm == "spectral":
                if self._emb is not None:
                    self._assign()
                    self._prefetch_labels()
            else:
                self._request_fit()
            self._draw_selection()
        self.guarded(run)()

    def _on_fit_param(self, *_):
        self.guarded(self._compute)()

    def _on_graph_param(self, *_):
        def run():
            if self._data is not None:
                self._validate(self._data.n)
            if self._data is not None and self._need_embedding():
                self._request_embedding()
        self.guarded(run)()

    # ------------------------------------------------------------------ drawing: clusters
    def _set_labels(self, labels: np.ndarray, hit: Labelling | None = None,
                    scores=None) -> None:
        """Show new labels: recolour the drawn points now; the datashaded embedding (an
        O(n) aggregation) and the metrics line (scores computed here when missing) follow
        on the next tick, after the points have gone out to the browser."""
        from workbench.clustering.metrics import score

        d = self._data
        if len(labels) != d.n:
            return
        self._labels = labels
        if self.detached():
            return
        self._scores = scores if scores is not None else getattr(hit, "scores", None)
        big = rasterized(d.n)
        self._draw_points()
        self._draw_spectrum(embedding=not big)
        self.shown += 1

        def finish():
            if self._labels is not labels:
                return  # newer labels are on their way
            try:
                if big:
                    self._draw_embedding()
                if self._scores is None:
                    self._scores = score(d.X, labels, d.labels, sample_size=2000)
                    if hit is not None:
                        hit.scores = self._scores  # kept with the cached labels
                self._draw_metrics()
            except Exception as exc:  # noqa: BLE001 - a message, never a traceback
                log.error("clustering: finishing the labels failed", exc_info=True)
                self.show_error(error_message(exc))

        _on_session(pn.state.curdoc, finish)

    def _points_title(self) -> str:
        d = self._data
        name = d.name
        if d.name == "two_gaussians":
            name = "two Gaussians (signal axis, one noise axis)"
        elif d.X.shape[1] > 2:
            name += f" ({d.X.shape[1]}-D, top 2 principal components)"
        return f"{name}: {d.n:,} points, {self.algorithm}"

    def _draw_points(self) -> None:
        from workbench.viz.clustering import cluster_scatter

        plane, title = self._plane, self._points_title()
        self._points_plot.show(
            (self._data_key, self.algorithm), self._data.n,
            lambda lab, stream: cluster_scatter(plane, lab, title=title, height=420,
                                                stream=stream),
            self._labels)

    def _draw_spectrum(self, embedding: bool = True) -> None:
        if self.detached():
            return
        if self._emb is None:
            self._spectrum_note.object = (
                "*The Laplacian spectrum and embedding are computed for spectral clustering, "
                f"and for the other algorithms up to {EMBED_SIDE_LIMIT:,} points.*")
            self._spectrum_note.visible = True
            self._eig_pane.visible = self._embed_pane.visible = False
            return
        self._spectrum_note.visible = False
        self._eig_pane.visible = self._embed_pane.visible = True
        self._draw_eigenvalues()
        if embedding:
            self._draw_embedding()

    def _draw_eigenvalues(self) -> None:
        """The Laplacian's smallest eigenvalues, drawn once per embedding; a new k only
        moves the dashed k marker."""
        from workbench.viz.clustering import eigenvalue_plot

        lam, k = self._emb.eigenvalues, int(self.n_clusters)
        marker = self._eig_marker
        if self._eig_key == self._emb_key and marker is not None and 1 <= k < len(lam):
            marker.location = k + 0.5
            return
        gap = self._emb.eigengap()
        # (near-)zero eigenvalues against a rising bulk: a log axis shows the gap
        log = gap < len(lam) and lam[gap] < 0.1 * lam[-1]
        fig = render(eigenvalue_plot(lam, k=k, k_gap=gap, log=bool(log)))
        self._eig_marker = _k_marker(fig)
        self._eig_pane.object = fig
        self._eig_key = self._emb_key

    def _draw_embedding(self) -> None:
        from workbench.viz.clustering import embedding_plot

        labels, maps = self._labels, self._emb.maps if self._emb is not None else None
        if labels is None or maps is None or len(labels) != maps.shape[0]:
            return
        self._embed_plot.show(
            self._emb_key, maps.shape[0],
            lambda lab, stream: embedding_plot(maps, lab, stream=stream), labels)

    def _draw_metrics(self) -> None:
        s, info, d = self._scores, self._fit_info, self._data

        def f(v, fmt="{:.3f}"):
            return "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) \
                else fmt.format(v)

        times = []
        if "graph_s" in info and self.algorithm == "spectral":
            times = [f"graph {info['graph_s']:.2f} s", f"embedding {info['embed_s']:.2f} s "
                     f"({info['matvecs']} solves)", f"labels {info['assign_s'] * 1e3:.0f} ms"]
        elif "fit_s" in info:
            times = [f"fit {info['fit_s']:.2f} s"]
            if "init_s" in info:
                times.append(f"seeding {info['init_s'] * 1e3:.0f} ms, {info['n_iter']} "
                             "iterations")
        extra = ""
        if "k_chosen" in info:
            extra = f" · **PPP chose k = {info['k_chosen']}** (BIC)"
        gap = ""
        if self._emb is not None:
            comp = self._graph_info.get("components", 1)
            gap = (f" · eigengap estimate **k = {self._emb.eigengap()}**"
                   + (f" ({comp} graph components)" if comp > 1 else ""))
        truth = "" if d.labels is not None else " (no true labels: ARI/NMI undefined)"
        self._metrics.object = (
            f"**ARI** {f(s.ari)} · **NMI** {f(s.nmi)} · **accuracy** {f(s.accuracy)} · "
            f"**silhouette** {f(s.silhouette)} (2,000-point sample) · **inertia** "
            f"{f(s.inertia, '{:.4g}')} · clusters found {s.n_clusters}{extra}{gap}{truth}"
            f"<br>**time**: {', '.join(times) or '—'}")

    # ------------------------------------------------------------------ side tabs
    def _active_tab(self) -> int:
        return self._tabs.active if self._tabs is not None else 0

    def _refresh_side_tabs(self) -> None:
        tab = self._active_tab()
        if tab != 1 and len(self._grid_cells) < len(GRID_DATASETS) * len(ALGORITHMS):
            self._grid_key = None  # stop an unfinished grid: the shared workers are few
        if tab == 1:
            self._request_grid()
        elif tab == 2:
            self._request_selection()
        elif tab == 3:
            self._request_detectability()

    def _request_grid(self) -> None:
        from workbench.clustering.compare import grid_cell

        key = ("grid", round(float(self.noise), 3), int(self.seed))
        if key == self._grid_key:
            return
        self._grid_key = key
        self._grid_cells = {}
        noise, seed = float(self.noise), int(self.seed)
        doc = pn.state.curdoc
        self._show_grid(key, [])  # the empty grid at once, filled row by row
        todo = [(dn, an) for dn in GRID_DATASETS for an in ALGORITHMS]

        def work():
            cells = []
            for dn, an in todo:
                if self._grid_key != key:
                    return None  # superseded by a newer noise / seed
                ck = ("cell", dn, an, GRID_SAMPLES, round(noise, 3), seed)
                cell = GRID_CACHE.get(ck)
                if cell is None:
                    cell = grid_cell(dn, an, GRID_SAMPLES, noise, seed)
                    GRID_CACHE.put(ck, cell)
                cells.append(cell)
                if len(cells) % len(ALGORITHMS) == 0:  # a row is done: show it now
                    snapshot = list(cells)
                    _on_session(doc, lambda s=snapshot: self.guarded(self._show_grid)(key, s))
            return cells

        self.run_background(None, work, lambda cells: cells and self._show_grid(key, cells),
                            channel="grid", label="Computing the comparison grid…",
                            use_cache=False)

    def _show_grid(self, key, cells) -> None:
        from workbench.viz.clustering import comparison_grid

        if key != self._grid_key or self.detached():
            return
        for c in cells:
            self._grid_cells[(c["dataset"], c["algorithm"])] = c
        self._grid_pane.object = comparison_grid(list(self._grid_cells.values()),
                                                 list(GRID_DATASETS), list(ALGORITHMS))
        done = len(self._grid_cells)
        total = len(GRID_DATASETS) * len(ALGORITHMS)
        self._grid_info.object = (
            f"**{done}/{total} cells** · {GRID_SAMPLES:,} points each, noise x{self.noise:g}, "
            f"seed {self.seed} (the sidebar's noise and seed). Rows: datasets; columns: "
            "algorithms, each with the true number of clusters (PPP chooses its own k by "
            "BIC). Titles: fit time and ARI against the true labels.")

    def _request_selection(self) -> None:
        from workbench.clustering.selection import k_selection

        d = self._data
        if d is None:
            return
        key = ("selection", self._data_key, self._emb_key)
        if key == self._selection_key:
            self._draw_selection()
            return
        X = d.X
        eig = None if self._emb is None else self._emb.eigenvalues

        def work():
            def run():
                if len(X) > SELECTION_SAMPLE:
                    idx = np.random.default_rng(0).choice(len(X), SELECTION_SAMPLE,
                                                          replace=False)
                    Xs = X[idx]
                else:
                    Xs = X
                return k_selection(Xs, range(1, 11), eigenvalues=eig, seed=0)
            return _cached(key, run)

        def done(sel):
            self._selection, self._selection_key = sel, key
            self._draw_selection()

        self.run_background(None, work, done, channel="selection",
                            label="Computing the k-selection curves (k = 1..10)…",
                            use_cache=False)

    def _draw_selection(self) -> None:
        from workbench.viz.clustering import selection_curves

        sel = self._selection
        if sel is None or self._active_tab() != 2 or self.detached():
            return
        k = int(self.n_clusters)
        if self._sel_drawn is sel and self._sel_markers:
            for marker in self._sel_markers:  # a new k only moves the dashed lines
                marker.location = k
            return
        fig = render(selection_curves(sel.table(), sel.suggested, k=k))
        self._sel_markers = _k_markers(fig)
        self._sel_pane.object = fig
        self._sel_drawn = sel
        sample = (f" on a random sample of {SELECTION_SAMPLE:,} points"
                  if self._data is not None and self._data.n > SELECTION_SAMPLE else "")
        sug = ", ".join(f"{k} → **{v}**" for k, v in sel.suggested.items())
        self._sel_info.object = (
            f"k-means for k = 1..10{sample} ({sel.seconds:.1f} s). Suggested: {sug}. Dashed "
            "line: the k in the sidebar. Each rule is a heuristic: the elbow and the "
            "silhouette favour round clusters, BIC favours Gaussian ones (moons need many), "
            "and the eigengap counts the graph's components when it falls apart, else takes "
            "the largest gap.")

    # ------------------------------------------------------------------ detectability
    def _det_dims(self) -> tuple[int, int]:
        n = int(self.det_n)
        return n, max(1, int(round(float(self.det_ratio) * n)))

    def _request_detectability(self) -> None:
        from workbench.clustering.detectability import detectability_curve

        n, dd = self._det_dims()
        key = ("detect", n, dd)
        if key != self._det_curve_key:
            def work():
                return _cached(key, lambda: detectability_curve(n, dd, seed=0))

            def done(df):
                self._det_curve, self._det_curve_key = df, key
                self._draw_detectability()

            self.run_background(None, work, done, channel="det-curve",
                                label="Simulating accuracy against signal (16 draws)…",
                                use_cache=False)
        self._request_split()

    def _request_split(self) -> None:
        from workbench.clustering.detectability import spectral_split

        n, dd = self._det_dims()
        s = round(float(self.signal), 3)
        key = ("split", n, dd, s)

        def work():
            return _cached(key, lambda: spectral_split(n, dd, s, seed=0))

        def done(res):
            self._split = res
            self._draw_detectability()

        self.run_background(None, work, done, channel="det-split",
                            label="Drawing the mixture…", use_cache=False)

    def _draw_detectability(self) -> None:
        from workbench.viz.clustering import detectability_plot, projection_histogram

        if self.detached():
            return
        n, dd = self._det_dims()
        thr = cds.gaussian_threshold(n, dd)
        df = self._det_curve
        if df is not None and (df.attrs.get("n_samples"), df.attrs.get("n_features")) == (n, dd):
            grid = np.linspace(0, max(3.0, float(df["signal"].max())), 300)
            self._det_pane.object = detectability_plot(
                df["signal"], df["spectral"], grid, cds.gaussian_accuracy(grid, n, dd), thr,
                current=float(self.signal), kmeans_accuracy=df["kmeans"])
        r = self._split
        if r is not None:
            self._hist_pane.object = projection_histogram(
                r.projection, r.truth,
                title=f"Top singular vector's entries at signal {r.signal:.2f}")
            side = "above" if r.signal > r.threshold else "below"
            self._det_info.object = (
                f"x = y·μ + z with z ~ N(0, I) in d = {dd:,} dimensions, n = {n:,} points, "
                f"‖μ‖ = {r.signal:.2f}, {side} the threshold (d/n)^¼ = {r.threshold:.3f}. "
                f"Spectral split (sign of the top singular vector): **accuracy "
                f"{r.accuracy:.3f}** (theory {r.theory:.3f}, chance 0.5). Below the "
                "threshold the top direction of the data is noise: no method finds the "
                "clusters as n, d grow; above, it tilts towards μ and the two bumps separate.")

    def _on_signal(self, *_):
        def run():
            if self._active_tab() == 3:
                self._request_split()
        self.guarded(run)()

    def _on_det_size(self, *_):
        def run():
            if self._active_tab() == 3:
                self._request_detectability()
        self.guarded(run)()

    # ------------------------------------------------------------------ export, layout
    def export_data(self) -> pd.DataFrame | None:
        d = self._data
        if d is None or self._labels is None:
            return None
        cols = {"x": d.X[:, 0], "y": d.X[:, 1] if d.X.shape[1] > 1 else 0.0,
                "cluster": self._labels}
        if d.labels is not None:
            cols["true_label"] = d.labels
        return pd.DataFrame(cols)

    def controls(self) -> list:
        def section(text):
            return pn.pane.Markdown(f"**{text}**", margin=(12, 5, 0, 5))

        k_slider = undelayed(pn.widgets.IntSlider.from_param(self.param.n_clusters,
                                                             name="Number of clusters k"))
        return [
            k_slider,
            pn.widgets.Select.from_param(self.param.algorithm, name="Algorithm"),
            section("Data"),
            pn.widgets.Select.from_param(self.param.dataset, name="Dataset"),
            pn.widgets.Select.from_param(self.param.n_samples, name="Points"),
            pn.widgets.FloatSlider.from_param(self.param.noise,
                                              name="Noise (x scikit-learn's gallery)"),
            pn.widgets.IntSlider.from_param(self.param.seed, name="Seed"),
            section("Spectral clustering"),
            pn.widgets.Select.from_param(self.param.affinity, name="Graph"),
            pn.widgets.IntSlider.from_param(self.param.n_neighbors, name="Neighbours"),
            pn.widgets.RadioButtonGroup.from_param(self.param.assign,
                                                   name="Labels from the embedding"),
            section("k-means and mixtures"),
            pn.widgets.Select.from_param(self.param.init, name="k-means seeding"),
            pn.widgets.Select.from_param(self.param.backend, name="k-means backend"),
            pn.widgets.Select.from_param(self.param.covariance, name="Mixture covariance"),
        ]

    def view(self):
        clusters = pn.Column(
            self._metrics,
            pn.Row(self._points_pane, self._embed_pane, sizing_mode="stretch_width"),
            self._eig_pane, self._spectrum_note,
            pn.pane.Markdown(
                "**Reading it.** k-means cuts the plane into convex cells, so it cannot "
                "follow moons or rings. Spectral clustering builds a graph of neighbours: "
                "its normalized Laplacian has one (near) zero eigenvalue per well-separated "
                "group, and the gap after them (red) estimates k. The eigenvectors map "
                "each group to a tight blob (right), where k-means works.",
                sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        grid = pn.Column(self._grid_info, self._grid_pane, sizing_mode="stretch_width")
        selection = pn.Column(self._sel_info, self._sel_pane, sizing_mode="stretch_width")
        det_controls = pn.Row(
            pn.widgets.FloatSlider.from_param(self.param.signal, name="Signal strength ‖μ‖",
                                              width=300),
            pn.widgets.Select.from_param(self.param.det_n, name="Points n", width=140),
            pn.widgets.Select.from_param(self.param.det_ratio, name="Dimension ratio d/n",
                                         width=160),
            sizing_mode="stretch_width")
        detect = pn.Column(det_controls, self._det_info,
                           pn.Row(self._det_pane, self._hist_pane, sizing_mode="stretch_width"),
                           sizing_mode="stretch_width")
        self._tabs = pn.Tabs(("Clusters", clusters), ("Comparison grid", grid),
                             ("Choosing k", selection), ("Detectability", detect),
                             dynamic=False, sizing_mode="stretch_width")

        def on_tab(event):
            self.guarded(self._refresh_side_tabs)()
            if event.new == 0:
                self.guarded(self._redraw_clusters)()

        self._tabs.param.watch(on_tab, "active")
        return self._tabs

    def _redraw_clusters(self) -> None:
        """Draw the Clusters tab afresh (when it is shown again)."""
        if self._labels is not None:
            self._points_plot.reset()
            self._embed_plot.reset()
            self._eig_key = None
            self._draw_points()
            self._draw_spectrum()
