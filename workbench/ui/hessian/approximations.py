"""The Hessian explorer's "Curvature approximations" tab: per linear layer and checkpoint,
the exact Gauss-Newton block against K-FAC, Shampoo, the optimal Kronecker product and
M-FAC (``viz.approximations.TEXT`` says what is compared).

The costly part is one keyed ``run_approximations`` on the explorer's trained experiment,
from the tab's first showing on. The selectors only read it: ``run.at(checkpoint,
layer)`` -> ``viz.approximations.*_columns`` -> ``LiveFigure.write``.
"""

from __future__ import annotations

import dataclasses

import panel as pn

from workbench.ui.base import col, row, text, undelayed
from workbench.ui.hessian.tabs import torch_job
from workbench.ui.live import LiveFigure
from workbench.ui.session import while_session_lives
from workbench.viz import approximations as va


class ApproximationsTab(pn.viewable.Viewer):
    """Owns its selectors (``checkpoint``, ``layer`` widgets) and figures. Nothing is
    computed until ``start`` (the tab is shown); then every new experiment recomputes."""

    def __init__(self, explorer):
        super().__init__()
        self.explorer = explorer
        self.run = None      # the ApproxRun shown
        self.started = False
        self._key = None
        self.checkpoint = undelayed(pn.widgets.IntSlider(label="Checkpoint", start=0, end=4,
                                                         value=4, width=260))
        self.layer = pn.widgets.Select(label="Layer", options=["0"], width=200)
        self.spectra = LiveFigure("wb-hessian-approx-spectra", min_height=320)
        self.overlaps = LiveFigure("wb-hessian-approx-overlaps", min_height=300)
        self.over = LiveFigure("wb-hessian-approx-over", min_height=300)
        self.errors = LiveFigure("wb-hessian-approx-errors", min_height=300)
        self.mfac = LiveFigure("wb-hessian-approx-mfac", min_height=300)
        self.info = text("*Open this tab to compute the approximations.*")
        self.checkpoint.param.watch(explorer.guarded(self._on_view), "value")
        self.layer.param.watch(explorer.guarded(self._on_view), "value")
        explorer.param.watch(explorer.guarded(lambda *_: self.started and self.start()),
                             "runs")

    def figures(self) -> list[LiveFigure]:
        return [self.spectra, self.overlaps, self.over, self.errors, self.mfac]

    # ------------------------------------------------------------------ costly
    def start(self) -> None:
        """Compare the approximations on the explorer's current experiment (background,
        keyed by its config; cached and shared across sessions); redraw if already
        computed (figures drawn while the tab was hidden may stay blank)."""
        from workbench.hessian.approximations import run_approximations

        self.started = True
        res = self.explorer.result
        if res is None:
            self.info.object = "*Waiting for the training run…*"
            return
        exp = res.experiment
        key = ("approximations", dataclasses.astuple(exp.config))
        if key == self._key and self.run is not None:
            self.render(self.run)
            return
        self._key = key
        torch_job(self.explorer, key, lambda _progress: run_approximations(exp),
                  while_session_lives(self.render), channel="approx",
                  label="Comparing K-FAC, Shampoo, optimal Kronecker and M-FAC…")

    def render(self, run) -> None:
        """Draw `run` anew (a new result): selectors' ranges, every figure; then hold it
        as the run shown (``run`` is set once its figures are drawn)."""
        if self.explorer.detached():
            return
        self.run = None  # the selectors' moves below draw nothing meanwhile
        last = len(run.steps) - 1
        self.checkpoint.param.update(end=max(last, 1), disabled=last < 1,
                                     value=min(self.checkpoint.value, last))
        layer = self.layer.value if self.layer.value in run.layers else run.layers[-1]
        self.layer.param.update(options=list(run.layers), value=layer)
        view = run.at(self.checkpoint.value, self.layer.value)
        self.spectra.render(va.spectra_plot(view), auto_range=("y",))
        self.overlaps.render(va.overlap_plot(view))
        self.over.render(va.over_training_plot(view, "overlap"))
        self.errors.render(va.over_training_plot(view, "error"))
        if run.mfac is not None:
            self.mfac.render(va.mfac_plot(run.mfac))
        self.mfac.pane.visible = run.mfac is not None
        self.run = run
        self._text(view)

    # ------------------------------------------------------------------ cheap
    def _on_view(self, event) -> None:
        """A selector moved: the ApproxView written into the figures (no products)."""
        if self.run is None or self.spectra.figure is None:
            return
        view = self.run.at(self.checkpoint.value, self.layer.value)
        self.spectra.write_columns(va.spectra_columns(view))
        self.overlaps.write_columns(va.overlap_columns(view))
        for fig, what in ((self.over, "overlap"), (self.errors, "error")):
            cols = va.over_training_columns(view, what)
            if event.obj is self.layer:
                fig.write_columns(cols)  # the curves and title (its "marker" moves below)
            fig.move_spans(cols["marker"])
        for fig in self.figures():
            fig.push()
        self._text(view)

    def _text(self, view) -> None:
        self.checkpoint.label = f"Checkpoint (step {view.step})"
        self.info.object = va.approx_text(self.run, view)

    def __panel__(self):
        return col(text(va.TEXT), pn.Row(self.layer, self.checkpoint), self.info,
                   row(self.spectra, self.overlaps), row(self.over, self.errors), self.mfac)
