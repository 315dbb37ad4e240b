"""One shape of figure several tabs share: named curves with markers (one data source per
curve: the markers are drawn from the curve's own source, so writing the curve's columns
moves both) and an optional marker line at the shown checkpoint. Pure shaping.

    lines_plot({"K-FAC": (x, y), ...}, "step", "overlap", colors={...}, marker=25)
    lines_columns({"K-FAC": (x, y), ...}, "step", "overlap")  # {label: {step, overlap}}
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options even before hv.extension
import numpy as np

__all__ = ["lines_columns", "lines_plot"]


def _markers(size: int):
    def hook(plot, _element):
        glyph, src = plot.handles["glyph"], plot.handles["source"]
        plot.state.scatter(x=glyph.x, y=glyph.y, source=src, size=size,
                           color=glyph.line_color)
    return hook


def _clean(y, logy: bool) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    return np.where(y > 0, y, np.nan) if logy else y


def lines_columns(curves: dict, xdim: str, ydim: str, logy: bool = False) -> dict:
    """{label: {xdim: x, ydim: y}} of `curves` ({label: (x, y)}) as ``lines_plot`` draws
    them (non-positive values left out on a log axis)."""
    return {label: {xdim: np.asarray(x, dtype=float), ydim: _clean(y, logy)}
            for label, (x, y) in curves.items()}


def lines_plot(curves: dict, xdim: str, ydim: str, colors: dict | None = None,
               title: str = "", logy: bool = False, logx: bool = False,
               marker: float | None = None, height: int = 300,
               legend: str = "top_right") -> hv.Overlay:
    """Curves with markers, one per label of `curves` ({label: (x, y)}), in `colors`
    ({label: colour}); `marker`: a dashed vertical line there (moved later with
    ``LiveFigure.move_spans``). Fixed height, responsive width."""
    layers = []
    for label, cols in lines_columns(curves, xdim, ydim, logy).items():
        layers.append(hv.Curve((cols[xdim], cols[ydim]), xdim, ydim, label=label).opts(
            color=(colors or {}).get(label, "#7f7f7f"), line_width=2, tools=["hover"],
            hooks=[_markers(6)], backend="bokeh"))
    if marker is not None:
        layers.append(hv.VLine(float(marker)).opts(color="#9467bd", line_dash="dashed",
                                                   line_width=1, backend="bokeh"))
    return hv.Overlay(layers).opts(height=height, title=title, logy=logy, logx=logx,
                                   legend_position=legend, responsive=True, show_grid=True,
                                   backend="bokeh")
