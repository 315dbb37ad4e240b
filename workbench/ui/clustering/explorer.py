"""Clustering explorer: k-means, spectral clustering and mixtures on scikit-learn's toy
sets (up to a million points), seen through the graph Laplacian's spectrum.

A thin explorer: the settings (``workbench.clustering.settings``) build the sidebar and
are synced to the URL; five tab Viewers draw them (``clusters``, ``grid``, ``choosing_k``,
``detectability`` and ``attributed``, the last two with settings of their own). The
computing lives in ``workbench.clustering.run`` (one run per costly setting, ``run.at(k)``
for the k slider); every background request is keyed by the settings, so it is cached and
shared across sessions (in-flight included).
"""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.clustering.settings import K_MAX, ClusteringSettings, DetectabilitySettings
from workbench.ui.base import Explorer, control, section
from workbench.ui.clustering.attributed import AttributedTab
from workbench.ui.clustering.choosing_k import ChoosingKTab
from workbench.ui.clustering.clusters import ClustersTab
from workbench.ui.clustering.detectability import DetectabilityTab
from workbench.ui.clustering.grid import GridTab

CLUSTERS, GRID, CHOOSING_K, DETECTABILITY, ATTRIBUTED = range(5)


class ClusteringExplorer(Explorer):
    """Cluster toy datasets with k-means, spectral clustering and mixtures; see the
    Laplacian spectrum, the spectral embedding, a comparison grid and detectability.
    ``settings`` and ``detectability.settings`` hold what is shown; keyword arguments
    set them (``ClusteringExplorer(dataset="circles", n_clusters=3, signal=1.5)``)."""

    title = "Clustering through its spectra"
    description = ("k-means, spectral clustering and Gaussian mixtures on scikit-learn's toy "
                   "sets up to a million points: the Laplacian's eigengap counts clusters, "
                   "the spectral embedding turns moons into blobs, and below a signal "
                   "threshold no method can find them.")
    url_params = (*list(ClusteringSettings.param)[1:],   # every setting, by its name
                  *list(DetectabilitySettings.param)[1:])

    def __init__(self, settings: ClusteringSettings | None = None,
                 detectability: DetectabilitySettings | None = None, *,
                 _start: bool = True, **values):
        super().__init__()
        self.settings = settings or ClusteringSettings()
        det = detectability or DetectabilitySettings()
        for owner in (self.settings, det):
            owner.param.update(**{k: values.pop(k) for k in list(values) if k in owner.param})
        if values:
            raise TypeError(f"ClusteringExplorer got unknown settings {list(values)}")
        self.clusters = ClustersTab(self, self.settings, on_run=self._refresh_side_tabs)
        self.grid = GridTab(self, self.settings)
        self.choosing_k = ChoosingKTab(self, self.settings, self.clusters)
        self.detectability = DetectabilityTab(self, det)
        self.attributed = AttributedTab(self)   # computes when first shown
        self._tabs = None
        self.settings.param.watch(lambda *_: self.guarded(self.choosing_k.draw)(),
                                  ["n_clusters"])
        if _start:
            self.guarded(self.clusters.request)()

    @classmethod
    def from_data(cls, X, y=None, label: str = "your data", **values) -> ClusteringExplorer:
        """The explorer on your own points `X` (n x d; d > 2 drawn on its top two principal
        components) with optional true labels `y` (scored against; their number is the
        default k). Keywords set the settings. Bad data (not 2-D, NaN / inf, y of another
        length): a message in its alert, nothing computed. Costs what the chosen algorithm
        costs on X (in the background)."""
        from workbench.clustering.datasets import user_dataset
        from workbench.errors import WorkbenchError

        try:
            data = user_dataset(X, y, label)
        except WorkbenchError as exc:
            explorer = cls(_start=False, **values)
            explorer.show_error(str(exc))
            return explorer
        settings = ClusteringSettings()
        settings.use_dataset(data.name)
        settings.n_clusters = min(max(2, data.n_clusters), K_MAX)  # `values` may set it
        return cls(settings=settings, **values)

    def url_sources(self) -> list:
        return [self.settings, self.detectability.settings]

    # ------------------------------------------------------------------ side tabs
    def _refresh_side_tabs(self) -> None:
        tab = self._tabs.active if self._tabs is not None else CLUSTERS
        self.detectability.active = tab == DETECTABILITY
        if tab != GRID:
            self.grid.stop()
        side = {GRID: self.grid, CHOOSING_K: self.choosing_k,
                DETECTABILITY: self.detectability, ATTRIBUTED: self.attributed}.get(tab)
        if side is not None:
            side.request()

    # ------------------------------------------------------------------ export, layout
    def export_data(self) -> pd.DataFrame | None:
        run, view = self.clusters.run, self.clusters.view
        return None if run is None or view is None else run.table(view)

    def controls(self) -> list:
        p = self.settings.param
        radio = pn.widgets.RadioButtonGroup
        return [
            control(p.n_clusters, fast=True), control(p.algorithm),
            section("Data"), *map(control, (p.dataset, p.n_samples, p.noise, p.seed)),
            section("Spectral clustering"), control(p.affinity), control(p.n_neighbors),
            control(p.assign, widget=radio),
            section("k-means and mixtures"), *map(control, (p.init, p.backend, p.covariance)),
        ]

    def view(self):
        self._tabs = pn.Tabs(("Clusters", self.clusters), ("Comparison grid", self.grid),
                             ("Choosing k", self.choosing_k),
                             ("Detectability", self.detectability),
                             ("Attributed graph", self.attributed),
                             dynamic=True, sizing_mode="stretch_width")

        def on_tab(event):
            self.guarded(self._refresh_side_tabs)()
            if event.new == CLUSTERS:
                self.guarded(self.clusters.redraw)()

        self._tabs.param.watch(on_tab, "active")
        return self._tabs
