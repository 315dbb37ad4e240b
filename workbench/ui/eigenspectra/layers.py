"""The "Layers" tab: alpha per layer (click a bar), the selected layer's ESD with its fits
and the KS scan. Each figure is rendered once per fit table (per tab visit) and a layer,
bins or fit-option change writes new data into it:

    handler -> FitTable.at / EigenspectraRun.at -> viz *_columns -> LiveFigure.write_columns
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
from panel.io.state import set_curdoc

from workbench.ui.base import col, row, text
from workbench.ui.live import LiveFigure
from workbench.ui.session import later, served
from workbench.viz import eigenspectra as ve
from workbench.viz.text import HEALTH_LEGEND, layer_text, summary_text


class LayersTab(pn.viewable.Viewer):
    """Bars, ESD and KS figures of the explorer's current fit table (``explorer.fits``),
    following ``explorer.settings``' layer, epoch, bins and fit options."""

    def __init__(self, explorer):
        super().__init__()
        self.explorer, self.settings = explorer, explorer.settings
        self.bars = LiveFigure("wb-es-bars", min_height=320)
        self.esd = LiveFigure("wb-es-esd", min_height=380)
        self.ks = LiveFigure("wb-es-ks", min_height=240)
        self.info = text()
        self.summary = text("Analyzing…")
        self.table = pd.DataFrame()  # the fit table's rows at the shown epoch
        self.view = None  # the LayerView drawn
        guarded = explorer.guarded
        self.settings.param.watch(guarded(self.draw), ["layer", "bins"])
        self.settings.param.watch(guarded(self._refit), list(self.settings.FIT))

    # ------------------------------------------------------------------ a new table
    def show(self, fits, fresh: bool = False) -> None:
        """Draw `fits` (a FitTable) at the settings' epoch: bars (rendered anew when the
        layer names change), the selected layer, the summary. `fresh`: every figure
        rendered anew (its tab shows again: Bokeh log axes drawn while hidden stay blank)."""
        s = self.settings
        self.table = fits.table(s.epoch)
        # (a notebook sends data written into Bokeh models only inside widget callbacks:
        # a background result gets new figures, which Panel sends)
        if fresh or not served(self.explorer._doc):
            for fig in (self.bars, self.esd, self.ks):
                fig.clear()
        self._draw_bars()
        self.draw()
        self.summary.object = summary_text(fits, self.table, s.epoch, fits.run.farms)

    def redraw(self) -> None:
        if self.explorer.fits is not None:
            self.show(self.explorer.fits, fresh=True)

    def _draw_bars(self) -> None:
        df = self.table
        selected = None if df.empty else df["name"].iloc[min(self.settings.layer, len(df) - 1)]
        if self.bars.figure is not None and \
                list(self.bars.source("Alpha").data["name"]) == list(df["name"]):
            self.bars.write("Alpha", ve.bars_columns(df, selected))
            self.bars.set_range("y", *ve.alpha_ylim(df), reset=True)
            return
        self.bars.render(lambda: ve.alpha_bars(df, selected),
                         key=(self.explorer.fits, self.settings.epoch, selected, "alpha bars"))
        self.bars.source("Alpha").selected.on_change("indices", self._on_bar_tap)

    # ------------------------------------------------------------------ one layer
    def draw(self, *_events, refit: bool = False) -> None:
        """The selected layer into the ESD and KS figures: the table's fit, or (``refit``,
        or the table not yet refitted for the current options) a fresh fit of that layer.
        The bar outline and the text follow once the figures are sent."""
        fits, s = self.explorer.fits, self.settings
        if fits is None:
            return
        options = s.fit_options()
        at = None  # the cached figures' key: the table's fit of the layer
        if refit or fits.options != options:
            view = fits.run.at(s.layer, epoch=s.epoch, bins=s.bins, options=options)
        else:
            view = fits.at(s.layer, epoch=s.epoch, bins=s.bins)
            at = (fits, s.layer, s.epoch, s.bins)
        self.view = view
        if self.esd.figure is None:
            self.esd.render(lambda: ve.esd_plot(view, complete=True),
                            key=None if at is None else (*at, "esd"))
            self.ks.render(lambda: ve.ks_plot(view, complete=True),
                           key=None if at is None else (*at, "ks"))
        self.esd.write_columns(ve.esd_columns(view))
        self.ks.write_columns(ve.ks_columns(view))
        later(self.explorer.guarded(self._after_draw))

    def _refit(self, *_events) -> None:
        """A fit option moved: this layer now (milliseconds), the table once the user
        pauses (the explorer requests it)."""
        self.draw(refit=True)
        self.explorer.request_fits_soon()

    def _after_draw(self) -> None:
        """Outline the shown layer's bar (only its outline column is sent) and describe it."""
        view = self.view
        if self.bars.figure is not None:
            src = self.bars.source("Alpha")
            line = ve.selected_line(src.data["name"], view.name)
            if not np.array_equal(line, src.data["line"]):
                src.data.update(line=line, line_width=line)
        self.info.object = layer_text(view)

    def _on_bar_tap(self, _attr, _old, new) -> None:
        if not new:
            return  # our own clearing below
        src = self.bars.source("Alpha")

        def tap():
            # cleared, so that a tap on the same bar after moving the slider counts again
            later(lambda: setattr(src.selected, "indices", []))
            if 0 <= new[0] < len(self.table):
                self.settings.layer = int(new[0])

        # (on the figure's document, which Panel may not have made current; None: as is)
        with set_curdoc(getattr(self.bars.figure, "document", None)):
            self.explorer.guarded(tap)()

    def __panel__(self):
        return col(self.summary, self.bars,
                   pn.pane.HTML(HEALTH_LEGEND, styles={"font-size": "0.85em"}),
                   row(col(self.esd), col(self.info, self.ks)))
