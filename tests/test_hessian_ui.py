"""Hessian explorer logic (no browser): staged background results, cheap view parameters
that never recompute, presets, errors as messages, export; and the viz functions. The
served page is covered by test_apps_browser."""

from __future__ import annotations

import time

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from helpers import wait_until

from workbench.hessian.experiments import PRESETS
from workbench.ui.base import CACHE
from workbench.ui.hessian import HessianExplorer
from workbench.viz import hessian as vh

# a small setting so the three background stages take about a second
SMALL = dict(demo="custom", num_samples=160, width=12, steps=30, k=6, num_probes=2,
             num_steps=12, trace_matvecs=12)




@pytest.fixture(scope="module")
def explorer():
    ex = HessianExplorer(**SMALL)
    wait_until(lambda: ex._compare is not None or ex.message)
    assert ex.message == ""
    return ex


def _points(element) -> int:
    return sum(len(el) for el in (element if isinstance(element, hv.Overlay) else [element]))


@pytest.mark.slow
def test_stages_fill_every_plot(explorer):
    ex = explorer
    assert ex.runs == 1 and ex._checkpoints is not None
    assert [c.step for c in ex._checkpoints] == [0, 8, 15, 22, 30]
    for pane in (ex._density, ex._top, ex._over, ex._loss, ex._sharp, ex._cmp_density,
                 ex._cmp_top):
        assert pane.object is not None and _points(pane.object) >= 2
        hv.render(pane.object)  # renders with Bokeh without error
    assert "outliers" in ex._summary.object and "trace" in ex._summary.object
    assert "ggn" in ex._cmp_info.object and "fisher" in ex._cmp_info.object
    # k is raised to 2C + 2 so the bulk's edge is among the top-k
    assert len(ex.shown().top_values) == 2 * 4 + 2


@pytest.mark.slow
def test_view_parameters_replot_without_recomputing(explorer):
    ex = explorer
    calls = []
    orig = ex.run_background
    ex.run_background = lambda *a, **k: calls.append(a) or orig(*a, **k)
    try:
        before = ex._density.object
        y0 = before.get(0).dimension_values("density")
        ex.broadening = 2.0
        assert ex._density.object is not before and calls == []
        # a wider Gaussian: a lower peak, same area
        assert ex._density.object.get(0).dimension_values("density").max() < y0.max()
        ex.checkpoint = 0
        assert ex.shown().step == 0 and "step 0" in ex._summary.object
        assert calls == []
        ex.logy = False
        assert calls == []
    finally:
        ex.run_background = orig
        ex.param.update(broadening=1.0, checkpoint=4, logy=True)


@pytest.mark.slow
def test_export_is_the_view(explorer):
    df = explorer.export_data()
    assert set(df["series"]) == {"density", "top eigenvalue", "sharpness"}
    top = df[df["series"] == "top eigenvalue"]
    np.testing.assert_array_equal(top["y"].to_numpy(), explorer.shown().top_values)
    dens = df[df["series"] == "density"]
    assert np.trapezoid(dens["y"], dens["x"]) == pytest.approx(1.0, abs=0.02)


@pytest.mark.slow
def test_settings_recompute_in_background_and_cache(explorer):
    ex = HessianExplorer(**SMALL)
    wait_until(lambda: ex._compare is not None)
    assert ex.runs == 1  # the module fixture's results came from the shared cache
    ex.width = 10
    wait_until(lambda: ex.runs == 2 and ex._compare is not None)
    assert ex._result.config.width == 10 and ex.demo == "custom"
    assert any(k[1][0] == "experiment" for k in CACHE._data)


def test_preset_sets_the_settings_and_editing_leaves_it():
    ex = HessianExplorer(**SMALL)
    ex._compute = lambda force=False: None  # logic only: no background work here
    ex.demo = "edge of stability (Cohen et al.)"
    pre = PRESETS["edge_of_stability"]
    assert (ex.optimizer, ex.loss, ex.lr, ex.steps) == (pre.optimizer, pre.loss, pre.lr,
                                                        pre.steps)
    assert ex.demo == "edge of stability (Cohen et al.)"
    ex.lr = 0.5
    assert ex.demo == "custom"
    ex.demo = "bulk + outliers (Sagun et al.)"
    assert ex.width == PRESETS["bulk_and_outliers"].width and ex.optimizer == "sgd"


@pytest.mark.slow
def test_bad_settings_show_a_message_and_keep_the_view():
    ex = HessianExplorer(**SMALL)
    wait_until(lambda: ex._result is not None)
    shown = ex._density.object
    ex.model = "cnn"  # with the Gaussian mixture
    assert "CNN" in ex.message and ex._density.object is shown
    ex.dataset = "digits"
    assert ex.message == ""
    # the new request wins even though the old result's follow-up stages were still
    # being chained when it was made (a notebook delivers results off the UI loop)
    wait_until(lambda: ex._result.config.model == "cnn" and ex._compare is not None)
    assert ex._result.dataset.X.shape[1:] == (1, 8, 8)


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


def test_concurrent_sessions_share_one_computation():
    import threading

    from workbench.ui.hessian import _shared

    calls, started = [], threading.Event()

    def slow():
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return 42

    out = []
    t1 = threading.Thread(target=lambda: out.append(_shared(("k", 1), slow)))
    t1.start()
    started.wait(5)
    t2 = threading.Thread(target=lambda: out.append(_shared(("k", 1), slow)))
    t2.start()
    t1.join(5)
    t2.join(5)
    assert out == [42, 42] and len(calls) == 1
    # errors reach every waiter, and a later call computes again
    with pytest.raises(ValueError):
        _shared(("k", 2), lambda: (_ for _ in ()).throw(ValueError("bad")))
    assert _shared(("k", 1), lambda: 7) == 7
