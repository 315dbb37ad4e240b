"""The "Random matrices" tab: Marchenko–Pastur, BBP (spike and eigenvector overlap),
semicircle and heavy tails, sampled by ``run_rmt_demos`` (a keyed background request) and
drawn into five live figures, each rendered once per sample."""

from __future__ import annotations

import panel as pn
import param

from workbench.eigenspectra.settings import RMTSettings
from workbench.ui.live import LiveFigure
from workbench.ui.session import while_session_lives
from workbench.viz import eigenspectra as ve
from workbench.viz.text import RMT_NOTE, demos_text

SLIDER_NAMES = {"Q": "Aspect ratio Q = N/M", "sigma": "Entry std sigma",
                "theta": "Spike strength theta (BBP)", "mu": "Heavy-tail exponent mu",
                "M": "Size M", "seed": "Seed"}


class RandomMatricesTab(pn.viewable.Viewer):
    """Owns the demo settings (``settings``, an RMTSettings) and their figures. Nothing is
    sampled until ``draw`` (the tab is shown); then every change samples anew."""

    def __init__(self, explorer, settings: RMTSettings):
        super().__init__()
        self.explorer = explorer
        self.settings = settings
        self.demos = None  # the RMTDemos drawn
        self.drawn = False
        self.figures = {"mp": LiveFigure("wb-es-mp", min_height=320),
                        "bbp": LiveFigure("wb-es-bbp", min_height=320),
                        "overlap": LiveFigure("wb-es-overlap", min_height=260),
                        "wigner": LiveFigure("wb-es-wigner", min_height=300),
                        "heavy": LiveFigure("wb-es-heavy", min_height=300)}
        self.info = pn.pane.Markdown("", sizing_mode="stretch_width")
        settings.param.watch(explorer.guarded(self._on_change), list(SLIDER_NAMES))

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
        f = self.figures
        f["mp"].render(ve.mp_demo_plot(d.mp, d.Q_eff, d.sigma))
        f["bbp"].render(ve.bbp_plot(d.spiked, d.theta, d.gamma, d.overlap))
        f["overlap"].render(ve.overlap_plot(d.gamma, observed=(d.theta, d.overlap)))
        f["wigner"].render(ve.semicircle_plot(d.wigner, d.sigma))
        f["heavy"].render(ve.heavy_tail_plot(d.heavy, d.mu, d.heavy_fit))
        self.info.object = demos_text(d)
        self.demos = d

    def controls(self) -> pn.GridBox:
        def slider(name):
            p = self.settings.param[name]
            kind = pn.widgets.IntSlider if isinstance(p, param.Integer) else \
                pn.widgets.FloatSlider
            return kind.from_param(p, name=SLIDER_NAMES[name], width=260)

        return pn.GridBox(*map(slider, SLIDER_NAMES), ncols=3, sizing_mode="stretch_width")

    def __panel__(self):
        f = self.figures
        return pn.Column(
            self.controls(), self.info,
            pn.Row(f["mp"], f["bbp"], sizing_mode="stretch_width"),
            pn.Row(f["overlap"], f["wigner"], sizing_mode="stretch_width"),
            pn.Row(f["heavy"], pn.pane.Markdown(RMT_NOTE, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
