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


def _now(obj):
    """The element a pane shows now (a DynamicMap evaluated on its pipes' data)."""
    return obj[()] if isinstance(obj, hv.DynamicMap) else obj


def _scatter(overlay, label):
    return next(el for el in _now(overlay) if isinstance(el, hv.Scatter) and el.label == label)


def _curves(overlay):
    return [el for el in _now(overlay) if isinstance(el, hv.Curve)]


def test_step_slider_is_free_and_changes_the_plots():
    ex = _explorer(n=500, max_steps=20, probes=4, k=3)
    assert ex.computed == 1 and ex._run.n == 500
    ritz_before = _scatter(ex._ritz.object, "Ritz values")
    assert len(ritz_before) == ex.step * (ex.step + 1) // 2  # step j holds j Ritz values
    dens_before = _curves(ex._density.object)[0].dimension_values("density")
    race_pipe = ex._pipes["race"]
    race_events = len(race_pipe.data.curves)  # the race data object is sent once per run
    race_data = race_pipe.data
    ex.step = ex.step + 1
    assert ex.computed == 1  # no new run
    ritz_after = _scatter(ex._ritz.object, "Ritz values")
    assert len(ritz_after) == ex.step * (ex.step + 1) // 2
    dens_after = _curves(ex._density.object)[0].dimension_values("density")
    assert not np.allclose(dens_after, dens_before)
    assert race_pipe.data is race_data and race_events == 2  # the race: once per run
    assert f"Step **{ex.step}** of 20" in ex._info.object
    assert f"= **{4 * ex.step} matvecs**" in ex._info.object


def test_broadening_and_display_options():
    ex = _explorer(n=500, max_steps=15, probes=3, k=2)
    ritz_data = ex._pipes["ritz"].data
    s1 = ex._view.slq.sigma
    ex.broadening = 2.0
    assert ex._view.slq.sigma == pytest.approx(2 * s1)
    assert ex._pipes["ritz"].data is ritz_data  # Ritz values do not depend on broadening
    slq = _curves(ex._density.object)[0]
    assert np.allclose(slq.dimension_values("density"),
                       np.maximum(ex._view.slq.density, 1e-5 * ex._run.hist_density.max()))
    assert [el.label for el in _curves(ex._density.object)] == ["SLQ", "KPM"]
    ex.kpm = False
    assert [el.label for el in _curves(ex._density.object)] == ["SLQ"]
    ex.logy = False
    slq = _curves(ex._density.object)[0]
    assert np.allclose(slq.dimension_values("density"), ex._view.slq.density)
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
