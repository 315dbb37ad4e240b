"""Plots of sweep tables: an output against a parameter, coloured by another, faceted by a
third. Pure functions: DataFrame in, HoloViews element out (no computing, no Panel).

    from workbench.sweep import load_sweep
    from workbench.viz.sweep import sweep_plot
    sweep_plot(load_sweep("runs/widths"), x="width", y="top_eig", color="seed")
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options even before hv.extension
import pandas as pd

from workbench.errors import InputFormatError

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
KINDS = ("points", "lines", "mean")


def _label(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _one_panel(df: pd.DataFrame, x: str, y: str, color: str | None, kind: str,
               title: str = "") -> hv.Overlay:
    groups = [(None, df)] if color is None else list(df.groupby(color, sort=True))
    layers = []
    for i, (val, sub) in enumerate(groups):
        col = PALETTE[i % len(PALETTE)]
        label = "" if color is None else f"{color}={_label(val)}"
        sub = sub.sort_values(x, kind="stable")
        if kind == "mean":
            stats = sub.groupby(x, sort=True)[y].agg(["mean", "std", "count"]).reset_index()
            stats["std"] = stats["std"].fillna(0.0)
            curve = hv.Curve(stats, x, "mean", label=label).opts(color=col, line_width=2,
                                                                 backend="bokeh")
            err = hv.ErrorBars(stats, x, ["mean", "std"]).opts(color=col, backend="bokeh")
            layers += [curve, err]
        else:
            pts = hv.Scatter(sub, x, [y], label=label).opts(color=col, size=7, alpha=0.85,
                                                            backend="bokeh")
            if kind == "lines":
                layers.append(hv.Curve(sub, x, y, label=label).opts(color=col, alpha=0.6,
                                                                    backend="bokeh"))
            layers.append(pts)
    if not layers:
        layers.append(hv.Scatter([], x, y))
    return hv.Overlay(layers).opts(title=title, backend="bokeh")


def sweep_plot(df: pd.DataFrame, x: str, y: str, color: str | None = None,
               facet: str | None = None, kind: str = "points", logx: bool = False,
               logy: bool = False, height: int = 380) -> hv.Overlay | hv.Layout:
    """Scatter (``kind="points"``), points joined per colour group (``"lines"``) or the mean
    with +-1 standard deviation bars over the other parameters (``"mean"``) of column ``y``
    against ``x``; one colour per value of ``color``; one panel per value of ``facet``.
    Rows where x or y is missing are dropped. Raises InputFormatError for unknown columns.
    Returns an hv.Overlay (no facet) or an hv.Layout of panels."""
    for name in (x, y, color, facet):
        if name is not None and name not in df.columns:
            raise InputFormatError(f"the sweep table has no column {name!r}; columns: "
                                   f"{[c for c in df.columns if not str(c).startswith('_')]}")
    if kind not in KINDS:
        raise InputFormatError(f"kind must be one of {KINDS}, got {kind!r}")
    if not pd.api.types.is_numeric_dtype(df[y]):
        raise InputFormatError(f"column {y!r} is not numeric; pick a numeric output for y")
    cols = list(dict.fromkeys(c for c in (x, y, color, facet) if c is not None))
    data = df[cols].dropna(subset=[x, y])
    opts = dict(height=height, responsive=True, logx=logx, logy=logy, show_grid=True,
                tools=["hover"], legend_position="right", xlabel=x, ylabel=y)
    if facet is None:
        return _one_panel(data, x, y, color, kind).opts(**opts, backend="bokeh")
    panels = [_one_panel(sub, x, y, color, kind, title=f"{facet} = {_label(val)}")
              .opts(**{**opts, "height": max(220, height * 2 // 3)}, backend="bokeh")
              for val, sub in data.groupby(facet, sort=True)]
    return hv.Layout(panels).cols(min(3, max(1, len(panels)))).opts(shared_axes=True,
                                                                    backend="bokeh")
