"""The "Table" tab: every layer's metrics (WeightWatcher's column names) and the arrays
skipped, with the reason."""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.eigenspectra.run import TABLE_COLUMNS


class TableTab(pn.viewable.Viewer):
    """Two tables, filled by ``show(fits, table)``."""

    def __init__(self):
        super().__init__()
        opts = dict(disabled=True, pagination="local", sizing_mode="stretch_width",
                    show_index=False)
        self.metrics = pn.widgets.Tabulator(pd.DataFrame(), page_size=15, height=520, **opts)
        self.skipped = pn.widgets.Tabulator(pd.DataFrame(), page_size=10, height=330, **opts)

    def show(self, fits, table: pd.DataFrame) -> None:
        """`table` (the fit table's rows shown) and `fits.run`'s skipped arrays."""
        cols = [c for c in TABLE_COLUMNS if c in table.columns]
        self.metrics.value = table[cols].round(4)
        self.skipped.value = fits.run.skipped_table()

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("**Metrics per layer** (WeightWatcher's column "
                                          "names; download as CSV in the sidebar)"),
                         self.metrics, pn.pane.Markdown("**Skipped arrays**, with the reason"),
                         self.skipped, sizing_mode="stretch_width")
