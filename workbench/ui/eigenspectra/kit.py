"""Small generic additions to the live-figure kit (``workbench.ui.live``) this explorer
needs; candidates to lift into ``LiveFigure``:

- :func:`write_columns`: write a viz ``*_columns`` dict (sources, legend labels, named
  marker lines, title, limits) into a figure rendered from the matching ``*_plot``.
- :func:`show_curve`: set the legend text of a named source's curve, or hide it and its
  legend entry when the text is empty.
- :func:`move_span`: move the marker line a viz hook named, or hide it (NaN).
- :func:`set_limits`: fix an axis range and the reset tool's range with it.
"""

from __future__ import annotations

import math

from workbench.ui.live import LiveFigure, set_changed

__all__ = ["write_columns", "show_curve", "move_span", "set_limits"]


def show_curve(fig: LiveFigure, name: str, label: str) -> None:
    """Show the renderers drawing source `name` with legend text `label`; hide them and
    their legend entry when `label` is empty."""
    from bokeh.core.property.vectorization import value
    from bokeh.models import GlyphRenderer

    if fig.figure is None:
        return
    src = fig.source(name)
    shown = bool(label)
    renderers = [r for r in fig.figure.renderers
                 if isinstance(r, GlyphRenderer) and r.data_source is src]
    for r in renderers:
        set_changed(r, visible=shown)
    for item in fig.legend_items().values():
        if any(r in item.renderers for r in renderers):
            if shown and getattr(item.label, "value", item.label) != label:
                item.label = value(label)
            set_changed(item, visible=shown)


def move_span(fig: LiveFigure, name: str, x: float) -> None:
    """Move the marker line named `name` (a viz hook names it) to `x`; hide it when `x`
    is not finite."""
    from bokeh.models import Span

    if fig.figure is None:
        return
    # the figure's own lists, not select(): that walks every model of the figure (~40 ms)
    span = next((r for r in (*fig.figure.renderers, *fig.figure.center)
                 if isinstance(r, Span) and r.name == name), None)
    if span is None:
        raise KeyError(f"no marker line {name!r} in this figure")
    shown = math.isfinite(x)
    set_changed(span, location=float(x) if shown else 1.0, visible=shown)


def set_limits(fig: LiveFigure, axis: str, lim) -> None:
    """Fix `axis` ("x" or "y") to `lim` = (start, end), the reset tool's range too."""
    if fig.figure is None:
        return
    lo, hi = float(lim[0]), float(lim[1])
    set_changed(getattr(fig.figure, f"{axis}_range"), start=lo, end=hi, reset_start=lo,
                reset_end=hi)


def write_columns(fig: LiveFigure, columns: dict) -> None:
    """Write a viz ``*_columns`` dict into `fig` (rendered from the matching ``*_plot``
    with ``complete=True``): ``sources`` {name: columns}, ``labels`` {source name: legend
    text, "" hides}, ``spans`` {marker name: x, NaN hides}, ``title``, ``xlim``,
    ``ylim``; each key optional. Cost: O(new data), one message per changed model."""
    for name, cols in columns.get("sources", {}).items():
        fig.write(name, cols)
    for name, label in columns.get("labels", {}).items():
        show_curve(fig, name, label)
    for name, x in columns.get("spans", {}).items():
        move_span(fig, name, x)
    if "title" in columns:
        fig.set_title(columns["title"])
    for axis in ("x", "y"):
        if f"{axis}lim" in columns:
            set_limits(fig, axis, columns[f"{axis}lim"])
