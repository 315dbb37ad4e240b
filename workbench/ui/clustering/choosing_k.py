"""The *Choosing k* tab: elbow, silhouette, BIC and eigengap curves of the data shown
(``clustering.run.choose_k``, keyed by the data and the graph: cached and shared across
sessions), drawn once per result; a new k moves the dashed k lines."""

from __future__ import annotations

import panel as pn

from workbench.clustering.run import choose_k
from workbench.clustering.settings import K_MAX, ClusteringSettings
from workbench.ui.base import col, text
from workbench.ui.live import LiveFigure
from workbench.viz.clustering import selection_curves
from workbench.viz.text import selection_text


class ChoosingKTab(pn.viewable.Viewer):
    """The k-selection curves of the clusters tab's data (and its graph's eigenvalues)."""

    def __init__(self, explorer, settings: ClusteringSettings, clusters):
        super().__init__()
        self.explorer, self.settings, self.clusters = explorer, settings, clusters
        self.figure = LiveFigure("wb-cl-selection", min_height=480)
        self.info = text()
        self.selection = None    # the KSelection shown
        self.key = None          # and its key
        self.drawn = None        # the KSelection drawn in the figure

    def __panel__(self):
        return col(self.info, self.figure)

    def request(self) -> None:
        """Ask for the curves of the data shown now (a lookup when they are drawn)."""
        run, graph = self.clusters.run, self.clusters.graph
        if run is None:
            return
        key = ("selection", run.data.key, None if graph is None else graph.key)
        if key == self.key:
            self.draw()
            return

        def done(sel):
            self.selection, self.key = sel, key
            self.draw()

        self.explorer.run_background(key, lambda: choose_k(run.data, graph), done,
                                     channel="selection",
                                     label=f"Computing the k-selection curves (k = 1..{K_MAX})…")

    def draw(self) -> None:
        """Draw the curves (once per result); later calls move the dashed k lines."""
        sel, k = self.selection, int(self.settings.n_clusters)
        if sel is None or self.explorer.detached():
            return
        if self.drawn is sel and self.figure.spans(dashed=True):
            self.figure.move_spans(k, dashed=True)
            return
        self.figure.render(selection_curves(sel.table(), sel.suggested, k=k))
        self.drawn = sel
        self.info.object = selection_text(sel, self.clusters.run.data.n)
