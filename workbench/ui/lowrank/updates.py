"""The "Fine-tuning updates" tab: the singular values of a weight update dW (between two
checkpoints of the shipped digits MLP, or a LoRA adapter from an uploaded safetensors /
npz file), the rank a LoRA adapter needs to keep a chosen energy, the energy kept per rank
and the rank-r error of the Eckart–Young optimum.

The spectra are one keyed background request (``run_updates`` / ``updates_from_upload``
of :mod:`workbench.lowrank.update_run`, cached across sessions); layer, rank and energy
are ``run.at(...)`` written into the rendered figures. Nothing is computed until the tab
is first shown (``activate``), or ``request()`` is called (notebooks, tests).
"""

from __future__ import annotations

import panel as pn

from workbench.io import UPLOAD_MAX_BYTES
from workbench.lowrank.update_run import UpdateSettings, run_updates, updates_from_upload
from workbench.ui.base import undelayed
from workbench.ui.live import LiveFigure, hold, set_changed


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
        self.status = pn.pane.Markdown("", sizing_mode="stretch_width",
                                       css_classes=["wb-updates-status"])
        self.table = pn.widgets.Tabulator(None, disabled=True, show_index=False,
                                          sizing_mode="stretch_width", height=170)
        self.layer_widget = pn.widgets.Select(label="Layer", options=[])
        self.upload_widget = pn.widgets.FileInput(accept=".safetensors,.npz", multiple=False,
                                                  sizing_mode="stretch_width")
        self.alpha_widget = pn.widgets.FloatInput(label="LoRA alpha (0: scale 1)", value=0.0,
                                                  start=0.0, width=160)
        self._markers = {}
        g = owner.guarded
        self.layer_widget.param.watch(g(lambda e: setattr(s, "layer", e.new or "")), "value")
        self.upload_widget.param.watch(g(self._on_upload), "value")
        self.back_button = pn.widgets.Button(label="Show the MLP's checkpoints",
                                             button_type="light", width=220)
        self.back_button.on_click(g(lambda _e: self.use_checkpoints()))
        s.param.watch(g(self._on_checkpoints), ["before", "after"])
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
        if self._upload is not None:
            data, name = self._upload
            alpha = float(self.alpha_widget.value) or None
            import hashlib

            key = ("updates-upload", hashlib.sha1(data).hexdigest(), alpha)
            upload, previous = self._upload, self._previous

            def read():
                try:
                    return updates_from_upload(data, name, alpha)
                except Exception:
                    if self._upload is upload:       # a refused file is not kept: the
                        self._upload = previous      # next request shows what was shown
                    raise

            o.run_background(key, read, self.show, channel="updates",
                             label="Spectra of the adapter's updates…")
        else:
            o.run_background(("updates", s.before, s.after), lambda: run_updates(s),
                             self.show, channel="updates",
                             label="Training the digits MLP (once) and the SVD of every "
                                   "update…")

    def _on_checkpoints(self, *_events) -> None:
        self.use_checkpoints()

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
        from workbench.viz.updates import energy_plot, error_plot, update_sv_plot

        self.run = run
        s = self.settings
        if s.layer not in run.layers:
            s.param.update(layer=run.layers[0])   # one _on_view: the figures are not
        self.layer_widget.param.update(options=run.layers, value=s.layer)  # drawn yet
        view = self._view()
        self.sv.render(update_sv_plot(view))
        self.energy.render(energy_plot(view))
        self.error.render(error_plot(view))
        # the marker lines, found once per render (LiveFigure.spans), by colour and role
        self._markers = {name: fig.spans("height") + fig.spans("width")
                         for name, fig in (("sv", self.sv), ("energy", self.energy),
                                           ("error", self.error))}
        self._write(view, rendered=True)

    def _view(self):
        s = self.settings
        return self.run.at(s.layer, s.update_rank, s.energy)

    def _on_view(self, *_events) -> None:
        if self.run is not None and self.sv.figure is not None:
            self._write(self._view())

    def _write(self, view, rendered: bool = False) -> None:
        """A cheap step (layer, rank, energy): new columns and marker positions."""
        from workbench.viz.updates import (
            RANK_COLOR,
            energy_columns,
            error_columns,
            update_sv_columns,
        )

        k = len(view.singular_values)
        if self.settings.param.update_rank.bounds[1] != k:
            self.settings.param.update_rank.bounds = (0, k)
        layer_changed = self.view is None or view.layer != self.view.layer
        self.view = view
        with hold():
            sv, en, er = update_sv_columns(view), energy_columns(view), error_columns(view)
            if layer_changed or rendered:
                self.sv.write("all", sv["all"])
                self.energy.write("energy", en["energy"])
                self.error.write("optimum", er["optimum"])
                self.sv.set_title(f"s_i of ΔW: {view.layer} ({view.shape[0]} x "
                                  f"{view.shape[1]})")
            self.sv.write("kept", sv["kept"])
            self.energy.write("at r", en["at r"])
            self.error.write("at r", er["at r"])
            for name, spans in self._markers.items():
                shift = 0.5 if name == "sv" else 0.0
                for span in spans:
                    if span.dimension == "width":
                        set_changed(span, location=view.energy)
                    elif span.line_color == RANK_COLOR:
                        set_changed(span, location=view.rank + shift)
                    else:
                        set_changed(span, location=view.rank_for_energy + shift)
            self.table.value = view.table
            self.status.object = self.numbers(self.run, view)

    @staticmethod
    def numbers(run, view) -> str:
        """The summary line (Markdown)."""
        lora = f" · adapter rank {view.lora_rank}" if view.lora_rank else ""
        return (f"**{run.label}** · {view.layer} ({view.shape[0]} x {view.shape[1]}){lora}  \n"
                f"A LoRA adapter needs rank **{view.rank_for_energy}** to keep "
                f"{view.energy:.1%} of ‖ΔW‖²_F · rank **{view.rank}** keeps "
                f"**{view.energy_at_rank:.1%}**, best relative error "
                f"**{view.error_at_rank:.4f}** (Eckart–Young)")

    def __panel__(self):
        p = self.settings.param
        controls = pn.Row(
            pn.Column(pn.widgets.Select.from_param(p.before, name="Checkpoint (epoch)"),
                      pn.widgets.Select.from_param(p.after, name="Fine-tuned to (epoch)"),
                      self.layer_widget, self.back_button, sizing_mode="stretch_width"),
            pn.Column(undelayed(pn.widgets.IntSlider.from_param(p.update_rank,
                                                                name="Adapter rank r")),
                      undelayed(pn.widgets.FloatSlider.from_param(p.energy,
                                                                  name="Energy to keep")),
                      sizing_mode="stretch_width"),
            pn.Column(pn.pane.Markdown(
                f"**Or upload a LoRA adapter** (.safetensors / .npz with "
                f"`<layer>.lora_A.weight` r x n and `<layer>.lora_B.weight` m x r; at most "
                f"{UPLOAD_MAX_BYTES // 2**20} MiB)", margin=(0, 5)),
                self.upload_widget, self.alpha_widget, sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        return pn.Column(
            pn.pane.Markdown("ΔW = W(after) − W(before) per layer of the digits MLP this "
                             "workbench trains (64-256-128-10): how many directions did "
                             "training move? Grey: all singular values of ΔW (log scale), blue: the "
                             "r kept, dotted: your rank r; red dashed: the energy target and "
                             "the rank it needs. Right: ‖ΔW − [ΔW]_r‖_F / ‖ΔW‖_F, the best any "
                             "rank-r adapter can do.", sizing_mode="stretch_width"),
            controls, self.status,
            pn.Row(self.sv, self.energy, self.error, sizing_mode="stretch_width"),
            self.table, sizing_mode="stretch_width")
