"""Spectral engine playground logic without a browser: one background run per spectrum,
free updates for the step / broadening / display sliders, the plots' data, the export.
The served page is covered by test_apps_browser."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pytest
from helpers import wait_until

from workbench.spectral.playground import run_playground
from workbench.ui.engine import EngineExplorer
from workbench.viz.spectral import density_plot, nodes_plot, race_plot, ritz_plot


def _explorer(**kw):
    ex = EngineExplorer(**kw)
    wait_until(lambda: ex.computed or ex.message)
    assert ex.message == ""
    return ex


def _live(ex, figure):
    """{layer label: Bokeh source} of one of the explorer's live figures."""
    return {"curves": ex._density, "nodes": ex._nodes, "ritz": ex._ritz}[figure].sources


def _column(ex, figure, label, column):
    """A column of the Bokeh source drawing layer `label` of `figure` (what the page shows)."""
    return np.asarray(_live(ex, figure)[label].data[column])


def _fresh_sources(ex):
    """The sources a full HoloViews render of the current view would have."""
    from workbench.ui.live import LiveFigure
    from workbench.viz.spectral import density_plot, nodes_plot, residual_range, ritz_plot

    run, view = ex._run, ex._view
    return {
        "curves": LiveFigure().render(density_plot(
            run.hist_edges, run.hist_density, view.slq, view.kpm if ex.kpm else None,
            logy=ex.logy)).sources,
        "nodes": LiveFigure().render(nodes_plot(view.slq)).sources,
        "ritz": LiveFigure().render(ritz_plot(view.ritz, run.marks, run.steps_run,
                                              clim=residual_range(run.ritz))).sources,
    }


def _assert_shows_current_view(ex):
    """Data written into the live figures == what a full re-render would draw."""
    fresh = _fresh_sources(ex)
    for figure, sources in fresh.items():
        assert set(_live(ex, figure)) == set(sources), figure
        for label, src in sources.items():
            live = _live(ex, figure)[label].data
            assert set(live) == set(src.data), (figure, label)
            for key, values in src.data.items():
                np.testing.assert_array_equal(np.asarray(live[key]), np.asarray(values),
                                              err_msg=f"{figure}/{label}/{key}")


def _curves(overlay):
    return [el for el in overlay if isinstance(el, hv.Curve)]


def _scatter(overlay, label):
    return next(el for el in overlay if isinstance(el, hv.Scatter) and el.label == label)


def test_step_slider_is_free_and_changes_the_plots():
    ex = _explorer(n=500, max_steps=20, probes=4, k=3)
    assert ex.computed == 1 and ex._run.n == 500
    figures = [f.figure for f in (ex._density, ex._nodes, ex._ritz, ex._race)]
    renders = [f.renders for f in (ex._density, ex._nodes, ex._ritz, ex._race)]
    assert len(_column(ex, "ritz", "Ritz values", "step")) == ex.step * (ex.step + 1) // 2
    dens_before = _column(ex, "curves", "SLQ", "density")
    _assert_shows_current_view(ex)
    ex.step = ex.step + 1
    assert ex.computed == 1  # no new run
    # the same figures, new data in them (step j holds j Ritz values)
    assert [f.figure for f in (ex._density, ex._nodes, ex._ritz, ex._race)] == figures
    assert [f.renders for f in (ex._density, ex._nodes, ex._ritz, ex._race)] == renders
    assert len(_column(ex, "ritz", "Ritz values", "step")) == ex.step * (ex.step + 1) // 2
    assert not np.allclose(_column(ex, "curves", "SLQ", "density"), dens_before)
    _assert_shows_current_view(ex)
    assert f"Step **{ex.step}** of 20" in ex._info.object
    assert f"= **{4 * ex.step} matvecs**" in ex._info.object
    ex.step = 1  # the other end too
    _assert_shows_current_view(ex)
    assert len(_column(ex, "ritz", "Ritz values", "step")) == 1


def test_broadening_and_display_options():
    ex = _explorer(n=500, max_steps=15, probes=3, k=2)
    ritz_data = _live(ex, "ritz")["Ritz values"].data
    kpm_data = _live(ex, "curves")["KPM"].data
    s1 = ex._view.slq.sigma
    ex.broadening = 2.0
    assert ex._view.slq.sigma == pytest.approx(2 * s1)
    # neither the Ritz values nor KPM depend on the broadening: their sources are untouched
    assert _live(ex, "ritz")["Ritz values"].data is ritz_data
    assert _live(ex, "curves")["KPM"].data is kpm_data
    assert np.allclose(_column(ex, "curves", "SLQ", "density"),
                       np.maximum(ex._view.slq.density, 1e-5 * ex._run.hist_density.max()))
    _assert_shows_current_view(ex)
    assert set(_live(ex, "curves")) == {"exact", "SLQ", "KPM"}
    ex.kpm = False
    assert set(_live(ex, "curves")) == {"exact", "SLQ"}
    ex.step = 5
    ex.logy = False
    assert np.allclose(_column(ex, "curves", "SLQ", "density"), ex._view.slq.density)
    _assert_shows_current_view(ex)
    assert ex.computed == 1


def test_costly_parameters_recompute_and_clamp_the_step():
    ex = _explorer(n=500, max_steps=30, probes=3, k=2, step=25)
    ex.max_steps = 12
    assert ex.step == 12 and ex._step_slider.end == 12
    wait_until(lambda: ex.computed == 2 or ex.message)
    assert ex._run.max_steps == 12 and ex._view.step == 12
    ex.spectrum = "degenerate"
    wait_until(lambda: ex.computed == 3 or ex.message)
    assert "exhausted at step 3" in ex._info.object
    # the same parameters again: served from the cross-session cache, no new thread
    ex.spectrum = "bulk+outliers"
    wait_until(lambda: ex.computed == 4)
    ex.spectrum = "degenerate"
    assert ex.computed == 5


def test_export_is_the_curves_shown():
    ex = _explorer(n=500, max_steps=10, probes=2, k=2)
    df = ex.export_data()
    assert list(df.columns) == ["eigenvalue", "slq_density", "kpm_density"]
    assert np.allclose(df["slq_density"], ex._view.slq.density)
    assert np.array_equal(df["eigenvalue"], ex._run.grid)


def test_viz_functions_draw_the_results():
    run = run_playground("bulk+outliers", n=400, max_steps=12, num_probes=3, k=2)
    view = run.at(6)
    d = density_plot(run.hist_edges, run.hist_density, view.slq, view.kpm, logy=True)
    assert isinstance(d, hv.Overlay) and len(d) == 3
    slq = _curves(d)[0]
    assert np.allclose(slq.dimension_values("eigenvalue"), view.slq.grid)
    assert np.all(slq.dimension_values("density") >= 1e-5 * run.hist_density.max() * 0.999)
    n = nodes_plot(view.slq)
    assert len(_scatter(n, "Ritz value (node)")) == int(np.sum(view.slq.weights > 0))
    assert [el.label for el in _curves(d)] == ["SLQ", "KPM"]
    r = ritz_plot(view.ritz, run.marks, run.steps_run)
    assert len(_scatter(r, "Ritz values")) == 21
    assert len(_scatter(r, "exact eigenvalues")) == len(run.marks)
    c = race_plot(run.race)
    for curve in _curves(c):
        found = curve.dimension_values("eigenvalues found")
        assert found.max() == 2 and np.all(np.diff(found) >= 0)
