"""The "Fine-tuning updates" tab: the singular values of a weight update dW (two
checkpoints of the shipped digits MLP, or an uploaded LoRA adapter), the rank an adapter
needs to keep a chosen energy, the energy kept and the optimum's error per rank.

The spectra are one keyed background request (:mod:`workbench.lowrank.update_run`),
made when the tab is first shown (``activate``) or on ``request()``; layer, rank and
energy are ``run.at(...)`` written into the rendered figures.
"""

from __future__ import annotations

import hashlib

import panel as pn

from workbench.lowrank.update_run import UpdateSettings, run_updates, updates_from_upload
from workbench.ui.base import WIDE, col, control, row, text, upload_box
from workbench.ui.live import LiveFigure, hold
from workbench.viz import updates as vu


class UpdatesTab(pn.viewable.Viewer):
    """Its settings (``UpdateSettings``: two checkpoints; layer, rank, energy), three live
    figures, the per-layer table and an upload box for a LoRA adapter."""

    def __init__(self, owner, settings: UpdateSettings | None = None):
        super().__init__()
        self._owner = owner                      # the explorer: background work, errors
        self.settings = s = settings or UpdateSettings()
        self.run = None                          # the UpdateRun shown
        self.view = None                         # its last view
        self.requested = False
        self._upload = None                      # (bytes, filename) of an adapter
        self._previous = None                    # the upload before it (a refused file)
        self.sv = LiveFigure(css_class="wb-updates-sv", min_height=300)
        self.energy = LiveFigure(css_class="wb-updates-energy", min_height=300)
        self.error = LiveFigure(css_class="wb-updates-error", min_height=300)
        self.status = text(css="wb-updates-status")
        self.table = pn.widgets.Tabulator(None, disabled=True, show_index=False, height=170,
                                          **WIDE)
        self.layer_widget = pn.widgets.Select(label="Layer", options=[])
        g = owner.guarded
        self._upload_line, self.upload_widget = upload_box(".safetensors,.npz",
                                                           vu.ADAPTER_FILE, g(self._on_upload))
        self.alpha_widget = pn.widgets.FloatInput(label="LoRA alpha (0: scale 1)", value=0.0,
                                                  start=0.0, width=160)
        self.layer_widget.param.watch(g(lambda e: setattr(s, "layer", e.new or "")), "value")
        self.back_button = pn.widgets.Button(label="Show the MLP's checkpoints",
                                             button_type="light", width=220)
        self.back_button.on_click(g(lambda _e: self.use_checkpoints()))
        s.param.watch(g(lambda *_: self.use_checkpoints()), ["before", "after"])
        s.param.watch(g(self._on_view), ["layer", "update_rank", "energy"])

    # ------------------------------------------------------------------ costly
    def activate(self) -> None:
        """The tab was shown: compute what it needs (once)."""
        if not self.requested:
            self.request()

    def request(self) -> None:
        """Spectra of the chosen updates, in the background, keyed by what they depend
        on (the two epochs, or the upload's bytes)."""
        self.requested = True
        o, s = self._owner, UpdateSettings.copy_of(self.settings)
        if self._upload is None:
            o.run_background(("updates", s.before, s.after), lambda: run_updates(s),
                             self.show, channel="updates",
                             label="Training the digits MLP (once) and the SVD of every "
                                   "update…")
            return
        upload, previous = self._upload, self._previous
        data, name = upload
        alpha = float(self.alpha_widget.value) or None

        def read():
            try:
                return updates_from_upload(data, name, alpha)
            except Exception:
                if self._upload is upload:       # a refused file is not kept: the
                    self._upload = previous      # next request shows what was shown
                raise

        o.run_background(("updates-upload", hashlib.sha1(data).hexdigest(), alpha), read,
                         self.show, channel="updates",
                         label="Spectra of the adapter's updates…")

    def use_checkpoints(self) -> None:
        """Back from an uploaded adapter to the MLP's checkpoints."""
        self._upload = None
        self.request()

    def _on_upload(self, event) -> None:
        if not event.new:
            return
        self._previous = self._upload
        self._upload = (bytes(event.new), self.upload_widget.filename)
        self.request()

    # ------------------------------------------------------------------ draw
    def show(self, run) -> None:
        """A new run: layer choices, then render the three figures at the current view."""
        self.run = run
        s = self.settings
        if s.layer not in run.layers:
            s.param.update(layer=run.layers[0])   # one _on_view: the figures are not
        self.layer_widget.param.update(options=run.layers, value=s.layer)  # drawn yet
        view = self._view()
        self.sv.render(vu.update_sv_plot(view))
        self.energy.render(vu.energy_plot(view))
        self.error.render(vu.error_plot(view))
        self._write(view, rendered=True)

    def _view(self):
        s = self.settings
        return self.run.at(s.layer, s.update_rank, s.energy)

    def _on_view(self, *_events) -> None:
        if self.run is not None and self.sv.figure is not None:
            self._write(self._view())

    def _write(self, view, rendered: bool = False) -> None:
        """A cheap step (layer, rank, energy): new columns and marker positions; a layer's
        whole curves only when it changed."""
        k = len(view.singular_values)
        if self.settings.param.update_rank.bounds[1] != k:
            self.settings.param.update_rank.bounds = (0, k)
        layer_changed = rendered or self.view is None or view.layer != self.view.layer
        self.view = view
        with hold():
            for fig, cols in ((self.sv, vu.update_sv_columns(view)),
                              (self.energy, vu.energy_columns(view)),
                              (self.error, vu.error_columns(view))):
                if layer_changed:
                    fig.write_columns({"sources": cols["layer"]})
                fig.write_columns(cols)
            self.table.value = view.table
            self.status.object = vu.updates_text(self.run, view)

    def __panel__(self):
        p = self.settings.param
        controls = row(
            col(control(p.before), control(p.after), self.layer_widget, self.back_button),
            col(control(p.update_rank, fast=True), control(p.energy, fast=True)),
            col(self._upload_line, self.upload_widget, self.alpha_widget))
        return col(text(vu.TEXT), controls, self.status,
                   row(self.sv, self.energy, self.error), self.table)
