"""Plots of sweep tables: an output against a parameter, coloured by another, faceted by a
third. Pure functions: DataFrame in, HoloViews element out (no computing, no Panel).

    from workbench.sweep import load_sweep
    from workbench.viz.sweep import sweep_plot
    sweep_plot(load_sweep("runs/widths"), x="width", y="top_eig", color="seed")

``sweep_layers`` / ``layer_columns`` give the data each glyph draws, so that a dashboard
can render the plot once and write new data into it (a new entry of an array output).
"""

from __future__ import annotations

from dataclasses import dataclass

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options even before hv.extension
import numpy as np
import pandas as pd

from workbench.errors import InputFormatError

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
KINDS = ("points", "lines", "mean")


def _label(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


@dataclass(frozen=True)
class Layer:
    """One glyph of a sweep panel: what it draws ("Scatter": points, "Curve": points joined,
    "Mean": the mean per x, "ErrorBars": +-1 sd around it), its legend label, colour and
    the rows it draws (x and y; "Mean": x, "mean"; "ErrorBars": x, "mean", "std")."""

    element: str
    label: str
    color: str
    data: pd.DataFrame


def panel_layers(df: pd.DataFrame, x: str, y: str, color: str | None = None,
                 kind: str = "points") -> list[Layer]:
    """The layers of one panel, in drawing order: per colour group (sorted) its points, its
    points joined by a line (``kind="lines"``), or its mean with +-1 sd bars over the rows
    sharing an x (``"mean"``). Rows are sorted by x. Cost O(rows log rows)."""
    groups = [(None, df)] if color is None else list(df.groupby(color, sort=True))
    layers = []
    for i, (val, sub) in enumerate(groups):
        col = PALETTE[i % len(PALETTE)]
        label = "" if color is None else f"{color}={_label(val)}"
        sub = sub.sort_values(x, kind="stable")
        if kind == "mean":
            stats = sub.groupby(x, sort=True)[y].agg(["mean", "std"]).reset_index()
            stats["std"] = stats["std"].fillna(0.0)
            layers += [Layer("Mean", label, col, stats[[x, "mean"]]),
                       Layer("ErrorBars", "", col, stats[[x, "mean", "std"]])]
        else:
            if kind == "lines":
                layers.append(Layer("Curve", label, col, sub[[x, y]]))
            layers.append(Layer("Scatter", label, col, sub[[x, y]]))
    return layers


def layer_columns(layer: Layer) -> dict:
    """The columns of the Bokeh source HoloViews draws `layer` from: the layer's own
    columns, or for error bars ``base`` (x), ``lower`` and ``upper`` (mean -+ sd)."""
    d = layer.data
    if layer.element == "ErrorBars":
        x = d.columns[0]
        return {"base": d[x].to_numpy(), "lower": (d["mean"] - d["std"]).to_numpy(),
                "upper": (d["mean"] + d["std"]).to_numpy()}
    return {c: d[c].to_numpy() for c in d.columns}


def layers_extent(layers: list[Layer], axis: str = "y",
                  log: bool = False) -> tuple[float, float] | None:
    """(lowest, highest) value the layers draw along `axis` ("x" or "y", error bars
    included); with ``log`` only positive values count. None when nothing numeric is
    drawn (e.g. a categorical x)."""
    lo, hi = np.inf, -np.inf
    for layer in layers:
        cols = layer_columns(layer)
        if axis == "x":
            ys = (layer.data.iloc[:, 0].to_numpy(),)
        elif layer.element == "ErrorBars":
            ys = (cols["lower"], cols["upper"])
        else:
            ys = (layer.data.iloc[:, 1].to_numpy(),)
        for v in ys:
            try:
                v = np.asarray(v, dtype=float)
            except (TypeError, ValueError):  # categories: no numeric extent
                continue
            v = v[np.isfinite(v) & (v > 0)] if log else v[np.isfinite(v)]
            if v.size:
                lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
    return (lo, hi) if lo <= hi else None


def padded(lo: float, hi: float, log: bool = False, pad: float = 0.1) -> tuple[float, float]:
    """The axis range showing [lo, hi] with `pad` of its width on each side (in log10 on
    a log axis); a single value gets a range of +-pad of itself (+-pad when it is 0)."""
    if log:
        a, b = padded(np.log10(lo), np.log10(hi), False, pad)
        return 10.0**a, 10.0**b
    width = hi - lo
    if width <= 0:
        width = abs(lo) or 1.0
    return lo - pad * width, hi + pad * width


def sweep_limits(layers: list[Layer], logx: bool = False, logy: bool = False) -> dict:
    """``{"xlim": ..., "ylim": ...}`` fitting the axes to the layers' data (10% padding,
    in log10 on a log axis; ``LiveFigure.write_columns`` sets them); an axis with nothing
    numeric drawn (categories keep their factors) is left out."""
    limits = {}
    for axis, log in (("x", logx), ("y", logy)):
        extent = layers_extent(layers, axis, log)
        if extent is not None:
            limits[f"{axis}lim"] = padded(*extent, log=log)
    return limits


def _element(layer: Layer, x: str, y: str):
    if layer.element == "ErrorBars":
        return hv.ErrorBars(layer.data, x, ["mean", "std"]).opts(color=layer.color,
                                                                backend="bokeh")
    if layer.element == "Mean":
        return hv.Curve(layer.data, x, "mean", label=layer.label).opts(
            color=layer.color, line_width=2, backend="bokeh")
    if layer.element == "Curve":
        return hv.Curve(layer.data, x, y, label=layer.label).opts(
            color=layer.color, alpha=0.6, backend="bokeh")
    return hv.Scatter(layer.data, x, [y], label=layer.label).opts(
        color=layer.color, size=7, alpha=0.85, backend="bokeh")


def _one_panel(df: pd.DataFrame, x: str, y: str, color: str | None, kind: str,
               title: str = "") -> hv.Overlay:
    layers = [_element(layer, x, y) for layer in panel_layers(df, x, y, color, kind)]
    if not layers:
        layers.append(hv.Scatter([], x, y))
    return hv.Overlay(layers).opts(title=title, backend="bokeh")


def _rows(df: pd.DataFrame, x: str, y: str, color: str | None, facet: str | None,
          kind: str) -> pd.DataFrame:
    for name in (x, y, color, facet):
        if name is not None and name not in df.columns:
            raise InputFormatError(f"the sweep table has no column {name!r}; columns: "
                                   f"{[c for c in df.columns if not str(c).startswith('_')]}")
    if kind not in KINDS:
        raise InputFormatError(f"kind must be one of {KINDS}, got {kind!r}")
    if not pd.api.types.is_numeric_dtype(df[y]):
        raise InputFormatError(f"column {y!r} is not numeric; pick a numeric output for y")
    cols = list(dict.fromkeys(c for c in (x, y, color, facet) if c is not None))
    return df[cols].dropna(subset=[x, y])


def sweep_layers(df: pd.DataFrame, x: str, y: str, color: str | None = None,
                 kind: str = "points") -> list[Layer]:
    """The layers ``sweep_plot`` (without facet) draws for `df`: to write new data into a
    plot rendered once (see ``layer_columns``). Raises like ``sweep_plot``."""
    return panel_layers(_rows(df, x, y, color, None, kind), x, y, color, kind)


def sweep_plot(df: pd.DataFrame, x: str, y: str, color: str | None = None,
               facet: str | None = None, kind: str = "points", logx: bool = False,
               logy: bool = False, height: int = 380,
               ylabel: str | None = None) -> hv.Overlay | hv.Layout:
    """Scatter (``kind="points"``), points joined per colour group (``"lines"``) or the mean
    with +-1 standard deviation bars over the other parameters (``"mean"``) of column ``y``
    against ``x``; one colour per value of ``color``; one panel per value of ``facet``.
    Rows where x or y is missing are dropped. ``ylabel`` labels the y axis (default: y).
    Raises InputFormatError for unknown columns. Returns an hv.Overlay (no facet) or an
    hv.Layout of panels; their layers are ``panel_layers``."""
    data = _rows(df, x, y, color, facet, kind)
    opts = dict(height=height, responsive=True, logx=logx, logy=logy, show_grid=True,
                tools=["hover"], legend_position="right", xlabel=x, ylabel=ylabel or y)
    if facet is None:
        return _one_panel(data, x, y, color, kind).opts(**opts, backend="bokeh")
    panels = [_one_panel(sub, x, y, color, kind, title=f"{facet} = {_label(val)}")
              .opts(**{**opts, "height": max(220, height * 2 // 3)}, backend="bokeh")
              for val, sub in data.groupby(facet, sort=True)]
    return hv.Layout(panels).cols(min(3, max(1, len(panels)))).opts(shared_axes=True,
                                                                    backend="bokeh")


def sweep_info(browse, experiment: str, where: str) -> str:
    """The Markdown line above the sweep plot: how many results `experiment` has in
    `browse` (a ``workbench.sweep.browse.SweepBrowse``), the failed runs and older results
    left out, its parameters and the folder, named `where` (as the page may name it)."""
    failed = f", {browse.errors} failed" if browse.errors else ""
    if browse.older:
        failed += f" ({browse.older} older results of earlier code versions left out)"
    params = ", ".join(browse.offer(experiment).params) or "—"
    return (f"**{len(browse.rows(experiment))} results** of `{experiment}`{failed} · "
            f"parameters: {params} · folder `{where}`")
