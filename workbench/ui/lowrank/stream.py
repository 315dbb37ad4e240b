"""The "Streaming rows" tab: the matrix shown, its rows arriving in blocks, kept as a
rank-k SVD by the incremental update (:mod:`workbench.lowrank.stream_run`) and compared
after each block with a fresh SVD of the rows seen. One keyed background request per
(matrix, rank); the step slider is ``run.at(step)`` written into the figures."""

from __future__ import annotations

import panel as pn

from workbench.lowrank.stream_run import run_stream
from workbench.ui.base import col, row, text, undelayed
from workbench.ui.live import LiveFigure, hold
from workbench.viz import stream as vs

BLOCKS = 8


class StreamTab(pn.viewable.Viewer):
    """Two live figures (error ratio per block, one block's singular values) and a step
    slider; ``request()`` asks for the run of the explorer's matrix and rank."""

    def __init__(self, owner):
        super().__init__()
        self._owner = owner
        self.run = None
        self.shown = False   # its tab is shown (the explorer sets it)
        self._key = None
        self.ratio = LiveFigure(css_class="wb-stream-ratio", min_height=280)
        self.sv = LiveFigure(css_class="wb-stream-sv", min_height=280)
        self.step = undelayed(pn.widgets.IntSlider(label="Blocks of rows seen", start=1,
                                                   end=BLOCKS, value=BLOCKS, width=260))
        self.info = text()
        self.step.param.watch(owner.guarded(lambda e: self.show_step(e.new - 1)), "value")

    def request(self) -> None:
        """The run for the explorer's matrix at its rank (clamped to the first block),
        while the tab is shown."""
        if not self.shown or self._owner.run is None:
            return
        source = self._owner.run.source
        A = source.A
        rank = int(min(self._owner.rank, A.shape[0] // BLOCKS, A.shape[1]))
        key = ("stream", source.key, rank)
        if key == self._key:
            return
        self._key = key
        self._owner.run_background(key, lambda: run_stream(A, rank, BLOCKS),
                                   lambda run: self._show(key, run), channel="stream",
                                   label="Streaming the rows into an incremental SVD…")

    def _show(self, key, run) -> None:
        if key != self._key:
            return
        self.run, step = run, self.step.value - 1
        self.ratio.render(vs.stream_ratio_plot(run, step))
        self.sv.render(vs.stream_sv_plot(run.at(step)))
        self.info.object = vs.stream_text(run)

    def show_step(self, step: int) -> None:
        """A step: the marker moves and the singular values are written in place."""
        if self.run is None:
            return
        view = self.run.at(step)
        with hold():
            self.ratio.move_spans(view.rows)
            self.sv.write_columns(vs.stream_sv_columns(view))

    def __panel__(self):
        return col(text(vs.TEXT), self.step, row(self.ratio, self.sv), self.info)
