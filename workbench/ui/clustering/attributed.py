"""The *Attributed graph* tab: a planted (or uploaded ``.npz``) graph whose vertices carry
attributes, clustered three ways (augmented graph, edges only, attributes only): their ARI
against the planted groups and the embedding coloured by labels.

The tab owns its settings (``AttributedSettings``, all costly: one keyed background
request, made when the tab is first shown); the method and colour buttons are cheap:
``run.at(method, color)`` written into the drawn scatter."""

from __future__ import annotations

import panel as pn
import param

from workbench.clustering.attributed_run import (
    ATTRIBUTED_METHODS,
    AttributedSettings,
    run_attributed,
    run_uploaded_graph,
    upload_key,
)
from workbench.ui.base import col, control, row, text, upload_box
from workbench.ui.live import LiveFigure, hold
from workbench.viz import attributed as va


class AttributedTab(pn.viewable.Viewer):
    """The attributed-graph demo (see the module docstring)."""

    method = param.Selector(default="attributed", objects=list(ATTRIBUTED_METHODS))
    color = param.Selector(default="clusters", objects=list(va.COLOR_NAMES))

    def __init__(self, explorer):
        super().__init__()
        self.explorer, self.settings = explorer, AttributedSettings()
        self.run = None                  # the AttributedRun shown
        self.requested = None            # key of the last request
        self._upload = None              # (bytes, filename)
        self.scatter = LiveFigure("wb-cl-attributed-scatter", min_height=360)
        self.bars = LiveFigure("wb-cl-attributed-ari", min_height=360)
        self.info = text(css="wb-cl-attributed-info")
        g = explorer.guarded
        self.upload_line, self.upload_widget = upload_box(".npz", va.UPLOAD_TEXT,
                                                          g(self._on_upload))
        self.settings.param.watch(g(self._on_settings), list(AttributedSettings.param)[1:])
        self.param.watch(g(self._on_view), ["method", "color"])

    # ------------------------------------------------------------------ costly
    def request(self) -> None:
        """Cluster the planted graph (or the upload) three ways, in the background, keyed
        by the settings (or the file's bytes and k, weight, seed)."""
        s = self.settings.copy()
        if self._upload is not None:
            data, name = self._upload
            args = (int(s.att_k), float(s.attribute_weight), int(s.att_seed))
            key, fn = upload_key(data, *args), lambda: run_uploaded_graph(data, name, *args)
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
        if event.new:
            self._upload = (bytes(event.new), self.upload_widget.filename)
            self.request()

    # ------------------------------------------------------------------ draw
    def show(self, run) -> None:
        self.run = run
        view = run.at(self.method, self.color)
        self.scatter.render(va.attributed_scatter(view, ATTRIBUTED_METHODS[self.method]))
        self.bars.render(va.ari_bars(run.table()))
        self.info.object = va.attributed_text(run)

    def _on_view(self, *_events) -> None:
        """Method or colour: the run's view written into the drawn scatter."""
        if self.run is None or self.scatter.figure is None:
            return
        view = self.run.at(self.method, self.color)
        with hold():
            self.scatter.write(self.scatter.names[0], va.attributed_scatter_columns(view))
            self.scatter.set_title(va.scatter_title(view, ATTRIBUTED_METHODS[self.method]))

    def __panel__(self):
        p, radio = self.settings.param, pn.widgets.RadioButtonGroup
        colours = {f"colour: {v}": k for k, v in va.COLOR_NAMES.items()}
        return col(
            text(va.ATTRIBUTED_NOTE),
            row(col(control(p.structure), control(p.purity), control(p.attribute_weight)),
                col(control(p.att_n), control(p.att_k), control(p.att_seed)),
                col(radio.from_param(self.param.method, options={
                    v: k for k, v in ATTRIBUTED_METHODS.items()}),
                    radio.from_param(self.param.color, options=colours),
                    self.upload_line, self.upload_widget)),
            self.info, row(self.scatter, self.bars))
