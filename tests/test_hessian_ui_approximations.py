"""The Hessian explorer's "Curvature approximations" tab (no browser): computed when shown,
on the explorer's own experiment; the layer and checkpoint selectors write the run's
numbers into the drawn figures without a new render or new products."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import wait_until

from workbench.hessian.approximations import METHOD_LABELS, METHODS
from workbench.ui.hessian import HessianExplorer

SMALL = dict(demo="custom", num_samples=120, width=10, steps=20, k=6, num_probes=2,
             num_steps=12, trace_matvecs=12)


@pytest.fixture(scope="module")
def explorer():
    ex = HessianExplorer(**SMALL)
    wait_until(lambda: ex.result is not None or ex.message)
    tabs = ex.view()[1]
    assert "Curvature approximations" in tabs._names
    tab = ex.approximations
    assert tab.run is None  # nothing computed before the tab is shown
    tabs.active = tabs._names.index("Curvature approximations")
    wait_until(lambda: tab.run is not None or ex.message, what="the approximations")
    assert ex.message == ""
    return ex


def _col(fig, name, column):
    return np.asarray(fig.source(name).data[column], dtype=float)


def _assert_shows(tab, run) -> None:
    view = run.at(tab.checkpoint.value, tab.layer.value)
    for m in METHODS:
        y = _col(tab.spectra, METHOD_LABELS[m], "eigenvalue")
        assert np.allclose(y, view.spectra[m], equal_nan=True)
    for m in METHODS[1:]:
        label = METHOD_LABELS[m]
        assert np.allclose(_col(tab.overlaps, label, "overlap"), view.overlaps[m])
        assert np.allclose(_col(tab.over, label, "top overlap"), view.top_overlap[m])
        assert np.allclose(_col(tab.errors, label, "relative error"), view.error_over[m])
        assert np.allclose(_col(tab.over, label, "step"), run.steps)
    assert [s.location for s in tab.over.spans()] == [float(view.step)]
    assert [s.location for s in tab.errors.spans()] == [float(view.step)]
    assert f"step {view.step}" in tab.checkpoint.label


def test_the_tab_draws_the_run_of_the_explorers_experiment(explorer):
    tab = explorer.approximations
    run = tab.run
    assert run.steps == tuple(s.step for s in explorer.result.training.snapshots)
    assert run.config == explorer.result.experiment.config
    assert list(tab.layer.options) == list(run.layers)
    _assert_shows(tab, run)
    assert run.mfac is not None
    assert np.allclose(_col(tab.mfac, "M-FAC", "relative error"),
                       np.maximum(run.mfac.rel_error, 1e-16))


def test_selectors_write_in_place(explorer):
    tab = explorer.approximations
    run = tab.run
    renders = [f.renders for f in tab.figures()]
    before = _col(tab.spectra, METHOD_LABELS["exact"], "eigenvalue").copy()
    tab.checkpoint.value = 1
    _assert_shows(tab, run)
    tab.layer.value = run.layers[0]
    _assert_shows(tab, run)
    assert not np.allclose(before, _col(tab.spectra, METHOD_LABELS["exact"], "eigenvalue"))
    tab.checkpoint.value = 0
    _assert_shows(tab, run)
    assert [f.renders for f in tab.figures()] == renders  # no new render
    assert tab.run is run and explorer.message == ""


def test_shown_again_reuses_the_run(explorer):
    tab = explorer.approximations
    run = tab.run
    tab.start()
    assert tab.run is run  # same experiment: redrawn, not recomputed
    _assert_shows(tab, run)
