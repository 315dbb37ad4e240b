"""The "Table" tab: every layer's metrics (WeightWatcher's column names) and the arrays
skipped, with the reason."""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.ui.base import col, text


class TableTab(pn.viewable.Viewer):
    """Two tables, filled by ``show(fits, epoch)``."""

    def __init__(self):
        super().__init__()
        opts = dict(disabled=True, pagination="local", sizing_mode="stretch_width",
                    show_index=False)
        self.metrics = pn.widgets.Tabulator(pd.DataFrame(), page_size=15, height=520, **opts)
        self.skipped = pn.widgets.Tabulator(pd.DataFrame(), page_size=10, height=330, **opts)

    def show(self, fits, epoch=None) -> None:
        """`fits`' metrics at `epoch` and its run's skipped arrays."""
        self.metrics.value = fits.metrics_table(epoch)
        self.skipped.value = fits.run.skipped_table()

    def __panel__(self):
        return col(text("**Metrics per layer** (WeightWatcher's column names; download as "
                        "CSV in the sidebar)"), self.metrics,
                   text("**Skipped arrays**, with the reason"), self.skipped)
