"""The *Attributed graph* tab: a planted graph whose vertices carry attributes, clustered
three ways (edges + attributes through the augmented graph, edges only, attributes only),
their ARI against the planted groups and the embedding coloured by labels; or a graph
uploaded as ``.npz`` (format: :mod:`workbench.clustering.attributed_run`).

The tab owns its settings (``AttributedSettings``: every field costly, one keyed
background request of ``run_attributed``); the method and colour buttons are cheap:
``run.at(method, color)`` written into the drawn scatter. Nothing is computed until the
tab is first shown (``request``).
"""

from __future__ import annotations

import hashlib

import panel as pn
import param

from workbench.clustering.attributed_run import (
    ATTRIBUTED_METHODS,
    UPLOAD_MAX_VERTICES,
    AttributedSettings,
    run_attributed,
    run_uploaded_graph,
)
from workbench.io import UPLOAD_MAX_BYTES
from workbench.ui.live import LiveFigure, hold

_COLORS = {"clusters": "its clusters", "truth": "planted groups"}


class AttributedTab(pn.viewable.Viewer):
    """The attributed-graph demo (see the module docstring)."""

    method = param.Selector(default="attributed", objects=list(ATTRIBUTED_METHODS))
    color = param.Selector(default="clusters", objects=list(_COLORS))

    def __init__(self, explorer, settings: AttributedSettings | None = None):
        super().__init__()
        self.explorer = explorer
        self.settings = settings or AttributedSettings()
        self.run = None                  # the AttributedRun shown
        self.requested = None            # key of the last request
        self._upload = None              # (bytes, filename)
        self.scatter = LiveFigure("wb-cl-attributed-scatter", min_height=360)
        self.bars = LiveFigure("wb-cl-attributed-ari", min_height=360)
        self.info = pn.pane.Markdown("", sizing_mode="stretch_width",
                                     css_classes=["wb-cl-attributed-info"])
        self.upload_widget = pn.widgets.FileInput(accept=".npz", multiple=False,
                                                  sizing_mode="stretch_width")
        g = explorer.guarded
        self.upload_widget.param.watch(g(self._on_upload), "value")
        self.settings.param.watch(g(self._on_settings), list(AttributedSettings.param)[1:])
        self.param.watch(g(self._on_view), ["method", "color"])

    # ------------------------------------------------------------------ costly
    def request(self) -> None:
        """Cluster the planted graph (or the upload) three ways, in the background, keyed
        by the settings (or the file's bytes and k, weight, seed)."""
        s = self.settings.copy()
        if self._upload is not None:
            data, name = self._upload
            k, w, seed = int(s.att_k), float(s.attribute_weight), int(s.att_seed)
            key = ("attributed-upload", hashlib.sha1(data).hexdigest(), k, w, seed)
            fn = lambda: run_uploaded_graph(data, name, k, w, seed)  # noqa: E731
        else:
            key, fn = s.key(), lambda: run_attributed(s)
        if key == self.requested:
            return
        self.requested = key
        self.explorer.run_background(key, fn, self.show, channel="attributed",
                                     label="Clustering the attributed graph three ways "
                                           "(AMG + LOBPCG)…")

    def _on_settings(self, *events) -> None:
        if {e.name for e in events} - {"att_k", "attribute_weight", "att_seed"}:
            self._upload = None          # a new planted graph replaces the upload
        self.request()

    def _on_upload(self, event) -> None:
        if not event.new:
            return
        self._upload = (bytes(event.new), self.upload_widget.filename)
        self.request()

    # ------------------------------------------------------------------ draw
    def show(self, run) -> None:
        from workbench.viz.attributed import ari_bars, attributed_scatter

        self.run = run
        view = run.at(self.method, self.color)
        self.scatter.render(attributed_scatter(view, ATTRIBUTED_METHODS[self.method]))
        self.bars.render(ari_bars(run.table()))
        self.info.object = self.numbers(run)

    def _on_view(self, *_events) -> None:
        """Method or colour: the run's view written into the drawn scatter."""
        from workbench.viz.attributed import attributed_scatter_columns, scatter_title

        if self.run is None or self.scatter.figure is None:
            return
        view = self.run.at(self.method, self.color)
        with hold():
            self.scatter.write(self.scatter.names[0], attributed_scatter_columns(view))
            self.scatter.set_title(scatter_title(view, ATTRIBUTED_METHODS[self.method]))

    @staticmethod
    def numbers(run) -> str:
        def fmt(m):
            a = run.ari[m]
            return "n/a" if a is None else f"{a:.3f}"

        truth = "" if run.truth is not None else (
            " · the file has no `labels`: no ARI")
        return (f"**{run.name}**, {run.n_edges:,} edges, {run.n_attributes:,} attributes, "
                f"k = {run.n_clusters}{truth}  \nARI: edges + attributes "
                f"**{fmt('attributed')}** · edges only {fmt('structure')} · attributes "
                f"only {fmt('attributes')} (seconds: "
                + ", ".join(f"{run.seconds[m]:.2f}" for m in ATTRIBUTED_METHODS) + ")")

    def __panel__(self):
        p = self.settings.param
        left = pn.Column(
            pn.widgets.FloatSlider.from_param(p.structure,
                                              name="Edge signal (× detectability threshold)"),
            pn.widgets.FloatSlider.from_param(p.purity, name="Attribute signal (purity)"),
            pn.widgets.FloatSlider.from_param(p.attribute_weight, name="Attribute weight"),
            sizing_mode="stretch_width")
        mid = pn.Column(
            pn.widgets.Select.from_param(p.att_n, name="Vertices"),
            pn.widgets.IntSlider.from_param(p.att_k, name="Groups k"),
            pn.widgets.IntSlider.from_param(p.att_seed, name="Seed"),
            sizing_mode="stretch_width")
        right = pn.Column(
            pn.widgets.RadioButtonGroup.from_param(self.param.method, options={
                v: k for k, v in ATTRIBUTED_METHODS.items()}),
            pn.widgets.RadioButtonGroup.from_param(self.param.color, options={
                f"colour: {v}": k for k, v in _COLORS.items()}),
            pn.pane.Markdown(
                f"**Or upload a graph** (.npz: `adjacency_indptr/_indices/_data`, "
                f"`attributes_indptr/_indices/_data`, `attributes_shape`, optional "
                f"`labels`; at most {UPLOAD_MAX_VERTICES:,} vertices, "
                f"{UPLOAD_MAX_BYTES // 2**20} MiB)", margin=(0, 5)),
            self.upload_widget, sizing_mode="stretch_width")
        return pn.Column(
            pn.pane.Markdown("Vertices carry attributes (words, tags): each attribute "
                             "becomes a vertex joined to those that carry it, and the "
                             "Laplacian embedding of this augmented graph (AMG-"
                             "preconditioned LOBPCG) finds groups that neither the edges "
                             "nor the attributes reveal alone.", sizing_mode="stretch_width"),
            pn.Row(left, mid, right, sizing_mode="stretch_width"), self.info,
            pn.Row(self.scatter, self.bars, sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
