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
n x k embedding). This module calls topic functions only (no linear algebra here).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import panel as pn
import param

from workbench.clustering import datasets as cds
from workbench.clustering.compare import ALGORITHMS, GRID_DATASETS
from workbench.errors import RankError
from workbench.ui.base import Explorer, ResultCache, _on_session

DATASETS = (*cds.TOY_DATASETS, "digits", "two_gaussians")
SIZES = (500, 1500, 5000, 20_000, 100_000, 300_000, 1_000_000)
N_EIGS = 12                 # Laplacian eigenpairs kept: k up to 10 plus the gap after it
SPECTRAL_LIMIT = 1_000_000  # spectral clustering up to this many points (shift-invert LU)
EMBED_SIDE_LIMIT = 100_000  # with another algorithm, the Laplacian is shown up to here
SELECTION_SAMPLE = 20_000   # k-selection curves on a random sample of this many points
GRID_SAMPLES = 500          # points per grid cell (as scikit-learn's gallery)
DET_SIZES = (500, 1000, 2000, 4000)
DET_RATIOS = (0.1, 0.25, 0.5, 1.0, 2.0)

# big results (datasets, embeddings, labels of a million points) in a small LRU of their
# own: the base CACHE holds 128 entries of any size
BIG = ResultCache(maxsize=8)
GRID_CACHE = ResultCache(maxsize=4 * len(GRID_DATASETS) * len(ALGORITHMS))  # small cells


def _cached(key, fn):
    """BIG[key], computing and storing fn() when missing (called in worker threads)."""
    hit = BIG.get(key)
    if hit is None:
        hit = fn()
        BIG.put(key, hit)
    return hit


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

        def pane(h):
            return pn.pane.HoloViews(None, sizing_mode="stretch_width", min_height=h)

        self._points_pane = pane(420)
        self._embed_pane = pane(320)
        self._eig_pane = pane(320)
        self._spectrum_note = pn.pane.Markdown("", visible=False, sizing_mode="stretch_width")
        self._metrics = pn.pane.Markdown("", sizing_mode="stretch_width",
                                         css_classes=["wb-cl-metrics"])
        self._grid_pane = pane(300)
        self._grid_info = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._sel_pane = pane(480)
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
        n = None if self.dataset == "digits" else int(self.n_samples)
        return ("data", self.dataset, n, round(float(self.noise), 3), int(self.seed))

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
        _, name, n, noise, seed = key
        self._validate(n or 1797)

        def work():
            return _cached(key, lambda: cds.load(name, n or 1500, noise, seed))

        def view_work():  # 2-D coordinates to draw (a projection when d > 2)
            return _cached(("plane", key), lambda: cds.plane(work()))

        label = f"Generating {name} ({n or 1797:,} points)…"
        self.run_background(None, lambda: (work(), view_work()),
                            lambda r: self._set_data(key, *r), channel="data", label=label,
                            use_cache=False)

    def _set_data(self, key, data: cds.Dataset, plane: np.ndarray) -> None:
        self._data, self._data_key, self._plane = data, key, plane
        self._emb, self._emb_key, self._labels = None, None, None
        self._compute()
        self._refresh_side_tabs()

    def _on_data_param(self, *_):
        self.guarded(self._load_data)()

    # ------------------------------------------------------------------ fitting
    def _graph_key(self):
        return ("graph", self._data_key, self.affinity, int(self.n_neighbors))

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
        from workbench.clustering.graph import affinity_graph
        from workbench.clustering.spectral import spectral_embedding

        key = self._graph_key()
        if key == self._emb_key and self._emb is not None:
            if self.algorithm == "spectral":
                self._assign()
            return
        X = self._data.X
        affinity, nn = self.affinity, int(self.n_neighbors)

        def work():
            def build():
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    g = affinity_graph(X, affinity, n_neighbors=min(nn, len(X) - 1))
                emb = spectral_embedding(g, min(N_EIGS, len(X) - 1))
                info = {"graph_s": g.seconds, "embed_s": emb.seconds, "nnz": g.nnz,
                        "components": g.n_components, "matvecs": emb.num_matvecs}
                return emb, info
            return _cached(key, build)

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
        else:
            self._draw_spectrum()

    def _assign(self) -> None:
        """The cheap step of spectral clustering: labels from the cached embedding."""
        from workbench.clustering.spectral import assign_labels

        if self._emb is None:
            return
        k = min(int(self.n_clusters), self._emb.maps.shape[1])
        t0 = time.perf_counter()
        labels = assign_labels(self._emb, k, self.assign, seed=0)
        self._fit_info = {"assign_s": time.perf_counter() - t0, **self._graph_info}
        self._set_labels(labels)

    def _request_fit(self) -> None:
        from workbench.clustering.compare import make_estimator

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
                return labels, info
            return _cached(key, fit)

        self.run_background(None, work, lambda r: self._set_fit(key, r), channel="fit",
                            label=f"Fitting {alg} on {d.n:,} points…", use_cache=False)

    def _set_fit(self, key, result) -> None:
        if key[1] != self._data_key or key[2] != self.algorithm:
            return  # the data or the algorithm changed meanwhile
        labels, info = result
        self._fit_info = info
        self._set_labels(labels)

    def _on_cheap(self, *_):
        def run():
            if self._data is None:
                return
            if self.algorithm == "spectral":
                if self._emb is not None:
                    self._assign()
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
    def _set_labels(self, labels: np.ndarray) -> None:
        from workbench.clustering.metrics import score

        d = self._data
        if len(labels) != d.n:
            return
        self._labels = labels
        self._scores = score(d.X, labels, d.labels, sample_size=2000)
        self._draw_points()
        self._draw_spectrum()
        self._draw_metrics()
        self.shown += 1

    def _draw_points(self) -> None:
        from workbench.viz.clustering import cluster_scatter

        d = self._data
        name = d.name
        if d.name == "two_gaussians":
            name = "two Gaussians (signal axis, one noise axis)"
        elif d.X.shape[1] > 2:
            name += f" ({d.X.shape[1]}-D, top 2 principal components)"
        self._points_pane.object = cluster_scatter(
            self._plane, self._labels, title=f"{name}: {d.n:,} points, {self.algorithm}",
            height=420)

    def _draw_spectrum(self) -> None:
        from workbench.viz.clustering import eigenvalue_plot, embedding_plot

        if self._emb is None:
            self._spectrum_note.object = (
                "*The Laplacian spectrum and embedding are computed for spectral clustering, "
                f"and for the other algorithms up to {EMBED_SIDE_LIMIT:,} points.*")
            self._spectrum_note.visible = True
            self._eig_pane.visible = self._embed_pane.visible = False
            return
        self._spectrum_note.visible = False
        self._eig_pane.visible = self._embed_pane.visible = True
        lam = self._emb.eigenvalues
        gap = self._emb.eigengap()
        # (near-)zero eigenvalues against a rising bulk: a log axis shows the gap
        log = gap < len(lam) and lam[gap] < 0.1 * lam[-1]
        self._eig_pane.object = eigenvalue_plot(lam, k=int(self.n_clusters), k_gap=gap,
                                                log=bool(log))
        labels = self._labels if self._labels is not None else None
        if labels is not None and len(labels) == self._emb.maps.shape[0]:
            self._embed_pane.object = embedding_plot(self._emb.maps, labels)

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

        if key != self._grid_key:
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
        if sel is None or self._active_tab() != 2:
            return
        self._sel_pane.object = selection_curves(sel.table(), sel.suggested,
                                                 k=int(self.n_clusters))
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

        return [
            pn.widgets.IntSlider.from_param(self.param.n_clusters,
                                            name="Number of clusters k"),
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
        if self._labels is not None:
            self._draw_points()
            self._draw_spectrum()
