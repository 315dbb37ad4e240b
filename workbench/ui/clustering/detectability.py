"""The *Detectability* tab: a two-cluster Gaussian mixture's accuracy against the signal
strength (simulated, k-means, theory) with the threshold (d/n)^(1/4), and the histogram of
the top singular vector's entries at the chosen signal.

The tab owns its settings (``DetectabilitySettings``: signal, n, d/n). The accuracy curve
is a keyed background request per (n, d), drawn once; the signal slider moves the curve
figure's marker at once and asks for the split of that signal (keyed by n, d, signal),
whose bars are written into the drawn histogram."""

from __future__ import annotations

import panel as pn

from workbench.clustering.detectability import (
    detectability_curve,
    spectral_split,
    theory_curve,
)
from workbench.clustering.settings import DetectabilitySettings
from workbench.ui.base import col, control, row, text
from workbench.ui.live import LiveFigure, hold
from workbench.viz import clustering as vc
from workbench.viz.text import split_text


class DetectabilityTab(pn.viewable.Viewer):
    """The detectability demo (see the module docstring)."""

    def __init__(self, explorer, settings: DetectabilitySettings):
        super().__init__()
        self.explorer, self.settings = explorer, settings
        self.curve_figure = LiveFigure("wb-cl-detect", min_height=340)
        self.hist_figure = LiveFigure("wb-cl-split", min_height=340)
        self.info = text()
        self.curve = None       # DataFrame of detectability_curve drawn
        self.split = None       # SplitResult shown
        self._hist_dims = None
        self.active = False     # the tab is shown: compute on changes
        self.settings.param.watch(explorer.guarded(self._on_signal), ["signal"])
        self.settings.param.watch(explorer.guarded(self._on_size), ["det_n", "det_ratio"])

    def __panel__(self):
        p = self.settings.param
        return col(row(control(p.signal, width=300), control(p.det_n, width=140),
                       control(p.det_ratio, width=160)),
                   self.info, row(self.curve_figure, self.hist_figure))

    # ------------------------------------------------------------------ requests
    def request(self) -> None:
        """The curve of the current (n, d) (a cache lookup once computed) and the split."""
        n, d = self.settings.dims()
        self.explorer.run_background(self.settings.curve_key(),
                                     lambda: detectability_curve(n, d, seed=0),
                                     self._draw_curve, channel="det-curve",
                                     label="Simulating accuracy against signal (16 draws)…")
        self.request_split()

    def request_split(self) -> None:
        key = self.settings.split_key()
        _, n, d, signal = key
        self.explorer.run_background(key, lambda: spectral_split(n, d, signal, seed=0),
                                     self._draw_split, channel="det-split",
                                     label="Drawing the mixture…")

    def _on_signal(self, *_):
        """The current signal's (solid) line moves at once (no new figure); its split is
        asked for when the tab is shown."""
        self.curve_figure.move_spans(float(self.settings.signal), dashed=False)
        if self.active:
            self.request_split()

    def _on_size(self, *_):
        if self.active:
            self.request()

    # ------------------------------------------------------------------ drawing
    def _draw_curve(self, df) -> None:
        """The accuracy figure, drawn once per curve (`df`) of the settings' (n, d)."""
        s = self.settings
        n, d = s.dims()
        if self.explorer.detached() or df is self.curve or \
                (df.attrs["n_samples"], df.attrs["n_features"]) != (n, d):
            return
        grid, theory = theory_curve(n, d, max(3.0, float(df["signal"].max())))
        self.curve_figure.render(vc.detectability_plot(
            df["signal"], df["spectral"], grid, theory, df.attrs["threshold"],
            current=float(s.signal), kmeans_accuracy=df["kmeans"]))
        self.curve = df

    def _draw_split(self, r) -> None:
        """The histogram of split `r`: its bars written in place when drawn for its (n, d)."""
        self.split = r
        if self.explorer.detached():
            return
        n, d = r.truth.size, self.settings.dims()[1]
        with hold():
            if self._hist_dims == (n, d) and self.hist_figure.figure is not None:
                self.hist_figure.write_columns(vc.split_columns(r))
            else:
                self.hist_figure.render(vc.split_plot(r), auto_range=("x", "y"),
                                        starts={"y": 0.0})
                self._hist_dims = (n, d)
        self.info.object = split_text(r, n, d)
