"""The eigenspectra explorer's "Neural collapse" tab: NC1-NC4 of a classifier's penultimate
features over its training checkpoints, and the within- / between-class covariance spectra
at the chosen checkpoint.

The costly part is one ``run_collapse(source)`` (the digits MLP's checkpoints, shared with
the Training tab's training; or a head on frozen MiniLM features), a keyed background
request started when the tab is first shown. The checkpoint slider only reads it:
``run.at(checkpoint)`` -> ``viz.collapse.*_columns`` -> ``LiveFigure.write``.
"""

from __future__ import annotations

import panel as pn

from workbench.ui.base import undelayed
from workbench.ui.live import LiveFigure
from workbench.ui.session import while_session_lives
from workbench.viz import collapse as vc

SOURCE_NAMES = {"digits MLP": "mlp", "MiniLM + head": "minilm"}
NOTE = (
    "**Neural collapse** (Papyan, Han & Donoho 2020). Late in training, the penultimate "
    "features of each class shrink to their class mean (**NC1**: within-class variability "
    "against between-class, tr(ΣW ΣB⁺)/C, falls), the class means spread into a simplex "
    "equiangular tight frame (**NC2**: distance of their Gram matrix from the simplex's), "
    "the last layer's weights line up with the means (**NC3**) and the classifier becomes "
    "the nearest-class-centre rule (**NC4**: share of samples where they disagree). The "
    "right plot shows why NC1 falls: the within-class covariance's eigenvalues against the "
    "between-class one's (rank C − 1). *MiniLM + head*: a small MLP head trained on frozen "
    "pretrained MiniLM sentence-pair features (2 classes: NC2 is 0 by construction); loading "
    "MiniLM takes a few seconds.")


class CollapseTab(pn.viewable.Viewer):
    """Owns its source selector, checkpoint slider and two figures. Nothing is computed
    until ``start`` (the tab is shown)."""

    def __init__(self, explorer):
        super().__init__()
        self.explorer = explorer
        self.run = None  # the CollapseRun shown
        self._source = None  # its source
        self.started = False
        self.source = pn.widgets.RadioButtonGroup(options=SOURCE_NAMES, value="mlp")
        self.checkpoint = undelayed(pn.widgets.IntSlider(label="Checkpoint", start=0, end=1,
                                                         value=1, width=300))
        self.metrics = LiveFigure("wb-es-collapse", min_height=320)
        self.spectra = LiveFigure("wb-es-collapse-spectra", min_height=320)
        self.info = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.source.param.watch(explorer.guarded(self._on_source), "value")
        self.checkpoint.param.watch(explorer.guarded(self._on_checkpoint), "value")

    def figures(self) -> list[LiveFigure]:
        return [self.metrics, self.spectra]

    def start(self) -> None:
        """The run of the selected source (background, keyed; cached and shared across
        sessions); redrawn when already there (figures drawn hidden may stay blank)."""
        from workbench.eigenspectra.collapse_run import run_collapse

        self.started = True
        source = self.source.value
        if self.run is not None and self._source == source:
            self.render(self.run, source)
            return
        what = {"mlp": "Training the digits MLP and measuring its collapse…",
                "minilm": "Loading MiniLM and training a head on its features…"}[source]
        self.explorer.run_background(("collapse", source), lambda: run_collapse(source),
                                     while_session_lives(lambda r: self.render(r, source)),
                                     channel="collapse", label=what)

    def _on_source(self, *_events) -> None:
        if self.started:
            self.start()

    def render(self, run, source: str) -> None:
        """Draw `run` anew: the slider's range and both figures."""
        if self.explorer.detached():
            return
        self.run = None  # the slider's moves below draw nothing meanwhile
        last = len(run.steps) - 1
        self.checkpoint.end = max(last, 1)
        if self.checkpoint.value > last or self._source != source:
            self.checkpoint.value = last
        view = run.at(self.checkpoint.value)
        self.metrics.render(vc.metrics_plot(view), auto_range=("y",))
        self.spectra.render(vc.spectra_plot(view))
        self.run, self._source = run, source
        self._update(view)

    def _on_checkpoint(self, *_events) -> None:
        if self.run is None or self.metrics.figure is None:
            return
        self._update(self.run.at(self.checkpoint.value))
        for fig in self.figures():
            fig.push()

    def _update(self, view) -> None:
        """Write `view` into the drawn figures (no render) and the text."""
        cols = vc.spectra_columns(view)
        for name, data in cols["sources"].items():
            self.spectra.write(name, data)
        self.spectra.set_range("y", *cols["ylim"])
        self.spectra.set_title(cols["title"])
        self.metrics.move_spans(vc.metrics_columns(view)["marker"])
        m = view.metrics
        self.checkpoint.label = f"Checkpoint ({view.step_name} {view.step})"
        self.info.object = (
            f"**{view.label}** at {view.step_name} {view.step}: training accuracy "
            f"{view.accuracy:.1%} · NC1 = {m.nc1:.3g}, NC2 = {m.nc2:.3g}, NC3 = {m.nc3:.3g}, "
            f"NC4 = {m.nc4:.1%} · {m.num_classes} classes, {m.num_samples} samples, "
            f"features of dimension {m.dim}.")

    def __panel__(self):
        return pn.Column(pn.pane.Markdown(NOTE, sizing_mode="stretch_width"),
                         pn.Row(self.source, self.checkpoint), self.info,
                         pn.Row(self.metrics, self.spectra, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")
