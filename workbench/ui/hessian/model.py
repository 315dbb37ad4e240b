"""The Hessian explorer on a model of your own (``HessianExplorer.from_model``).

    from workbench.ui.hessian import HessianExplorer
    HessianExplorer.from_model(model, loss_fn, (X, y))   # a notebook cell's last line

The costly part, ``workbench.hessian.model_run.run_model_hessian`` (the spectrum of the
whole model and of each layer), runs in the background with a progress bar and a Cancel
button; the broadening slider then only reads the run: ``run.at(broadening)`` ->
``viz.hessian.*_columns`` -> ``LiveFigure.write``. Not cached across explorers (the key
would have to hash the weights): each explorer computes its own run once.
"""

from __future__ import annotations

import threading

import panel as pn
import param

from workbench.hessian.model_run import run_model_hessian
from workbench.ui.base import Explorer, undelayed
from workbench.ui.live import LiveFigure
from workbench.viz import hessian as vh

_WIDE = dict(sizing_mode="stretch_width")


class ModelHessianExplorer(Explorer):
    """Density, top-k, trace and per-layer spectra of the Hessian of a user's model."""

    title = "Hessian spectrum of your model"
    description = "The curvature spectrum of your own torch model and loss, whole and per layer."

    broadening = param.Number(default=1.0, bounds=(0.25, 4.0), step=0.25,
                              doc="Density broadening (x the estimator's own width)")
    logy = param.Boolean(default=True, doc="Log-scale densities")
    runs = param.Integer(default=0, precedence=-1, doc="Results shown (for tests)")

    def __init__(self, model, loss_fn, data, label: str = "your model", run_options=None,
                 **params):
        super().__init__(**params)
        self.result = None
        self._label = label
        self.density = LiveFigure("wb-hessian-density", min_height=340)
        self.top = LiveFigure("wb-hessian-top", min_height=300)
        self.layer_density = LiveFigure("wb-hessian-layers", min_height=320)
        self.layer_top = LiveFigure("wb-hessian-layer-top", min_height=300)
        self._summary = pn.pane.Markdown(f"Computing the Hessian spectrum of {label}…", **_WIDE)
        self.param.watch(self.guarded(self._on_view), ["broadening", "logy"])
        cancel = threading.Event()
        progress = self.progress_reporter("Hessian spectrum of the model and its layers…",
                                          cancel)
        options = dict(run_options or {})
        self.future = self.run_background(None, lambda: run_model_hessian(
                                model, loss_fn, data, label=label, progress=progress,
                                **options),
                            self._show, channel="model", cancel=cancel,
                            label="Hessian spectrum of the model and its layers…")

    def figures(self) -> list[LiveFigure]:
        return [self.density, self.top, self.layer_density, self.layer_top]

    def _show(self, run) -> None:
        self.result = run
        self._render()
        self.runs += 1

    def _render(self) -> None:
        view = self.result.at(self.broadening)
        self.density.render(vh.density_plot(view, logy=self.logy, all_roles=True,
                                            title=self._density_title(view)))
        self.top.render(vh.top_eigs_plot(view.top_values, view.num_outliers,
                                         title=f"Top {len(view.top_values)} eigenvalues"))
        if view.layer_curves:
            self.layer_density.render(vh.compare_density_plot(
                view.layer_curves, logy=self.logy, title="Each layer's Hessian block"))
        self.layer_top.render(vh.layer_top_plot(view.layers))
        self._text(view)

    def _density_title(self, view) -> str:
        return (f"Hessian spectral density of {self._label} ({view.num_outliers} outliers, "
                f"broadening {view.broadening:g})")

    def _on_view(self, *events) -> None:
        """Broadening: the densities written in place; log scale: drawn anew."""
        if self.result is None:
            return
        if any(e.name == "logy" for e in events):
            self._render()
            return
        view = self.result.at(self.broadening)
        cols = vh.density_columns(view, logy=self.logy)
        fig = self.density
        fig.write("0", cols["area"])
        for role, data in cols["markers"].items():
            fig.write(role, data)
        fig.set_range("x", *cols["xlim"])
        fig.set_range("y", *cols["ylim"])
        fig.set_title(self._density_title(view))
        if view.layer_curves and self.layer_density.figure is not None:
            lc = vh.compare_density_columns(view.layer_curves, logy=self.logy)
            for name, data in lc["sources"].items():
                self.layer_density.write(name, data)
            self.layer_density.set_range("x", *lc["xlim"])
        for f in self.figures():
            f.push()

    def _text(self, view) -> None:
        run = self.result
        rows = "\n".join(f"| {r.block} | {r.num_params:,} | {r.top_eigenvalue:.4g} | "
                         f"{r.trace:.4g} ± {r.trace_std:.2g} |"
                         for r in view.layers.itertuples())
        self._summary.object = (
            f"**{view.num_params:,} parameters**, loss {run.loss:.4g} · "
            f"λ1 = {view.top_values[0]:.4g}, λmin = {view.min_value:.3g} · "
            f"trace = {view.trace:.4g} ± {view.trace_std:.2g} (XTrace) · "
            f"**{view.num_outliers} outliers** · {view.num_matvecs:,} Hessian-vector "
            f"products\n\n| layer | parameters | top eigenvalue | trace |\n|---|---|---|---|\n"
            + rows)

    def export_data(self):
        if self.result is None:
            return None
        import pandas as pd

        view = self.result.at(self.broadening)
        return pd.DataFrame({"eigenvalue": view.grid, "density": view.density})

    def controls(self) -> list:
        return [undelayed(pn.widgets.FloatSlider.from_param(
                    self.param.broadening, name="Density broadening (× σ)")),
                pn.widgets.Checkbox.from_param(self.param.logy, name="log-scale densities")]

    def view(self):
        return pn.Column(self._summary, self.density, pn.Row(self.top, self.layer_top, **_WIDE),
                         self.layer_density, **_WIDE)
