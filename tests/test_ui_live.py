"""The live-figure kit (workbench.ui.live) without a browser: render once, then every
update lands in the rendered Bokeh models, by name, without a new render."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pytest

import workbench.ui.live as live
from workbench.ui import figure_cache
from workbench.ui.live import LiveFigure, hold, set_changed

hv.extension("bokeh", logo=False)


def _overlay():
    x = np.linspace(0, 1, 5)
    return (hv.Curve((x, x**2), "x", "y", label="square")
            * hv.Scatter((x, x), "x", "y", label="square")   # a second layer, same label
            * hv.Curve((x, 1 - x), "x", "y", label="falling")
            * hv.VLine(0.5).opts(line_dash="dashed")
            * hv.VLine(0.2)).opts(title="start")


def test_render_names_sources_and_layers():
    fig = LiveFigure("wb-test", min_height=200).render(_overlay())
    assert fig.renders == 1 and fig.pane.object is fig.figure
    assert {"square", "falling"} <= set(fig.names)
    assert len(fig.layers) == 5 and fig.layers[0] is not fig.layers[1]  # same label, both
    assert dict(fig.layers[3].data) == {}  # a VLine: a Span, with an empty source
    assert "wb-test" in fig.pane.css_classes


def test_write_by_name_and_layers_in_place():
    fig = LiveFigure().render(_overlay())
    figure, src = fig.figure, fig.source("falling")
    fig.write("falling", {"x": [0.0, 1.0], "y": [3.0, 4.0]})
    assert list(src.data["y"]) == [3.0, 4.0] and fig.figure is figure and fig.renders == 1
    with pytest.raises(KeyError, match="needs columns"):
        fig.write("falling", {"x": [0.0]})
    with pytest.raises(KeyError, match="no source 'nope'"):
        fig.write("nope", {})
    cols = [dict(layer.data) for layer in fig.layers]
    new = [{k: np.asarray(v) * 0 + i for k, v in c.items()} for i, c in enumerate(cols)]
    assert fig.write_layers(new[:2]) is False  # too few: nothing written
    assert list(fig.layers[0].data["y"]) == list(cols[0]["y"])
    assert fig.write_layers(new) is True
    assert list(fig.layers[1].data["y"]) == [1] * 5 and fig.renders == 1
    fits = LiveFigure().render(hv.Curve([1, 2]) * hv.Scatter([3, 4]))
    cols = [dict(src.data) for src in fits.layers]
    assert fits.write_layers([{k: np.asarray(v) + 1 for k, v in c.items()} for c in cols])
    assert list(fits.layers[1].data["y"]) == [4, 5]
    assert not fits.write_layers([{"other": [1]}, cols[1]])  # other columns: render anew


def test_ranges_titles_labels_spans_and_legend():
    fig = LiveFigure().render(_overlay())
    fig.set_range("y", -1, 2, reset=True)
    rng = fig.figure.y_range
    assert (rng.start, rng.end, rng.reset_start, rng.reset_end) == (-1, 2, -1, 2)
    fig.set_range("x", 0, 3)
    assert fig.figure.x_range.end == 3 and fig.figure.x_range.reset_end != 3
    fig.auto_range("y", start=0.0)
    assert type(fig.figure.y_range).__name__ == "DataRange1d"
    assert fig.figure.y_range.start == 0.0
    fig.set_range("y", 1, 5, reset=True)  # a DataRange1d has no reset: start/end only
    assert (fig.figure.y_range.start, fig.figure.y_range.end) == (1, 5)
    fig.set_title("moved")
    assert fig.figure.title.text == "moved"
    fig.set_axis_label("y", "density")
    assert fig.figure.yaxis[0].axis_label == "density"
    assert len(fig.spans()) == 2 and len(fig.spans(dashed=True)) == 1
    fig.move_spans(0.7, dashed=True)
    assert sorted(s.location for s in fig.spans()) == [0.2, 0.7]
    assert {"square", "falling"} <= set(fig.legend_items())


def test_categorical_axis_is_left_alone():
    fig = LiveFigure().render(hv.Bars([("a", 1), ("b", 2)], "k", "v"))
    fig.set_range("x", 0, 1, reset=True)  # factors, not numbers: nothing to set
    assert list(fig.figure.x_range.factors) == ["a", "b"]
    fig.set_factors("x", ["b", "a"])
    assert list(fig.figure.x_range.factors) == ["b", "a"]


def test_before_a_render_updates_do_nothing():
    fig = LiveFigure()
    fig.set_range("x", 0, 1)
    fig.set_title("t")
    fig.set_axis_label("x", "t")
    assert fig.spans() == [] and fig.legend_items() == {} and fig.layers == []


def test_set_changed_sends_only_changes():
    fig = LiveFigure().render(_overlay())
    title, seen = fig.figure.title, []
    title.on_change("text", lambda attr, old, new: seen.append(new))
    set_changed(title, text="start")  # unchanged: no change event, so no message
    assert seen == []
    with hold():
        set_changed(title, text="held", align="left")
    assert seen == ["held"] and title.align == "left"
    fig.clear()
    assert fig.figure is None and fig.sources == {} and fig.layers == []


def test_spans_are_found_in_the_figure_and_moved():
    import holoviews as hv

    hv.extension("bokeh")
    fig = LiveFigure()
    fig.render(hv.Curve(([0, 1], [0, 1])) * hv.VLine(0.5) * hv.HLine(0.2).opts(line_dash="dashed"))
    assert len(fig.spans("height")) == 1 and len(fig.spans("width")) == 1
    assert fig.spans("width", dashed=True) and not fig.spans("width", dashed=False)
    fig.move_spans(0.75)
    assert fig.spans("height")[0].location == 0.75
    fig.render(hv.Curve(([0, 1], [0, 1])))  # a new figure: its own (no) spans
    assert fig.spans("height") == []


# ------------------------------------------- figures kept per process (ui.figure_cache)
def _model_ids(figure) -> set[str]:
    return {m.id for m in figure.references()}


def test_a_keyed_render_is_cloned_with_fresh_ids_and_the_same_names(monkeypatch):
    figure_cache.clear_figure_cache()
    calls = []
    real = live.render_themed
    monkeypatch.setattr(live, "render_themed", lambda el: calls.append(1) or real(el))
    made = []

    def element():
        made.append(1)
        return _overlay()

    key = ("test figure", 1)
    first = LiveFigure().render(element, key=key)
    second = LiveFigure().render(element, key=key)
    assert len(calls) == 1 and len(made) == 1  # HoloViews once; the element built once
    assert first.names == second.names and len(second.layers) == len(first.layers)
    assert not _model_ids(first.figure) & _model_ids(second.figure)  # fresh ids
    for name in first.names:
        a, b = first.source(name), second.source(name)
        assert a is not b and {k: list(v) for k, v in a.data.items()} == \
            {k: list(v) for k, v in b.data.items()}
    assert [s.location for s in second.spans()] == [s.location for s in first.spans()]
    assert second.figure.title.text == "start" and second.renders == 1
    # the clone is its own: writing into it leaves the first (and the next clone) alone
    second.write("falling", {"x": [0.0], "y": [9.0]})
    second.move_spans(0.9)
    assert list(first.source("falling").data["y"]) == [1.0, 0.75, 0.5, 0.25, 0.0]
    third = LiveFigure().render(element, key=key)
    assert list(third.source("falling").data["y"]) == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert sorted(s.location for s in third.spans()) == [0.2, 0.5]
    # several clones live in one document without an id clash
    from bokeh.document import Document

    doc = Document()
    for fig in (first, second, third):
        doc.add_root(fig.figure)
    assert len(doc.models) == sum(len(_model_ids(f.figure)) for f in (first, second, third))


def test_keys_compare_results_by_identity_and_keep_them_alive():
    import gc

    figure_cache.clear_figure_cache()

    class Result:  # equal by value, but another result: another figure
        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

    a, b = Result(), Result()
    x = np.linspace(0, 1, 4)
    LiveFigure().render(hv.Curve((x, x), "x", "y", label="a"), key=(a, "curve"))
    other = LiveFigure().render(hv.Curve((x, 2 * x), "x", "y", label="a"), key=(b, "curve"))
    assert list(other.source("a").data["y"]) == [0.0, 2 / 3, 4 / 3, 2.0]
    assert len(figure_cache._FIGURES) == 2
    ref = __import__("weakref").ref(a)
    del a
    gc.collect()
    assert ref() is not None  # its id cannot be handed to another result meanwhile
    figure_cache.clear_figure_cache()
    gc.collect()
    assert ref() is None


def test_another_theme_renders_anew_and_stream_figures_are_never_cloned(monkeypatch):
    figure_cache.clear_figure_cache()
    theme = [""]
    monkeypatch.setattr(figure_cache, "theme_key", lambda: theme[0])
    x = np.linspace(0, 1, 4)
    LiveFigure().render(hv.Curve((x, x), "x", "y", label="a"), key="themed")
    theme[0] = "dark"
    LiveFigure().render(hv.Curve((x, x), "x", "y", label="a"), key="themed")
    assert len(figure_cache._FIGURES) == 2
    # a HoloViews stream hangs a Python callback on the figure: rendered every time
    tapped = hv.DynamicMap(lambda x, y: hv.Points([(x or 0, y or 0)]),
                           streams=[hv.streams.Tap(x=0, y=0)])
    LiveFigure().render(hv.Scatter((x, x)) * tapped, key="tap")
    assert len(figure_cache._FIGURES) == 2


def test_an_empty_figure_shows_its_placeholder():
    """Before its first render and after ``clear`` a LiveFigure shows a Div of css class
    wb-figure-empty: what the browser test looks for to find a figure left empty."""
    fig = LiveFigure("wb-test", min_height=200)
    assert fig.figure is None and fig.pane.object is fig.placeholder
    assert "wb-figure-empty" in fig.placeholder.css_classes
    fig.render(_overlay())
    assert fig.pane.object is fig.figure
    fig.clear()
    assert fig.figure is None and fig.pane.object is fig.placeholder


def test_render_keeps_off_bokehs_current_document():
    """A figure is rendered in a document of its own, in the page's theme, whatever
    Bokeh's curdoc() is: in a served session's callback it could be a warm-up page's
    document that Panel had destroyed, and HoloViews set the theme on it ("'Document'
    object has no attribute '_theme'": the figure was never drawn)."""
    import panel as pn
    from bokeh.document import Document
    from bokeh.io.doc import patch_curdoc
    from panel.io.document import _cleanup_doc
    from panel.io.state import set_curdoc

    gone, page = Document(), Document()
    _cleanup_doc(gone, destroy=True)
    page.theme = pn.template.DarkTheme.bokeh_theme
    with patch_curdoc(gone), set_curdoc(page):
        plot = live.render_themed(hv.Curve([1.0, 2.0, 3.0]))
    assert plot.document is not gone and plot.document is not page
    assert plot.document.theme is page.theme   # the page's (dark) theme
    assert page.roots == []                    # nothing hooked to the page's document
