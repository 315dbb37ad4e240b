"""The "Error vs rank" tab: every method's relative error against rank next to the
Eckart–Young optimum, and the table at the curve rank nearest the slider.

The figure is drawn with the page (a keyed render: after the first session a clone of the
kept figure, see ``workbench.ui.figure_cache``). Drawing it only when the tab was first
chosen left a blank space in the browser: the figure's data arrived, nothing was drawn.
"""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.lowrank.settings import METHOD_LABELS
from workbench.ui.base import WIDE, col, text
from workbench.ui.live import LiveFigure
from workbench.viz import lowrank as vl


class CurvesTab(pn.viewable.Viewer):
    """Error curves (rendered per set of curves) and the table (written per rank)."""

    def __init__(self):
        super().__init__()
        self.figure = LiveFigure(css_class="wb-lowrank-curves", min_height=340)
        self.table = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                          height=260, **WIDE)
        self._table_rank = None

    def show_curves(self, run, rank: int) -> None:
        """Render the curves of `run` (empty axes before they are computed)."""
        df = run.curves.table if run.curves is not None else pd.DataFrame()
        self.figure.render(lambda: vl.error_vs_rank_plot(df, int(rank), labels=METHOD_LABELS),
                           key=(run.curves, run.source, int(rank), "error vs rank"))
        # the two panels' rank markers, found now: a layout's search walks its whole
        # model graph (~100-200 ms on a busy server), too much for a rank step
        self.figure.spans()
        self._table_rank = -1

    def show(self, view) -> None:
        """A rank step: move the markers; the table when its nearest rank changed."""
        self.figure.move_spans(view.rank)
        if view.table_rank != self._table_rank:
            self._table_rank = view.table_rank
            self.table.value = view.table

    def __panel__(self):
        return col(text(vl.CURVES_TEXT), self.figure, self.table)
