"""Rendered figures kept per process, for ``LiveFigure.render(..., key=...)``.

The first view of an app is the same for every session: its figures are rendered once
per process and page theme, kept serialized, and each later session gets new Bokeh models
decoded from that text (fresh ids, so two copies can live in one document). Decoding costs
a third to a half of a HoloViews render of the same figure. ``lookup(key)`` /
``store(key, figure, sources, layers)``; the key's result objects are compared by identity
and kept alive with their entry (their ids cannot be reused meanwhile).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable

import panel as pn

#: Figures kept (the least recently used goes first).
FIGURE_CACHE_SIZE = 96
_FIGURES: OrderedDict = OrderedDict()
_FIGURES_LOCK = threading.Lock()
_ID = re.compile(r'"id":"([^"]+)"')


def clear_figure_cache() -> None:
    """Forget every rendered figure kept by ``LiveFigure.render(..., key=...)``."""
    with _FIGURES_LOCK:
        _FIGURES.clear()


def theme_key() -> str:
    """The current page's Bokeh theme as text (part of a cached figure's key)."""
    theme = getattr(pn.state.curdoc, "theme", None)
    if theme is None or not theme._json.get("attrs"):
        return ""
    return json.dumps(theme._json, sort_keys=True, default=str)


def _identity(key, objects: list):
    """`key` with every part that is not a number, string, None or tuple of them
    replaced by its identity (results are compared as the objects they are, not by
    value), those objects appended to `objects`."""
    if key is None or isinstance(key, (str, bytes, int, float, bool)):
        return key
    if isinstance(key, tuple):
        return tuple(_identity(part, objects) for part in key)
    objects.append(key)
    return ("id", type(key).__name__, id(key))


def _freeze(figure, sources: dict, layers: list) -> tuple | None:
    """(serialized text, {source name: id}, [layer source id or None]) of a rendered
    figure, or None when it cannot be cloned (Python callbacks). A source the figure does
    not draw is kept as its data."""
    from bokeh.core.serialization import Serializer

    models = figure.references()  # (one walk of the model graph, for both uses)
    # Python-side callbacks (a HoloViews stream, a tap handler) do not survive serialization
    if any(getattr(m, "_callbacks", None) or getattr(m, "_event_callbacks", None)
           for m in models):
        return None
    content = Serializer(deferred=False).serialize(figure).content

    def ref(src):  # a source the figure does not draw (a VLine's) is kept as its data
        return None if src is None else src.id if src in models else dict(src.data)

    return (json.dumps(content, separators=(",", ":")),
            {name: ref(src) for name, src in sources.items()}, [ref(s) for s in layers])


def _thaw(frozen: tuple):
    """New Bokeh models (fresh ids) from a ``_freeze`` result: (figure, sources, layers).
    Cost: O(models + data) -- JSON decoding and Bokeh model construction, no HoloViews."""
    from bokeh.core.serialization import Deserializer
    from bokeh.models import ColumnDataSource
    from bokeh.util.serialization import make_id

    text, source_ids, layer_ids = frozen[:3]
    fresh: dict[str, str] = {}

    def new_id(match) -> str:
        old = match.group(1)
        if old not in fresh:
            fresh[old] = make_id()
        return f'"id":"{fresh[old]}"'

    decoder = Deserializer()
    figure = decoder.deserialize(json.loads(_ID.sub(new_id, text)))
    models = decoder._references

    def source(ref):
        if isinstance(ref, dict):
            return ColumnDataSource(data=dict(ref))
        return None if ref is None else models[fresh[ref]]

    return (figure, {name: source(r) for name, r in source_ids.items()},
            [source(r) for r in layer_ids])


def lookup(key: Hashable):
    """(figure, {name: source}, [layer source]) -- new models cloned from the figure
    stored under `key` for the current page theme -- or None when none is stored."""
    full = (_identity(key, []), theme_key())
    with _FIGURES_LOCK:
        frozen = _FIGURES.get(full)
        if frozen is not None:
            _FIGURES.move_to_end(full)
    return None if frozen is None else _thaw(frozen)


def store(key: Hashable, figure, sources: dict, layers: list) -> bool:
    """Keep the just-rendered `figure` (with its named `sources` and overlay `layers`)
    under `key` and the current page theme; False (nothing kept) when the figure carries
    Python callbacks. The least recently used entry goes beyond FIGURE_CACHE_SIZE."""
    objects: list = []  # kept alive with the entry: their ids are not reused
    full = (_identity(key, objects), theme_key())
    frozen = _freeze(figure, sources, layers)
    if frozen is None:
        return False
    with _FIGURES_LOCK:
        _FIGURES[full] = (*frozen, objects)
        while len(_FIGURES) > FIGURE_CACHE_SIZE:
            _FIGURES.popitem(last=False)
    return True

