"""The "Random matrices" tab: Marchenko–Pastur, BBP (spike and eigenvector overlap),
semicircle and heavy tails, sampled by ``run_rmt_demos`` (a keyed background request) and
drawn into five live figures, each rendered once per sample."""

from __future__ import annotations

import panel as pn

from workbench.eigenspectra.settings import RMTSettings
from workbench.ui.base import WIDE, col, control, row, text
from workbench.ui.live import LiveFigure
from workbench.ui.session import while_session_lives
from workbench.viz import eigenspectra as ve
from workbench.viz.text import RMT_NOTE, demos_text

FIELDS = list(RMTSettings.param)[1:]  # Q, sigma, theta, mu, M, seed: a slider each
HEIGHTS = {"mp": 320, "bbp": 320, "overlap": 260, "wigner": 300, "heavy": 300}  # figures


class RandomMatricesTab(pn.viewable.Viewer):
    """Owns the demo settings (``settings``, an RMTSettings) and their figures. Nothing is
    sampled until ``draw`` (the tab is shown); then every change samples anew."""

    def __init__(self, explorer, settings: RMTSettings):
        super().__init__()
        self.explorer, self.settings = explorer, settings
        self.demos = None  # the RMTDemos drawn
        self.drawn = False
        self.figures = {name: LiveFigure(f"wb-es-{name}", min_height=height)
                        for name, height in HEIGHTS.items()}
        self.info = text()
        settings.param.watch(explorer.guarded(self._on_change), FIELDS)

    def _on_change(self, *_events) -> None:
        if self.drawn:
            self.draw()

    def draw(self) -> None:
        """Sample the demos for the current settings (background, keyed) and draw them."""
        from workbench.eigenspectra.rmt_demos import run_rmt_demos

        self.drawn = True
        values = self.settings.values()
        self.explorer.run_background(("rmt", *sorted(values.items())),
                                     lambda: run_rmt_demos(**values),
                                     while_session_lives(self.show), channel="rmt",
                                     label="Sampling random matrices…")

    def show(self, d) -> None:
        for name, element in ve.rmt_demo_plots(d).items():
            self.figures[name].render(element)
        self.info.object = demos_text(d)
        self.demos = d

    def __panel__(self):
        f = self.figures
        sliders = [control(self.settings.param[name], width=260) for name in FIELDS]
        return col(pn.GridBox(*sliders, ncols=3, **WIDE), self.info, row(f["mp"], f["bbp"]),
                   row(f["overlap"], f["wigner"]), row(f["heavy"], text(RMT_NOTE)))
