"""Hessian explorer logic (no browser): staged background results, cheap view parameters
that never recompute, presets, errors as messages, export; and the viz functions. The
served page is covered by test_apps_browser."""

from __future__ import annotations

import dataclasses

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from helpers import wait_until

from workbench.hessian.experiments import PRESETS
from workbench.jobs import CACHE
from workbench.ui.hessian import HessianExplorer
from workbench.viz import hessian as vh

# a small setting so the three background stages take about a second
SMALL = dict(demo="custom", num_samples=160, width=12, steps=30, k=6, num_probes=2,
             num_steps=12, trace_matvecs=12)




def _done(ex) -> bool:
    """All three stages shown."""
    return ex.result is not None and ex.result.compare is not None


@pytest.fixture(scope="module")
def explorer():
    ex = HessianExplorer(**SMALL)
    wait_until(lambda: _done(ex) or ex.message)
    assert ex.message == ""
    return ex


def _figs(ex) -> dict:
    """{name: rendered Bokeh figure} of every LiveFigure of the explorer."""
    return {"density": ex.spectrum.density.figure, "top": ex.spectrum.top.figure,
            "over": ex.spectrum.over.figure, "loss": ex.training.loss.figure,
            "sharp": ex.training.sharp.figure, "cmp_density": ex.compare.density.figure,
            "cmp_top": ex.compare.top.figure}


def _renderers(fig) -> list:
    from bokeh.models import GlyphRenderer

    return [r for r in fig.renderers if isinstance(r, GlyphRenderer)]


def _points(fig) -> int:
    """Data points plotted in a rendered Bokeh figure (all glyphs)."""
    return sum(len(next(iter(r.data_source.data.values()), ())) for r in _renderers(fig))


def _data(fig) -> dict:
    """{(glyph type, legend label or position): column data} of a rendered figure, to
    compare a figure updated in place with one rendered from scratch."""
    labels = {id(r): str(getattr(i.label, "value", i.label)) for lg in fig.legend
              for i in lg.items for r in i.renderers}
    out = {}
    for n, r in enumerate(_renderers(fig)):
        key = (type(r.glyph).__name__, labels.get(id(r), n))
        out[key] = {k: list(v) for k, v in r.data_source.data.items()}
    return out


def _assert_same_data(live, fresh) -> None:
    a, b = _data(live), _data(fresh)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].keys() == b[key].keys(), key
        for col in a[key]:
            x, y = a[key][col], b[key][col]
            if x and isinstance(x[0], str):
                assert x == y, (key, col)
            else:
                np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float),
                                           rtol=1e-12, err_msg=str((key, col)))


@pytest.mark.slow
def test_stages_fill_every_plot(explorer):
    ex = explorer
    assert ex.runs == 1 and ex.result.checkpoints is not None
    assert ex.result.steps() == [0, 8, 15, 22, 30]
    for name, fig in _figs(ex).items():
        assert fig is not None and _points(fig) >= 2, name
    assert all(f.pane.object is f.figure for f in ex.figures())
    assert "outliers" in ex._summary.object and "trace" in ex._summary.object
    assert "ggn" in ex.compare.info.object and "fisher" in ex.compare.info.object
    # k is raised to 2C + 2 so the bulk's edge is among the top-k
    assert len(ex.result.at(ex.checkpoint).top_values) == 2 * 4 + 2


def _fresh(ex) -> HessianExplorer:
    """A second explorer on the same results and view, its plots rendered from scratch."""
    other = HessianExplorer(**SMALL, broadening=ex.broadening, checkpoint=ex.checkpoint,
                            logy=ex.logy)
    other._requested = ex._requested
    other.result = ex.result
    other._refresh()
    return other


@pytest.mark.slow
def test_view_parameters_replot_in_place_without_recomputing(explorer):
    ex = explorer
    calls = []
    orig = ex.run_background
    ex.run_background = lambda *a, **k: calls.append(a) or orig(*a, **k)
    figs = _figs(ex)
    renders = [f.renders for f in ex.figures()]
    try:
        area = ex.spectrum.density.source("0")
        y0 = np.asarray(area.data["y"]).max()
        ex.broadening = 2.0
        # a wider Gaussian: a lower peak (same area); the same figure, new data
        assert np.asarray(area.data["y"]).max() < y0 and calls == []
        assert ex.spectrum.density.figure is figs["density"]
        ex.checkpoint = 0
        assert ex.result.at(ex.checkpoint).step == 0 and "step 0" in ex._summary.object
        assert "step 0" in ex.spectrum.density.figure.title.text
        assert "step 0" in ex._checkpoint_widget.name
        assert _figs(ex) == figs and [f.renders for f in ex.figures()] == renders
        assert calls == []
        # nothing stale: the updated plots hold what plots rendered anew would show
        fresh = _figs(_fresh(ex))
        for pane in ("density", "top", "over", "loss", "sharp", "cmp_density"):
            live, new = figs[pane], fresh[pane]
            _assert_same_data(live, new)
            for rng in ("x_range", "y_range"):
                a, b = getattr(live, rng), getattr(new, rng)
                if hasattr(a, "start"):
                    assert (a.start, a.end) == pytest.approx((b.start, b.end)), (pane, rng)
            assert live.title.text == new.title.text
        spans = [s for f in (ex.spectrum.over, ex.training.loss, ex.training.sharp)
                 for s in f.spans()]
        assert len(spans) == 3 and {s.location for s in spans} == {0.0}
        ex.logy = False
        assert calls == []
        assert ex.spectrum.density.figure.y_range.start == 0.0
        _assert_same_data(ex.spectrum.density.figure, _fresh(ex).spectrum.density.figure)
    finally:
        ex.run_background = orig
        ex.param.update(broadening=1.0, checkpoint=4, logy=True)


@pytest.mark.slow
def test_a_session_that_is_gone_keeps_results_but_draws_nothing(explorer):
    """Panel's warm-up run at server start builds an explorer in a session that is gone
    by the time its results arrive (in a worker thread): they are kept and cached, but
    nothing is rendered (that would touch the document the server is building then)."""
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    with set_curdoc(Document()):
        ex = HessianExplorer(**SMALL)  # its onload never runs: no session
    assert ex.detached()
    ex._requested = explorer._requested
    first = dataclasses.replace(explorer.result, checkpoints=None, compare=None)
    ex._set_run(ex._requested, first)  # the later stages come from the cache at once
    assert ex.result.checkpoints is not None and ex.result.compare is not None
    assert all(f.figure is None and f.pane.object is f.placeholder for f in ex.figures())
    assert not explorer.detached()


@pytest.mark.slow
def test_export_is_the_view(explorer):
    df = explorer.export_data()
    assert set(df["series"]) == {"density", "top eigenvalue", "sharpness"}
    top = df[df["series"] == "top eigenvalue"]
    np.testing.assert_array_equal(top["y"].to_numpy(),
                                  explorer.result.at(explorer.checkpoint).top_values)
    dens = df[df["series"] == "density"]
    assert np.trapezoid(dens["y"], dens["x"]) == pytest.approx(1.0, abs=0.02)


@pytest.mark.slow
def test_settings_recompute_in_background_and_cache(explorer):
    ex = HessianExplorer(**SMALL)
    wait_until(lambda: _done(ex))
    assert ex.runs == 1  # the module fixture's results came from the shared cache
    ex.settings.width = 10
    wait_until(lambda: ex.runs == 2 and _done(ex))
    assert ex.result.experiment.config.width == 10 and ex.demo == "custom"
    # every stage is a keyed request: cached (and shared in flight) by the settings
    stages = {k[1][-1] for k in CACHE._data if k[0] == "HessianExplorer"}
    assert {"checkpoints", "compare"} <= stages
    assert any(k[1][:2] == ("run", ex.settings.key()) for k in CACHE._data)


def test_preset_sets_the_settings_and_editing_leaves_it():
    ex = HessianExplorer(**SMALL)
    ex._compute = lambda force=False: None  # logic only: no background work here
    ex.demo = "edge of stability (Cohen et al.)"
    pre, s = PRESETS["edge_of_stability"], ex.settings
    assert (s.optimizer, s.loss, s.lr, s.steps) == (pre.optimizer, pre.loss, pre.lr,
                                                    pre.steps)
    assert ex.demo == "edge of stability (Cohen et al.)"
    s.lr = 0.5
    assert ex.demo == "custom"
    ex.demo = "bulk + outliers (Sagun et al.)"
    assert s.width == PRESETS["bulk_and_outliers"].width and s.optimizer == "sgd"


@pytest.mark.slow
def test_bad_settings_show_a_message_and_keep_the_view():
    ex = HessianExplorer(**SMALL)
    wait_until(lambda: ex.result is not None)
    shown = ex.spectrum.density.figure
    ex.settings.model = "cnn"  # with the Gaussian mixture
    assert "CNN" in ex.message and ex.spectrum.density.figure is shown
    ex.settings.dataset = "digits"
    assert ex.message == ""
    # the new request wins even though the old result's follow-up stages were still
    # being chained when it was made (a notebook delivers results off the UI loop)
    wait_until(lambda: ex.result.experiment.config.model == "cnn" and _done(ex))
    assert ex.result.experiment.dataset.X.shape[1:] == (1, 8, 8)


def test_viz_functions_return_plots():
    grid = np.linspace(-1, 3, 50)
    dens = np.exp(-grid ** 2)
    el = vh.density_plot(grid, dens, [2.5, 1.0, 0.2], num_outliers=2, min_value=-0.5)
    assert isinstance(el, hv.Overlay)
    roles = {str(e.label) for e in el}
    assert {"outlier", "top-k", "most negative"} <= roles
    assert vh.density_plot(grid, dens, [], logy=False) is not None
    assert len(vh.top_eigs_plot([3.0, 2.0, 1.0], 1)) == 3
    sh = vh.sharpness_plot([0, 10, 20], [1.0, 2.0, 2.1], lr=1.0)
    assert "2/η = 2" in " ".join(str(e.label) for e in sh)
    far = vh.sharpness_plot([0, 10], [1.0, 1.1], lr=0.01)  # 2/eta = 200: off the plot
    assert "above the plot" in " ".join(str(e.label) for e in far)
    assert isinstance(vh.loss_plot([0, 1, 2], [1.0, 0.5, 0.2], [0, 2], [1.0, 0.2], 2),
                      hv.Overlay)
    assert isinstance(vh.over_training_plot([0, 5], [[2.0, 1.0], [3.0, 1.5]], current_step=5),
                      hv.Overlay)
    cmp = vh.compare_density_plot({"hessian": (grid, dens), "ggn": (grid, 2 * dens)})
    assert len(cmp) == 2
    table = pd.DataFrame({"index": ["λ1", "λ1"], "kind": ["hessian", "ggn"],
                          "eigenvalue": [2.0, 2.1]})
    assert len(vh.compare_top_plot(table)) == 2
    for e in (el, sh, cmp):
        hv.render(e)


def _sources(fig) -> dict:
    """{legend label or glyph type: column data} of a rendered figure."""
    from bokeh.models import GlyphRenderer

    out = {str(getattr(i.label, "value", i.label)): i.renderers[0].data_source.data
           for lg in fig.legend for i in lg.items}
    for r in fig.select({"type": GlyphRenderer}):
        out.setdefault(type(r.glyph).__name__, r.data_source.data)
    return out


@pytest.mark.parametrize("logy", [True, False])
def test_columns_are_what_the_rendered_plots_hold(logy):
    """The in-place updates write exactly the data a fresh render of the same plot holds
    (so a dashboard updated in place never shows something else than a new plot would)."""
    grid = np.linspace(-1, 3, 60)
    dens = np.exp(-grid ** 2) + 1e-9
    for top, n_out, lmin in (([2.5, 1.0, 0.2], 2, -0.5), ([1.5, 0.4], 0, 0.1)):
        src = _sources(hv.render(vh.density_plot(grid, dens, top, n_out, lmin, logy=logy,
                                                 all_roles=True)))
        cols = vh.density_columns(grid, dens, top, n_out, lmin, logy=logy)
        for k in "xy":
            np.testing.assert_allclose(src["Patch"][k], cols["area"][k])
        assert set(cols["markers"]) == {"outlier", "top-k", "most negative"}
        for role, data in cols["markers"].items():
            assert len(data["x0"]) == len(src[role]["x0"])
            for k, v in data.items():
                assert list(src[role][k]) == list(v), (role, k)
        assert cols["xlim"][0] <= min(grid.min(), lmin) and cols["xlim"][1] >= grid.max()
        lo, hi = cols["ylim"]
        assert lo == (1e-5 * dens.max() if logy else 0.0) and hi > dens.max()
    src = _sources(hv.render(vh.top_eigs_plot([3.0, -1.0, 0.5], 1)))
    cols = vh.top_eigs_columns([3.0, -1.0, 0.5], 1)
    assert {k: list(v) for k, v in src["VBar"].items()} == \
        {k: list(v) for k, v in cols["source"].items()}
    assert cols["factors"] == ["λ1", "λ2", "λ3"] and cols["ylim"][0] < -1 < 3 < cols["ylim"][1]
    curves = {"hessian": (grid, dens), "fisher": (grid[:30], 3 * dens[:30])}
    src = _sources(hv.render(vh.compare_density_plot(curves, logy=logy)))
    cols = vh.compare_density_columns(curves, logy=logy)
    for label, data in cols["sources"].items():
        for k in ("eigenvalue", "density"):
            np.testing.assert_allclose(src[label][k], data[k])
    assert cols["xlim"] == (grid.min(), grid.max())



def _decoded(value: str):
    """A query value as Panel's location hands it over (JSON decoded where it parses)."""
    import json

    try:
        return json.loads(value)
    except ValueError:
        return value


@pytest.mark.slow
def test_settings_round_trip_through_the_url_query(explorer):
    """The settings live in a sub-object but keep their query names: a link written by
    one explorer restores the same settings and view in another; a bad value is a
    message and the others still apply."""
    ex = HessianExplorer(**SMALL, broadening=2.0)
    ex._compute = lambda force=False: None  # logic only: no background work here
    ex.settings.param.update(dataset="digits", lr=0.2)
    query = ex._url_query()
    assert {"width", "dataset", "lr", "k", "broadening", "demo"} <= set(query)
    assert "sharpness_every" not in query and "seed" not in query  # no widget, no URL
    other = HessianExplorer(**SMALL)  # its first run comes from the module's cache
    other._compute = lambda force=False: None
    other._restore_from_url({k: _decoded(v) for k, v in query.items()})
    assert other.settings.param.values() == {**ex.settings.param.values(),
                                             "name": other.settings.name}
    assert other.broadening == 2.0 and other.message == ""
    other._restore_from_url({"width": 20, "depth": "9", "checkpoint": 1})
    assert other.settings.width == 20 and other.checkpoint == 1
    assert "depth" in other.message and other.settings.depth == SMALL.get("depth", 2)
