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

    def __init__(self, explorer, settings: DetectabilitySettings | None = None):
        super().__init__()
        self.explorer = explorer
        self.settings = settings or DetectabilitySettings()
        self.curve_figure = LiveFigure("wb-cl-detect", min_height=340)
        self.hist_figure = LiveFigure("wb-cl-split", min_height=340)
        self.info = text()
        self.curve = None       # DataFrame of detectability_curve, and its key
        self.curve_key = None
        self.split = None       # SplitResult shown
        self._drawn_curve = None
        self._hist_dims = None
        self.active = False     # the tab is shown: compute on changes
        self.settings.param.watch(explorer.guarded(self._on_signal), ["signal"])
        self.settings.param.watch(explorer.guarded(self._on_size), ["det_n", "det_ratio"])

    def controls(self) -> pn.Row:
        p = self.settings.param
        return row(control(p.signal, width=300), control(p.det_n, width=140),
                   control(p.det_ratio, width=160))

    def __panel__(self):
        return col(self.controls(), self.info, row(self.curve_figure, self.hist_figure))

    # ------------------------------------------------------------------ requests
    def request(self) -> None:
        """The curve of the current (n, d) (when not the one shown) and the split."""
        key = self.settings.curve_key()
        if key != self.curve_key:
            n, d = self.settings.dims()

            def done(df):
                self.curve, self.curve_key = df, key
                self._draw_curve()

            self.explorer.run_background(key, lambda: detectability_curve(n, d, seed=0),
                                         done, channel="det-curve",
                                         label="Simulating accuracy against signal "
                                               "(16 draws)…")
        self.request_split()

    def request_split(self) -> None:
        key = self.settings.split_key()
        _, n, d, signal = key

        def done(res):
            self.split = res
            self._draw_split()

        self.explorer.run_background(key, lambda: spectral_split(n, d, signal, seed=0), done,
                                     channel="det-split", label="Drawing the mixture…")

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
    def _draw_curve(self) -> None:
        """The accuracy figure, drawn once per curve."""
        df, s = self.curve, self.settings
        if df is None or self.explorer.detached() or self._drawn_curve is df:
            return
        n, d = s.dims()
        if (df.attrs.get("n_samples"), df.attrs.get("n_features")) != (n, d):
            return
        grid, theory = theory_curve(n, d, max(3.0, float(df["signal"].max())))
        self.curve_figure.render(vc.detectability_plot(
            df["signal"], df["spectral"], grid, theory, df.attrs["threshold"],
            current=float(s.signal), kmeans_accuracy=df["kmeans"]))
        self._drawn_curve = df

    def _draw_split(self) -> None:
        r = self.split
        if r is None or self.explorer.detached():
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
