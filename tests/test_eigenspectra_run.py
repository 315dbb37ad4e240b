"""The eigenspectra topic run without a browser: spectra once, fit tables, layer views,
settings, checked uploads and the random-matrix demos, against exact answers."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from helpers import npy_bytes

import workbench.eigenspectra as es
from workbench.eigenspectra.run import TABLE_COLUMNS, log_histogram
from workbench.errors import InputFormatError, NonFiniteError, ShapeError


@pytest.fixture(scope="module")
def weights():
    rng = np.random.default_rng(0)
    return {"dense": rng.normal(size=(120, 40)), "heavy": rng.standard_t(3, size=(80, 60)),
            "conv": rng.normal(size=(16, 8, 3, 3)), "bias": np.ones(40)}


@pytest.fixture(scope="module")
def run(weights):
    return es.run_eigenspectra("upload", weights, label="three layers")


def test_run_holds_the_exact_eigenvalues(run, weights):
    assert run.epochs == [] and run.epoch_of(5) is None
    names = [s.name for s in run.layers()]
    assert names == ["dense", "heavy", "conv"]
    for spec in run.layers()[:2]:
        W = weights[spec.name]
        # eigenvalues of W^T W from the Gram matrix against a dense SVD: both float64 on
        # O(1) entries, agreement to ~1e-12 of the largest eigenvalue
        ref = np.sort(np.linalg.svd(W, compute_uv=False) ** 2)
        np.testing.assert_allclose(spec.evals, ref, rtol=0, atol=1e-10 * ref[-1])
    # a conv kernel: its 9 kernel positions' (16 x 8) slices pooled
    conv = run.layers()[2]
    W = weights["conv"]
    ref = np.sort(np.concatenate([np.linalg.svd(W[:, :, i, j], compute_uv=False) ** 2
                                  for i in range(3) for j in range(3)]))
    np.testing.assert_allclose(conv.evals, ref, rtol=0, atol=1e-10 * ref[-1])
    skipped = run.skipped_table()
    assert list(skipped["name"]) == ["bias"] and skipped["shape"].iloc[0] == "40"
    assert run.label == "three layers" and run.seconds > 0


def test_fit_table_matches_analyze(run, weights):
    fits = run.fit()
    ref = es.analyze(weights, mp_fit=True)
    # the same eigenvalues and the same fit code: identical numbers
    np.testing.assert_array_equal(fits.table()["alpha"].to_numpy(), ref["alpha"].to_numpy())
    np.testing.assert_array_equal(fits.table()["num_spikes"].to_numpy(),
                                  ref["num_spikes"].to_numpy())
    assert fits.trajectories().empty  # no checkpoints
    shown = fits.metrics_table()
    assert set(shown.columns) <= set(TABLE_COLUMNS) and len(shown) == 3
    assert [c for c in TABLE_COLUMNS if c in shown.columns] == list(shown.columns)
    np.testing.assert_array_equal(shown["alpha"], fits.table()["alpha"].round(4))
    assert list(shown["name"]) == ["dense", "heavy", "conv"]


def test_table_view_reuses_the_fit_and_bins_only_rebin(run):
    fits = run.fit()
    v60, v20 = fits.at(1, bins=60), fits.at(1, bins=20)
    assert v60.fit is fits.layer_fits()[1] and v20.fit is v60.fit  # no refit
    assert v60.name == "heavy" and v60.index == 1
    # the log-binned density: counts over log-spaced edges / (n * width), empty bins out
    ev = v60.fit.esd
    pos = ev[ev > 0]
    edges = np.logspace(np.log10(pos.min()), np.log10(pos.max()), 21)
    counts, _ = np.histogram(pos, edges)
    dens = counts / (ev.size * np.diff(edges))
    np.testing.assert_allclose(v20.esd[1], dens[dens > 0], rtol=1e-12)
    np.testing.assert_allclose(v20.esd[0], np.sqrt(edges[1:] * edges[:-1])[dens > 0],
                               rtol=1e-12)
    np.testing.assert_array_equal(v20.powerlaw[1], v60.powerlaw[1])
    assert fits.at(99).index == 2  # clamped to the last layer


def test_at_refits_one_layer_with_the_options(run):
    spec = run.layers()[0]
    view = run.at(0, options=es.FitOptions(xmin_q=0.5))
    lo = float(np.quantile(spec.evals[spec.evals > 0], 0.5))
    ref = es.fit_layer(spec, xmin_range=(lo, np.inf), mp_fit=True)
    assert view.row["xmin"] >= lo
    assert view.row["alpha"] == ref.row["alpha"] and view.row["D"] == ref.row["D"]
    assert view.xmin == ref.powerlaw.xmin
    assert view.powerlaw_label == f"power law alpha={ref.row['alpha']:.2f}"
    # the fitted power law drawn from xmin on, in the histogram's density units: its
    # integral over [xmin, xmax] is the tail's share of the eigenvalues (the trapezoid
    # rule on 50 log-spaced points overestimates a convex curve by < 2 %)
    x, y = view.powerlaw
    share = ref.powerlaw.num_pl_spikes / np.count_nonzero(spec.evals > 0)
    tail = (1 - (x[-1] / x[0]) ** (1 - ref.row["alpha"])) * share
    assert x[0] == pytest.approx(ref.powerlaw.xmin)
    assert np.trapezoid(y, x) == pytest.approx(tail, rel=0.02)
    # the MP bulk in raw units: the fitted law's density at x / N, divided by N
    from workbench.eigenspectra.rmt import mp_density

    mp = ref.mp
    np.testing.assert_allclose(view.mp[1], mp_density(view.mp[0] / spec.N, mp.Q,
                                                      mp.sigma_mp) / spec.N, rtol=1e-12)
    assert view.lambda_plus == mp.lambda_plus
    assert view.mp_label == f"MP bulk ({mp.num_spikes} spikes)"
    # no MP fit: no curve, no edge
    bare = run.at(0, options=es.FitOptions(mp_fit=False))
    assert bare.mp_label == "" and np.isnan(bare.lambda_plus) and bare.mp[0].size == 0
    # KS scan: the candidates with D < 1; the chosen xmin among them with the fit's D
    # (the minimum over the candidates above the quantile only)
    xs, d = view.ks
    assert (d < 1).all()
    i = int(np.argmin(np.abs(xs - ref.powerlaw.xmin)))
    assert xs[i] == ref.powerlaw.xmin and d[i] == pytest.approx(ref.powerlaw.D, rel=1e-9)
    assert d[i] == pytest.approx(d[xs >= lo].min(), rel=1e-9)


def test_failed_fit_view_has_no_curve():
    # rank one: a single eigenvalue above the threshold, no tail to fit
    W = np.outer(np.arange(1.0, 21.0), np.arange(1.0, 11.0))
    view = es.run_eigenspectra(W).at(0)
    assert not view.fit.powerlaw.ok and view.row["reason"]
    assert view.powerlaw_label == "" and view.powerlaw[0].size == 0 and np.isnan(view.xmin)


def test_log_histogram_edge_cases():
    assert log_histogram(np.array([1.0, 1.0]), 10)[0].size == 0
    assert log_histogram(np.array([0.0, -1.0]), 10)[0].size == 0
    x, d = log_histogram(np.array([1.0, 10.0, 100.0]), 2)
    # edges 1, 10, 100: counts 1, 2 over widths 9, 90, normalised by 3 values
    np.testing.assert_allclose(d, [1 / (3 * 9), 2 / (3 * 90)])
    np.testing.assert_allclose(x, [np.sqrt(10), np.sqrt(1000)])


def test_checkpointed_run_views_each_epoch():
    rng = np.random.default_rng(1)
    from workbench.eigenspectra.run import EigenspectraRun

    W = rng.normal(size=(50, 30))
    specs = {e: tuple(es.spectra({"w": W * (e + 1)})[0]) for e in (0, 5)}
    run = EigenspectraRun(model="mlp", label="two checkpoints", specs=specs, skipped=(),
                          accuracy={0: 0.1, 5: 0.9})
    assert run.epochs == [0, 5] and run.epoch_of(3) == 5  # unknown: the last one
    fits = run.fit(es.FitOptions(mp_fit=False))
    # scaling W by c scales every eigenvalue by c^2 and leaves alpha unchanged
    np.testing.assert_allclose(fits.at(0, epoch=5).fit.esd, 36 * fits.at(0, epoch=0).fit.esd,
                               rtol=1e-10)
    traj = fits.trajectories()
    assert list(traj["epoch"]) == [0, 5] and list(traj["test_accuracy"]) == [0.1, 0.9]
    assert traj["alpha"].iloc[0] == pytest.approx(traj["alpha"].iloc[1], rel=1e-6)


def test_bad_weights_are_named():
    with pytest.raises(InputFormatError, match="upload"):
        es.run_eigenspectra("upload")
    with pytest.raises(ShapeError, match="no layer"):
        es.run_eigenspectra({"bias": np.ones(30)})
    with pytest.raises(InputFormatError, match="unknown weights"):
        es.sources.weights_of("resnet")


def test_read_weights_upload_errors_are_typed():
    with pytest.raises(InputFormatError, match="pickle"):
        es.read_weights_upload(pickle.dumps([1]), "x.pkl")
    arr = np.ones((40, 30))
    arr[0, 0] = np.inf
    with pytest.raises(NonFiniteError):
        es.read_weights_upload(npy_bytes(arr), "x.npy")
    with pytest.raises(ShapeError, match="shape"):
        es.read_weights_upload(npy_bytes(np.ones((2, 3))), "x.npy")  # 2 eigenvalues < 8
    with pytest.raises(ShapeError, match="1-D"):
        es.read_weights_upload(npy_bytes(np.ones(50)), "x.npy")
    with pytest.raises(InputFormatError, match="limit"):
        es.read_weights_upload(npy_bytes(np.ones((40, 30))), "x.npy", max_bytes=100)
    buf = io.BytesIO()
    np.savez(buf, w=np.ones((40, 30)), b=np.ones(30))
    assert set(es.read_weights_upload(buf.getvalue(), "ok.npz")) == {"w", "b"}


def test_uploaded_weights_are_keyed_by_the_bytes():
    import hashlib

    from workbench.eigenspectra.sources import uploaded_weights

    data = npy_bytes(np.arange(1200.0).reshape(40, 30))
    arrays, digest, label = uploaded_weights(data, "w.npy")
    assert digest == hashlib.sha1(data).hexdigest() and label == "uploaded w.npy"
    (W,) = arrays.values()
    np.testing.assert_array_equal(W, np.arange(1200.0).reshape(40, 30))
    assert uploaded_weights(npy_bytes(np.ones((40, 30))), "w.npy")[1] != digest
    with pytest.raises(ShapeError):
        uploaded_weights(npy_bytes(np.ones(50)), "v.npy")


def test_settings_give_hashable_options_and_keys():
    s = es.EigenspectraSettings(xmin_q=0.25, fix_fingers=True, finite_size="on")
    opts = s.fit_options()
    assert hash(opts) == hash(es.FitOptions(xmin_q=0.25, fix_fingers=True,
                                            finite_size="on"))
    assert opts.kwargs(farms=True) == dict(fit="power_law", finite_size=True,
                                           fix_fingers="clip_xmax", xmax_clip=0,
                                           mp_fit=True, farms=True)
    assert s.run_key() == ("spectra", "minilm", False, False)
    s.param.update(model="upload", farms=True)
    assert s.run_key("abc") == ("spectra", "upload", "abc", True, False)
    assert es.RMTSettings(M=100).values()["M"] == 100
    s.layer, changes = 20, []
    s.param.watch(lambda *events: changes.append(len(events)), ["layer"])
    s.set_layers(5)
    assert s.layer == 4 and s.param.layer.bounds == (0, 4) and changes == [1]
    s.set_layers(9)
    assert s.layer == 4 and s.param.layer.bounds == (0, 8) and changes == [1]


def test_rmt_demos_follow_theory():
    d = es.run_rmt_demos(Q=4.0, theta=2.0, M=300, mu=1.0, seed=0)
    assert (d.N, d.gamma) == (1200, pytest.approx(0.25))
    # finite-size fluctuations at M = 300: the top eigenvalue within 10 % of its limit,
    # the overlap within 0.1 (both shrink like M^-1/2)
    assert d.above_threshold and d.spiked[-1] == pytest.approx(d.spike_location, rel=0.1)
    assert d.overlap == pytest.approx(d.spike_overlap, abs=0.1)
    lo, hi = d.mp_edges
    assert d.mp[-1] == pytest.approx(hi, rel=0.1) and d.mp[0] == pytest.approx(lo, abs=0.05)
    # semicircle on [-2 sigma, 2 sigma]; heavy tails: fitted alpha near 1 + mu/2 = 1.5
    assert np.abs(d.wigner).max() == pytest.approx(2.0, rel=0.1)
    assert d.heavy_fit.alpha == pytest.approx(d.heavy_alpha, abs=0.3)
    below = es.run_rmt_demos(Q=4.0, theta=0.2, M=300)
    assert not below.above_threshold and below.spike_overlap == 0.0
