"""The "Completion" tab: a matrix completed from a fraction of its entries and the phase
diagram, keyed background requests of the topic run computed at once. A served page draws
their figures when the tab is first shown (``activate``: a new session does not pay for
five figures it may never look at); a notebook draws them at once.
"""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.lowrank.run import completion_key, phase_diagram, run_completion
from workbench.lowrank.settings import COMPLETION_SIZE, CompletionSettings
from workbench.ui.base import col, control, row, text
from workbench.ui.live import LiveFigure
from workbench.ui.session import served
from workbench.viz import lowrank as vl
from workbench.viz.text import completion_text


class PhaseDiagram:
    """Success rate against the observed fraction for the random matrices of the
    settings' true rank and method (``figure``); a dotted marker at the observed fraction.
    ``active``: its figures are drawn (notebooks at once, pages when the tab is shown)."""

    def __init__(self, owner):
        self._owner = owner
        self.table = pd.DataFrame()
        self.figure = LiveFigure(css_class="wb-lowrank-phase", min_height=300)
        self.active = not served(pn.state.curdoc)  # drawn (CompletionTab.activate)

    def request(self) -> None:
        s = self._owner
        r, method = int(s.true_rank), s.completion_method
        s.run_background(("phase", r, method), lambda: phase_diagram(r, method), self.show,
                         channel="phase", label="Phase transition (24 completions)…")

    def show(self, table: pd.DataFrame) -> None:
        self.table = table
        if not self.active:
            return
        s = self._owner
        self.figure.render(vl.phase_transition_plot(table, float(s.fraction)).opts(
            title=vl.phase_title(COMPLETION_SIZE, s.true_rank)))

    def mark(self, fraction: float) -> None:
        """Move the observed-fraction marker (the dotted line) in place (there is none
        before the diagram is computed)."""
        if not self.active:
            return
        if self.figure.figure is None:
            self.show(self.table)
        if not self.table.empty:
            self.figure.move_span("fraction", fraction)


class CompletionTab(pn.viewable.Viewer):
    """Its controls (the completion half of the explorer's settings), the masked and the
    recovered matrix, the error per sweep and the phase diagram."""

    def __init__(self, owner):
        super().__init__()
        self._owner = owner                  # the explorer: settings + background work
        self.result = None                   # the CompletionRun shown
        self.status = text()
        self.masked = LiveFigure(css_class="wb-lowrank-masked", min_height=320)
        self.recovered = LiveFigure(css_class="wb-lowrank-recovered", min_height=320)
        self.history = LiveFigure(css_class="wb-lowrank-history", min_height=300)
        self.phase = PhaseDiagram(owner)
        owner.param.watch(owner.guarded(self._on_change), CompletionSettings.fields())

    def activate(self) -> None:
        """The tab is shown: draw what was computed while it was hidden (once)."""
        if self.phase.active:
            return
        self.phase.active = True
        if not self.phase.table.empty:
            self.phase.show(self.phase.table)
        if self.result is not None:
            self.show(self.result)

    def _on_change(self, *events) -> None:
        self.request()
        if {e.name for e in events} & {"true_rank", "completion_method"}:
            self.phase.request()

    def request(self) -> None:
        """Complete the chosen matrix (keyed by the settings; the current matrix by its
        source key)."""
        s = self._owner
        source = s.run.source if s.run is not None else None
        if s.completion_matrix == "current" and source is None:
            return
        settings = CompletionSettings.copy_of(s)
        s.run_background(completion_key(settings, source),
                         lambda: run_completion(settings, source), self.show,
                         channel="completion", label="Completing the matrix…")

    def show(self, done) -> None:
        self.result = done
        self.status.object = completion_text(done)
        if not self.phase.active:
            return
        for fig, element in zip((self.masked, self.recovered, self.history),
                                vl.completion_plots(done), strict=True):
            fig.render(element)
        self.phase.mark(done.fraction)

    def __panel__(self):
        p = self._owner.param
        controls = row(col(control(p.fraction), control(p.completion_rank)),
                       col(control(p.completion_matrix), control(p.true_rank),
                           control(p.completion_method, widget=pn.widgets.RadioButtonGroup)))
        return col(controls, self.status, row(self.masked, self.recovered),
                   row(self.history, self.phase.figure), text(vl.PHASE_TEXT))
