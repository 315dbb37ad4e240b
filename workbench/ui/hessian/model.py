"""The Hessian explorer on a model of your own (``HessianExplorer.from_model``).

    from workbench.ui.hessian import HessianExplorer
    HessianExplorer.from_model(model, loss_fn, (X, y))   # a notebook cell's last line

The costly part, ``run_model_hessian`` (whole model and each layer), runs in the
background with progress and Cancel, not cached across explorers (the key would have to
hash the weights); the broadening slider only reads the run: ``run.at(broadening)`` ->
``viz.hessian.*_columns`` -> ``LiveFigure.write``.
"""

from __future__ import annotations

import param

from workbench.hessian.model_run import run_model_hessian
from workbench.hessian.settings import DensityView
from workbench.ui.base import Explorer, col, control, row, text
from workbench.ui.hessian.tabs import torch_job, write_density
from workbench.ui.live import LiveFigure
from workbench.viz import hessian as vh


class ModelHessianExplorer(Explorer, DensityView):
    """Density, top-k, trace and per-layer spectra of the Hessian of a user's model."""

    title = "Hessian spectrum of your model"
    description = "The curvature spectrum of your own torch model and loss, whole and per layer."

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
        self._summary = text(f"Computing the Hessian spectrum of {label}…")
        self.param.watch(self.guarded(self._on_view), ["broadening", "logy"])
        options = dict(run_options or {})
        self.future = torch_job(self, None, lambda progress: run_model_hessian(
                                    model, loss_fn, data, label=label, progress=progress,
                                    **options),
                                self._show, channel="model", queue=None,
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
                                            title=vh.model_density_title(self._label, view)))
        self.top.render(vh.top_eigs_plot(view.top_values, view.num_outliers,
                                         title=f"Top {len(view.top_values)} eigenvalues"))
        if view.layer_curves:
            self.layer_density.render(vh.compare_density_plot(
                view.layer_curves, logy=self.logy, title="Each layer's Hessian block"))
        self.layer_top.render(vh.layer_top_plot(view.layers))
        self._summary.object = vh.model_summary(self.result, view)

    def _on_view(self, *events) -> None:
        """Broadening: the densities written in place; log scale: drawn anew."""
        if self.result is None:
            return
        if any(e.name == "logy" for e in events):
            self._render()
            return
        view = self.result.at(self.broadening)
        write_density(self.density, vh.density_columns(view, logy=self.logy),
                      vh.model_density_title(self._label, view), legend=False)
        if view.layer_curves:
            lc = vh.compare_density_columns(view.layer_curves, logy=self.logy)
            self.layer_density.write_columns({"sources": lc["sources"], "xlim": lc["xlim"]},
                                             reset=False)
        for f in self.figures():
            f.push()

    def export_data(self):
        """The density shown (``ModelHessianRun.export``)."""
        return None if self.result is None else self.result.export(self.broadening)

    def controls(self) -> list:
        return [control(self.param.broadening, fast=True), control(self.param.logy, "log-scale densities")]

    def view(self):
        return col(self._summary, self.density, row(self.top, self.layer_top),
                   self.layer_density)
