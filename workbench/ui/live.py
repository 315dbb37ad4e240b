"""The live-figure kit: render a HoloViews element once, in the page's Bokeh theme, then
update it in place by name. Every explorer draws through it.

    fig = LiveFigure(css_class="wb-hessian-density", min_height=380)
    fig.render(viz.hessian.density_plot(...))        # once per costly result
    fig.write("SLQ", viz.hessian.density_columns(view))   # a cheap slider step
    fig.set_range("y", 0.0, 3.5); fig.move_spans(view.step); fig.set_title("...")
    pn.Column(fig)                                    # a LiveFigure is a Panel viewable

Why: re-rendering a HoloViews object rebuilds the Bokeh figure (50-500 ms per step and a
re-layout in the browser); writing new columns into the rendered figure's data sources
sends one small message and the browser redraws only the glyphs.

Names: an overlaid element's source is found by the element's label (or its group when it
has no label), a legend entry's by its text; ``names`` lists them after ``render``. Writes
use the column names of the viz function's ``*_columns`` (HoloViews' sanitized forms, e.g.
"Ritz value" -> "Ritz_value", are filled in). Cost of each update: O(new data) on the
server, one websocket message per changed model.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Iterable, Mapping

import panel as pn
from panel.io import hold  # one message to the browser for every change made inside

from workbench.ui import figure_cache
from workbench.ui.session import served

__all__ = ["LiveFigure", "hold", "render_themed", "set_changed"]


# HoloViews/Bokeh rendering is not thread-safe (two plots built at once in a notebook or a
# test -- a worker thread's delivery beside the main thread -- left a figure with a text
# title: "'str' object has no attribute 'update'"): one render at a time per process.
_RENDER_LOCK = threading.RLock()


def render_themed(element):
    """`element` rendered to a Bokeh model in the current page's Bokeh theme (the dark
    template sets one on the document; the plain renderer would write its light defaults
    into every figure), in a document of its own (HoloViews hooks a plot to its
    document's end: on the page's document every replaced figure would stay alive until
    the tab closes). Returns the HoloViews plot (``plot.state`` is the Bokeh model)."""
    import holoviews as hv
    from bokeh.document import Document
    from bokeh.io.doc import patch_curdoc

    renderer = hv.renderer("bokeh")
    theme = getattr(pn.state.curdoc, "theme", None)
    if theme is not None and theme._json.get("attrs"):
        renderer = renderer.instance(theme=theme)
    doc = Document()
    # HoloViews' renderer outside its "server" mode ignores `doc` and hooks the plot to
    # Bokeh's curdoc(), then sets the theme on it: the page's own document, or a warm-up
    # page's document that Panel had already destroyed ("'Document' object has no
    # attribute '_theme'": a tab drawn when first shown stayed empty)
    with _RENDER_LOCK, patch_curdoc(doc):
        return renderer.get_plot(element, doc=doc)


def set_changed(model, **props) -> None:
    """Set only the properties of a Bokeh `model` that change (an unchanged value sends no
    message to the browser)."""
    changed = {k: v for k, v in props.items() if getattr(model, k) != v}
    if changed:
        model.update(**changed)


def _label(item) -> str:
    return str(getattr(item.label, "value", item.label))


def _sources(plot) -> dict:
    """{name: ColumnDataSource} of a rendered HoloViews plot: each overlaid element's by
    its label (or group, or position), then legend entries' by their text."""
    out: dict = {}
    subplots = getattr(plot, "subplots", None) or {}
    frames = [(sub, sub.current_frame) for sub in subplots.values()] if subplots else \
        [(plot, plot.current_frame)]
    for i, (sub, frame) in enumerate(frames):
        if frame is None or "source" not in getattr(sub, "handles", {}):
            continue
        name = frame.label or (frame.group if frame.group != type(frame).__name__ else "")
        out.setdefault(name or str(i), sub.handles["source"])
    fig = plot.state
    for legend in getattr(fig, "legend", []) or []:
        for item in legend.items:
            if item.renderers:
                out.setdefault(_label(item), item.renderers[0].data_source)
    return out


class LiveFigure(pn.viewable.Viewer):
    """A figure that is rendered once per costly result and updated in place for every
    cheap view change (see the module docstring). ``pane`` is the Panel pane holding it;
    ``figure`` the Bokeh model (None before the first ``render``)."""

    def __init__(self, css_class: str | None = None, min_height: int = 300,
                 **pane_params):
        from bokeh.models import Div

        super().__init__()
        pane_params.setdefault("sizing_mode", "stretch_width")
        # shown while nothing is drawn: a browser test finds a figure left empty by it
        self.placeholder = Div(text="", css_classes=["wb-figure-empty"])
        self.pane = pn.pane.Bokeh(self.placeholder, min_height=min_height,
                                  css_classes=[css_class] if css_class else [],
                                  **pane_params)
        self.figure = None
        self.sources: dict = {}
        self.layers: list = []
        self.renders = 0
        self._spans = None  # the figure's Span models, found once per render

    def __panel__(self):
        return self.pane

    # ------------------------------------------------------------------ render once
    def render(self, element, *, auto_range: Iterable[str] = (),
               starts: Mapping[str, float] | None = None,
               key: Hashable | None = None) -> LiveFigure:
        """Draw `element` (replacing what was drawn). `auto_range`: axes ("x", "y") the
        browser fits to the data on every later write (a DataRange1d, 10% padding, with
        ``starts[axis]`` fixed when given). Returns self. Cost: one HoloViews render.

        `key`: the result objects drawn (compared by identity) and every view setting the
        viz function reads. Given, the figure is rendered once per process and page theme
        and later renders with the same key clone its Bokeh models (``figure_cache``);
        `element` may then be a function returning it, called only when it is rendered.

        After it ``sources`` maps names to data sources and ``layers`` lists an Overlay's
        sources in drawing order (for overlays whose layers share a label, e.g. a line and
        its points)."""
        cached = figure_cache.lookup(key) if key is not None else None
        if cached is not None:
            figure, self.sources, self.layers = cached
        else:
            import holoviews as hv

            if not isinstance(element, hv.core.Dimensioned):  # (HoloViews objects are callable)
                element = element()  # a function returning the element
            plot = render_themed(element)
            figure = plot.state
            self.sources = _sources(plot)
            # an Overlay's sources in drawing order (None: a layer drawn without one)
            self.layers = ([sub.handles.get("source") for sub in plot.subplots.values()]
                           if isinstance(element, hv.Overlay) else [])
            if key is not None:
                figure_cache.store(key, figure, self.sources, self.layers)
        self.figure, self._spans = figure, None
        for axis in auto_range:
            self.auto_range(axis, (starts or {}).get(axis))
        self.pane.object = self.figure
        self.renders += 1
        return self

    def clear(self) -> None:
        """Show nothing until the next render."""
        self.figure, self.sources, self.layers, self._spans = None, {}, [], None
        self.pane.object = self.placeholder

    @property
    def names(self) -> list[str]:
        """Names of the sources ``write`` can update."""
        return list(self.sources)

    # ------------------------------------------------------------------ update in place
    def source(self, name: str):
        """The ColumnDataSource called `name` (KeyError naming the known ones)."""
        try:
            return self.sources[name]
        except KeyError:
            raise KeyError(f"no source {name!r} in this figure; it has "
                           f"{self.names}") from None

    def write(self, name: str, columns: Mapping, color: str | None = None) -> None:
        """Replace the data of source `name` with `columns` ({column: values}); columns
        are matched by name or HoloViews' sanitized name; `color`: the column HoloViews
        colour-maps (its values go to the "color" column)."""
        from holoviews.core.util import dimension_sanitizer

        src = self.source(name)
        named = dict(columns)
        for key, values in columns.items():
            named.setdefault(dimension_sanitizer(key), values)
        if color is not None:
            named["color"] = columns[color]
        missing = [k for k in src.data if k not in named]
        if missing:
            raise KeyError(f"source {name!r} needs columns {missing}; got {list(columns)}")
        src.data = {key: named[key] for key in src.data}

    def write_layers(self, columns: list[Mapping]) -> bool:
        """Write ``columns[i]`` into the source of the i-th overlaid layer (``layers``)
        when they fit what is drawn: as many layers, each with the same column names.
        Returns False, writing nothing, when they do not (the caller renders anew)."""
        if len(self.layers) != len(columns) or any(
                src is None or set(src.data) != set(cols)
                for src, cols in zip(self.layers, columns, strict=True)):
            return False
        for src, cols in zip(self.layers, columns, strict=True):
            src.data = dict(cols)
        return True

    def patch(self, name: str, columns: Mapping) -> None:
        """Replace only the columns `columns` ({column: values}, each as long as the
        source's) of source `name`; the others stay (``write`` would send x and y to the
        browser again). One message with those columns only."""
        src = self.source(name)
        unknown = [k for k in columns if k not in src.data]
        if unknown:
            raise KeyError(f"source {name!r} has no columns {unknown}; it has {list(src.data)}")
        src.data.update(columns)

    def set_range(self, axis: str, start: float, end: float, reset: bool = False) -> None:
        """Fix `axis` ("x" or "y") to [start, end] (no message when unchanged); with
        `reset` the toolbar's reset returns there too. A categorical axis is left alone."""
        rng = getattr(self.figure, f"{axis}_range", None)
        if rng is None or hasattr(rng, "factors"):
            return
        props = dict(start=float(start), end=float(end))
        if reset and "reset_start" in rng.properties():  # a Range1d (DataRange1d has none)
            props.update(reset_start=float(start), reset_end=float(end))
        set_changed(rng, **props)

    def set_axis_label(self, axis: str, text: str) -> None:
        """The label of every `axis` ("x" or "y") axis of the figure."""
        for ax in getattr(self.figure, f"{axis}axis", None) or []:
            set_changed(ax, axis_label=text)

    def auto_range(self, axis: str, start: float | None = None) -> None:
        """Let the browser fit `axis` to the data on every update (log-aware, 10% padding),
        optionally with a fixed `start`."""
        from bokeh.models import DataRange1d

        if self.figure is None:
            return
        rng = DataRange1d(range_padding=0.1)
        if start is not None:
            rng.start = float(start)
        setattr(self.figure, f"{axis}_range", rng)

    def set_factors(self, axis: str, factors: list) -> None:
        """Categorical axis factors (only sent when they change)."""
        rng = getattr(self.figure, f"{axis}_range", None)
        if rng is not None and list(rng.factors) != list(factors):
            rng.factors = list(factors)

    def set_title(self, text: str) -> None:
        if self.figure is not None and getattr(self.figure, "title", None) is not None:
            set_changed(self.figure.title, text=text)

    def spans(self, dimension: str | None = "height", dashed: bool | None = None) -> list:
        """The marker lines of the figure (hv.VLine -> Span of dimension "height",
        hv.HLine -> "width"; None: both); `dashed` keeps only dashed (True) or solid
        (False) ones."""
        from bokeh.models import Span

        if self.figure is None:
            return []
        if self._spans is None:
            # a figure's annotations sit in its own lists: reading them costs microseconds,
            # where Bokeh's select() walks every model reachable (40+ ms a call under load)
            lists = [getattr(self.figure, name, None) for name in ("center", "renderers",
                                                                  "above", "below")]
            if all(v is None for v in lists):  # a layout of figures: walk it once
                found = list(self.figure.select({"type": Span}))
            else:
                found = [m for v in lists if v for m in v if isinstance(m, Span)]
            self._spans = found
        out = [s for s in self._spans if dimension in (None, s.dimension)]
        if dashed is not None:
            out = [s for s in out if (s.line_dash not in ("solid", [])) == dashed]
        return out

    def move_spans(self, location: float, dimension: str = "height",
                   dashed: bool | None = None) -> None:
        """Move every marker line of `dimension` to `location`."""
        for span in self.spans(dimension, dashed):
            set_changed(span, location=float(location))

    def legend_items(self) -> dict:
        """{legend text: LegendItem} (to hide or show a role: ``set_changed(item,
        visible=...)``)."""
        if self.figure is None:
            return {}
        return {_label(item): item for legend in getattr(self.figure, "legend", [])
                for item in legend.items}

    def show_curve(self, name: str, label: str) -> None:
        """Show the renderers drawing source `name` with legend text `label`; hide them and
        their legend entry when `label` is empty."""
        from bokeh.core.property.vectorization import value
        from bokeh.models import GlyphRenderer

        if self.figure is None:
            return
        src, shown = self.source(name), bool(label)
        drawn = [r for r in self.figure.renderers
                 if isinstance(r, GlyphRenderer) and r.data_source is src]
        for r in drawn:
            set_changed(r, visible=shown)
        for item in self.legend_items().values():
            if any(r in item.renderers for r in drawn):
                if shown and getattr(item.label, "value", item.label) != label:
                    item.label = value(label)
                set_changed(item, visible=shown)

    def move_span(self, name: str, x: float) -> None:
        """Move the marker line named `name` (a viz hook names it) to `x`; hide it when
        `x` is not finite."""
        if self.figure is None:
            return
        span = next((s for s in self.spans(None) if s.name == name), None)
        if span is None:
            raise KeyError(f"no marker line {name!r} in this figure")
        shown = math.isfinite(x)
        set_changed(span, location=float(x) if shown else 1.0, visible=shown)

    def write_columns(self, columns: Mapping, reset: bool = True) -> None:
        """Write a viz ``*_columns`` dict into the figure (rendered from the matching
        ``*_plot``): ``sources`` {name: columns}, ``labels`` {source name: legend text, ""
        hides}, ``spans`` {marker name: x, NaN hides}, ``title``, ``xlim``, ``ylim`` (the
        reset tool's range too when `reset`); each key optional. Cost: O(new data), one
        message per changed model."""
        if self.figure is None:
            return
        for name, cols in columns.get("sources", {}).items():
            self.write(name, cols)
        for name, label in columns.get("labels", {}).items():
            self.show_curve(name, label)
        for name, x in columns.get("spans", {}).items():
            self.move_span(name, x)
        if "title" in columns:
            self.set_title(columns["title"])
        for axis in ("x", "y"):
            if f"{axis}lim" in columns:
                self.set_range(axis, *columns[f"{axis}lim"], reset=reset)

    def push(self) -> None:
        """In a notebook, send the in-place changes to the page (Panel pushes only the
        changes it makes itself; a served page receives them as they happen)."""
        if not served(pn.state.curdoc):
            try:
                pn.io.push_notebook(self.pane)
            except Exception:  # noqa: BLE001 - not displayed anywhere yet
                pass
