"""Engine estimates on curvature operators against exact eigendecompositions of the dense
Hessian (a 419-parameter MLP, float64), plus training with snapshots and sharpness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance
from torch import nn

import workbench.hessian as wh
from workbench import spectral as sp
from workbench.errors import InputFormatError, RankError
from workbench.hessian.models import OneHotMSELoss
from workbench.hessian.spectrum import (
    compare_curvatures,
    count_outliers,
    curvature_spectrum,
    spectra_over_training,
)
from workbench.hessian.training import train

F64 = torch.float64
CE = nn.CrossEntropyLoss()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: one torch thread avoids oversubscription on a shared 2-core machine
    from workbench.backends import limited_threads

    with limited_threads(1):
        yield


@pytest.fixture(scope="module")
def setup():
    ds = wh.gaussian_mixture(200, num_classes=3, dim=5, seed=1, dtype=F64)
    model = wh.mlp(5, 3, width=16, depth=2, activation="tanh", seed=2, dtype=F64)
    res = train(model, ds, optimizer="sgd", lr=0.2, steps=60, batch_size=50, seed=0)
    H = wh.hessian_operator(res.model, CE, ds.pair(), batch_size=64)
    evals = np.linalg.eigvalsh(wh.dense_hessian(res.model, CE, ds.pair()).numpy())
    return ds, res, H, evals


def test_top5_match_eigh(setup):
    _, _, H, evals = setup
    res = sp.top_eigs(H, k=5, tol=1e-8)
    # tol=1e-8 on the residual bounds each eigenvalue error by 1e-8 * ||H||; 1e-6 relative
    # (the benchmark's target) is therefore a bound that holds with a wide margin
    np.testing.assert_allclose(res.values, evals[::-1][:5], rtol=1e-6)
    assert res.converged


def test_negative_curvature_is_reported(setup):
    _, res, _, _ = setup
    ds = setup[0]
    model0 = res.model_at(0)  # at initialization the Hessian is indefinite
    H0 = wh.hessian_operator(model0, CE, ds.pair())
    ev = np.linalg.eigvalsh(H0.to_dense())
    assert ev[0] < -1e-3 * ev[-1]
    sa = sp.top_eigs(H0, k=1, which="SA", tol=1e-8)
    np.testing.assert_allclose(sa.values[0], ev[0], rtol=1e-6)
    spec = curvature_spectrum(H0, k=3, num_probes=4, num_steps=20, trace_matvecs=30)
    np.testing.assert_allclose(spec.min_value, ev[0], rtol=1e-4)
    np.testing.assert_allclose(spec.top_values, ev[::-1][:3], rtol=1e-5)
    # its trace (XTrace) is within 4 of its reported standard errors of the exact one
    assert spec.settings["trace_method"] == "xtrace"
    assert abs(spec.trace - ev.sum()) <= 4 * spec.trace_std + 1e-12
    # largest magnitude is the caller's choice and may be negative
    lm = sp.top_eigs(H0, k=3, which="LM", tol=1e-8)
    by_mag = ev[np.argsort(-np.abs(ev))][:3]
    np.testing.assert_allclose(lm.values, by_mag, rtol=1e-6)
    # the GGN of the same model is PSD: its smallest eigenvalue is ~0, not negative
    G = wh.ggn_operator(model0, CE, ds.pair())
    g_ev = np.linalg.eigvalsh(G.to_dense())
    assert g_ev[0] > -1e-10 * g_ev[-1]


def test_density_close_to_exact_histogram(setup):
    _, _, H, evals = setup
    dens = sp.spectral_density(H, num_probes=10, num_steps=40, seed=0)
    nodes, w = dens.node_samples()
    w1 = wasserstein_distance(nodes, evals, u_weights=w)
    spread = evals[-1] - evals[0]
    # SLQ with 10 probes x 40 steps: 40 Gauss nodes per probe make the quadrature error
    # negligible; the probe variance dominates, at most ~ spread / sqrt(probes * n) =
    # spread / 65. Measured: spread / 600 .. spread / 200 over seeds 0-2; the bound
    # spread / 100 keeps a 2x margin (the GGN's spectrum sits at ~spread / 200 .. / 130)
    assert w1 < spread / 100
    assert np.trapezoid(dens.density, dens.grid) == pytest.approx(1.0, abs=0.02)


def test_trace_within_reported_error(setup):
    _, _, H, evals = setup
    exact = evals.sum()
    for method in ("hutch++", "xtrace"):  # xtrace: curvature_spectrum's default
        for seed in range(3):
            tr = sp.trace(H, method=method, num_matvecs=60, seed=seed)
            # 4 standard errors: a Gaussian-tailed estimate falls outside with prob. < 1e-4
            assert abs(tr.estimate - exact) <= 4 * tr.std_error + 1e-12
            assert tr.std_error > 0


def test_training_snapshots_and_sharpness_match_dense(setup):
    ds = setup[0]
    model = wh.mlp(5, 3, width=8, depth=1, activation="tanh", seed=3, dtype=F64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = train(model, ds, optimizer="gd", lr=0.5, steps=40, sharpness_every=20,
                loss_fn=OneHotMSELoss(), snapshot_steps=[0, 20, 40], sharpness_tol=1e-8)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [s.step for s in res.snapshots] == [0, 20, 40]
    assert list(res.sharpness_steps) == [0, 20, 40] and res.num_hvps > 0
    assert res.loss.shape == (40,) and res.loss[-1] < res.loss[0]
    for s, lam in zip(res.snapshots, res.sharpness):
        m = s.load_into(res.model)
        ev = np.linalg.eigvalsh(wh.dense_hessian(m, OneHotMSELoss(), ds.pair()).numpy())
        assert lam == pytest.approx(ev[-1], rel=1e-6)
    # snapshot losses are the full-data losses at those weights
    with torch.no_grad():
        loss20 = OneHotMSELoss()(res.model_at(20)(ds.X), ds.y)
    assert res.snapshots[1].loss == pytest.approx(float(loss20), rel=1e-10)
    with pytest.raises(RankError, match="no snapshot"):
        res.model_at(7)
    with pytest.raises(InputFormatError, match="optimizer"):
        train(model, ds, optimizer="lbfgs")
    with pytest.raises(InputFormatError, match="diverged"):
        train(model, ds, optimizer="gd", lr=1e200, steps=20, loss_fn=OneHotMSELoss())


def test_sgd_and_adam_train_and_spectra_over_training(setup):
    ds = setup[0]
    model = wh.mlp(5, 3, width=8, depth=1, seed=4, dtype=F64)
    for opt in ("sgd", "adam"):
        res = train(model, ds, optimizer=opt, lr=0.05, steps=50, batch_size=32,
                    num_snapshots=3, momentum=0.0)
        assert res.final.loss < res.snapshots[0].loss
        assert [s.step for s in res.snapshots] == [0, 25, 50]
    specs = spectra_over_training(res, CE, ds.pair(), k=2, num_probes=2, num_steps=10,
                                  trace_matvecs=12)
    assert [s.step for s in specs] == [0, 25, 50]
    for s, snap in zip(specs, res.snapshots):
        ev = np.linalg.eigvalsh(wh.dense_hessian(snap.load_into(res.model), CE,
                                                 ds.pair()).numpy())
        np.testing.assert_allclose(s.top_values, ev[::-1][:2], rtol=1e-5)


def test_compare_curvatures_on_one_model(setup):
    ds, res, _, evals = setup
    out = compare_curvatures(res.model, CE, ds.pair(), k=3, num_probes=3, num_steps=15,
                             trace_matvecs=30, seed=1)
    assert set(out) == {"hessian", "ggn", "fisher"}
    np.testing.assert_allclose(out["hessian"].top_values, evals[::-1][:3], rtol=1e-5)
    g = np.linalg.eigvalsh(wh.dense_ggn(res.model, CE, ds.pair()).numpy())
    f = np.linalg.eigvalsh(wh.dense_empirical_fisher(res.model, CE, ds.pair()).numpy())
    np.testing.assert_allclose(out["ggn"].top_values, g[::-1][:3], rtol=1e-5)
    np.testing.assert_allclose(out["fisher"].top_values, f[::-1][:3], rtol=1e-5)
    assert out["ggn"].min_value > -1e-6 * g[-1]  # PSD: no negative curvature invented


def test_count_outliers():
    assert count_outliers([10.0, 9.0, 8.0, 1.0, 0.9, 0.8]) == 3
    assert count_outliers([1.0, 0.95, 0.9, 0.85]) == 0  # no gap: no outliers
    assert count_outliers([5.0, -1.0]) == 1
    assert count_outliers([]) == 0
    # 6 classes, width 64 (measured): five outliers, then the bulk; a largest-gap rule
    # would stop after the first (ratio 2.65 > 2.0)
    top = [4.601, 1.734, 1.261, 1.079, 0.744, 0.372, 0.333, 0.305, 0.263, 0.246, 0.229,
           0.224, 0.211, 0.209]
    assert count_outliers(top) == 5
