"""The *Clusters* tab: points coloured by cluster, the spectral embedding, the Laplacian's
smallest eigenvalues with the eigengap, metrics and times.

Costly settings (data, graph, algorithm) ask for a ``run_clustering`` run in the background
(keyed by ``settings.run_key()``: cached and shared across sessions); k and the labelling
method are cheap: ``run.at(k)`` (a lookup once every k is labelled, nearest first) -> the
drawn figures' label columns (``LabelledPlot``) and dashed k line; the metrics line follows
after the plots have gone out."""

from __future__ import annotations

import panel as pn
import param

from workbench.clustering.run import run_clustering, side_embedding
from workbench.clustering.settings import EMBED_SIDE_LIMIT, ClusteringSettings
from workbench.ui.base import col, row, text
from workbench.ui.clustering.figures import LabelledPlot
from workbench.ui.live import LiveFigure, hold
from workbench.ui.session import later
from workbench.viz import clustering as vc
from workbench.viz.text import READING, metrics_text, points_title


class ClustersTab(pn.viewable.Viewer):
    """The Clusters tab of a ClusteringExplorer (`explorer`: background work and messages;
    `settings`: its ClusteringSettings). ``run``: the run shown, ``view``: its
    ClusteringView for the k shown, ``graph``: the Laplacian embedding shown (the run's, or
    the side embedding of another algorithm)."""

    shown = param.Integer(default=0, doc="Counts label updates (for tests)")

    def __init__(self, explorer, settings: ClusteringSettings, on_run):
        super().__init__()
        self.explorer, self.settings = explorer, settings
        self._on_run = on_run   # called with each new run or side embedding shown
        self.run = self.view = self.graph = None
        self._prefetching = None
        self.points = LabelledPlot(420, css_class="wb-cl-points")
        self.embedded = LabelledPlot(320, css_class="wb-cl-embedding")
        self.eigen = LiveFigure("wb-cl-eigenvalues", min_height=320)
        self._eigen_key = None
        self.note = text(vc.spectrum_note(EMBED_SIDE_LIMIT), visible=False)
        self.metrics = text(css="wb-cl-metrics")
        s = settings
        s.param.watch(lambda *_: explorer.guarded(self.request)(), [*s.DATA, *s.GRAPH, *s.METHOD])
        s.param.watch(explorer.guarded(self.show_k), list(s.CHEAP))

    def __panel__(self):
        return col(self.metrics, row(self.points, self.embedded), self.eigen, self.note,
                   text(READING))

    # ------------------------------------------------------------------ costly: the run
    def request(self) -> None:
        """Ask for the run of the current settings (a lookup when it is the one shown)."""
        s = self.settings
        s.validate()
        if self.run is not None and self.run.key == s.run_key():
            self._request_graph()
            self.show_k()
            return
        snap = s.copy()
        self.explorer.run_background(s.run_key(), lambda: run_clustering(snap),
                                     self._set_run, channel="run", label=vc.run_status(s))

    def _set_run(self, run) -> None:
        if run.key != self.settings.run_key():
            return  # the settings changed meanwhile
        self.run = run
        if run.graph is not None:
            self.graph = run.graph
        self._request_graph()
        self.show_k()
        self._on_run()

    def _request_graph(self) -> None:
        """The Laplacian embedding beside another algorithm's run (up to
        EMBED_SIDE_LIMIT points), in the background."""
        s = self.settings
        if self.run.graph is not None:   # (called with a run shown)
            return
        if not s.shows_spectrum():
            self.graph = None
            self._draw_spectrum()
            return
        if self.graph is not None and self.graph.key == s.graph_key():
            return
        self.graph = None   # not the data's or the graph's shown now
        snap = s.copy()

        def done(graph):
            if graph.key == s.graph_key() and s.algorithm != "spectral":  # still wanted
                self.graph = graph
                self._draw_spectrum()
                self._on_run()

        self.explorer.run_background(s.graph_key(), lambda: side_embedding(snap), done,
                                     channel="embed", label=vc.embedding_status(s.n_points))

    # ------------------------------------------------------------------ cheap: k, assign
    def show_k(self, *_) -> None:
        """Show the run's labels for the settings' k, then label the other k's. Also the
        (guarded) handler of k and the labelling method: ``run.at(k)`` (a lookup when
        ``run.quick``; else labelled in the background) -> ``_show`` -> the drawn figures'
        label columns (``LabelledPlot.write`` -> ``LiveFigure.patch``)."""
        run, s = self.run, self.settings
        if run is None:
            return
        k, assign = run.clamp(s.n_clusters), s.assign
        if run.quick(k, assign):
            self._show(run.at(k, assign, scores=False))
        else:
            self.explorer.run_background(("labels", run.key, assign, k),
                                         lambda: run.at(k, assign), self._show,
                                         channel="labels", label=vc.labels_status(run, k))
        self._prefetch()

    def _prefetch(self) -> None:
        """Label (and score) every k of a spectral run in the background, nearest k first,
        one keyed request per k, so that moving k only looks them up. A new run or method
        stops the chain."""
        run, s = self.run, self.settings
        if run is None or run.algorithm != "spectral" or self._prefetching == (run.key, s.assign):
            return
        self._prefetching = token = (run.key, s.assign)
        self._prefetch_next(token, run.unlabelled(run.clamp(s.n_clusters), s.assign))

    def _prefetch_next(self, token, todo: list) -> None:
        if self._prefetching != token or not todo:
            return
        run, assign = self.run, token[1]
        k, rest = todo[0], todo[1:]
        self.explorer.run_background(
            ("labels", run.key, assign, k), lambda: run.at(k, assign),
            lambda _: self._prefetch_next(token, rest), channel="prefetch",
            label=vc.prefetch_status(run))

    # ------------------------------------------------------------------ drawing
    def _show(self, view) -> None:
        """Show new labels: recolour the drawn points now (in place when drawn for this
        run), move the k line; the datashaded embedding (an O(n) aggregation) and the
        metrics line (scores computed when missing) follow on the next tick, after the
        points have gone out to the browser."""
        run, s = self.run, self.settings
        if run is None or not run.shows(view, s.n_clusters, s.assign):
            return  # superseded: k, the method or the run changed meanwhile
        self.view = view
        if self.explorer.detached():
            return
        big = vc.rasterized(run.data.n)
        drawn = self.points.key == self._points_key() and self._eigen_key == getattr(
            self.graph, "key", None) and self.embedded.key == self._eigen_key
        if drawn:   # the cheap path: label columns into the drawn figures
            with hold():
                self.points.write(view.labels)
                if self.graph is not None:
                    if not big:
                        self.embedded.write(view.labels)
                    self.eigen.move_spans(vc.eigenvalue_k_location(s.n_clusters),
                                          dashed=True)
        else:
            self._draw_points()
            self._draw_spectrum(embedding=not big)
        self.shown += 1

        def finish():
            if self.view is not view:
                return  # newer labels are on their way
            if big:
                self._draw_embedding()
            if view.scores is None:
                self.view = run.at(view.k, view.assign)
            self.metrics.object = metrics_text(self.view, self.run, self.graph)

        later(self.explorer.guarded(finish))

    def _points_key(self) -> tuple:
        return (self.run.data.key, self.run.algorithm)

    def _draw_points(self) -> None:
        data, title = self.run.data, points_title(self.run)
        self.points.show(
            self._points_key(), data.n,
            lambda lab, stream: vc.cluster_scatter(data.plane, lab, title=title, height=420,
                                                   stream=stream),
            self.view.labels)

    def _draw_spectrum(self, embedding: bool = True) -> None:
        if self.explorer.detached() or self.view is None:
            return
        shown = self.graph is not None and self.graph.maps.shape[0] == self.run.data.n
        self.note.visible = not shown
        self.eigen.pane.visible = self.embedded.holder.visible = shown
        if not shown:
            return
        self._draw_eigenvalues()
        if embedding:
            self._draw_embedding()

    def _draw_eigenvalues(self) -> None:
        """The Laplacian's smallest eigenvalues, drawn once per embedding; a new k moves
        the dashed k line."""
        lam, k = self.graph.eigenvalues, int(self.settings.n_clusters)
        if self._eigen_key == self.graph.key and self.eigen.spans(dashed=True):
            if 1 <= k < len(lam):
                self.eigen.move_spans(vc.eigenvalue_k_location(k), dashed=True)
            return
        gap = self.graph.eigengap()
        self.eigen.render(lambda: vc.eigenvalue_plot(lam, k=k, k_gap=gap, log="auto"),
                          key=(self.graph, "eigenvalues", k))
        self._eigen_key = self.graph.key

    def _draw_embedding(self) -> None:
        maps = self.graph.maps if self.graph is not None else None
        if self.view is None or maps is None or len(self.view.labels) != maps.shape[0]:
            return
        self.embedded.show(self.graph.key, maps.shape[0],
                           lambda lab, stream: vc.embedding_plot(maps, lab, stream=stream),
                           self.view.labels)

    def redraw(self) -> None:
        """Draw the tab afresh (when it is shown again)."""
        if self.view is not None:
            self.points.key = self.embedded.key = self._eigen_key = None
            self._draw_points()
            self._draw_spectrum()
