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

from workbench.ui.base import col, row, text, undelayed
from workbench.ui.live import LiveFigure
from workbench.ui.session import while_session_lives
from workbench.viz import collapse as vc

SOURCE_NAMES = {"digits MLP": "mlp", "MiniLM + head": "minilm"}


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
        self.info = text()
        self.source.param.watch(explorer.guarded(self._on_source), "value")
        self.checkpoint.param.watch(explorer.guarded(self._on_checkpoint), "value")

    def start(self) -> None:
        """The run of the selected source (background, keyed; cached and shared across
        sessions); redrawn when already there (figures drawn hidden may stay blank)."""
        from workbench.eigenspectra.collapse_run import run_collapse

        self.started = True
        source = self.source.value
        if self.run is not None and self._source == source:
            self.render(self.run, source)
            return
        self.explorer.run_background(("collapse", source), lambda: run_collapse(source),
                                     while_session_lives(lambda r: self.render(r, source)),
                                     channel="collapse", label=vc.SOURCE_STATUS[source])

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
        if self.run is None:
            return  # nothing drawn yet (``render`` sets it once the figures are)
        self._update(self.run.at(self.checkpoint.value))
        self.metrics.push()
        self.spectra.push()

    def _update(self, view) -> None:
        """Write `view` into the drawn figures (no render) and the text."""
        self.spectra.write_columns(vc.spectra_columns(view), reset=False)
        self.metrics.move_spans(vc.metrics_columns(view)["marker"])
        self.checkpoint.label = f"Checkpoint ({view.step_name} {view.step})"
        self.info.object = vc.collapse_text(view)

    def __panel__(self):
        return col(text(vc.COLLAPSE_NOTE), pn.Row(self.source, self.checkpoint), self.info,
                   row(self.metrics, self.spectra))
