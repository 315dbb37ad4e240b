"""The two literature demos with their default settings really show the effect (the numbers
the dashboard and notebook rely on), and the experiment plumbing (checkpoint spectra,
summaries) agrees with direct computation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import workbench.hessian as wh
from workbench.errors import InputFormatError, RankError
from workbench.hessian.experiments import (
    PRESETS,
    ExperimentConfig,
    bulk_and_outliers,
    checkpoint_spectra,
    edge_of_stability,
    outlier_summary,
    run_experiment,
    sharpness_summary,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from workbench.backends import limited_threads

    with limited_threads(1):
        yield


@pytest.mark.slow
def test_outliers_follow_the_number_of_classes():
    # Sagun et al.: about one outlier per class. Measured with the preset (width 32):
    # 2 classes -> 2, 4 -> 4, 8 -> 7; C - 1 (the rank of the class-mean structure) to C
    runs = bulk_and_outliers(num_classes=(2, 4, 8), widths=(32,))
    counts = {r.config.num_classes: outlier_summary(r.spectra["hessian"])["num_outliers"]
              for r in runs}
    for c, n in counts.items():
        assert c - 1 <= n <= c, counts
    assert counts[8] > counts[4] > counts[2]


@pytest.mark.slow
def test_widening_grows_the_bulk_at_zero_and_keeps_the_outliers():
    # measured share of the spectrum within 5% of lambda_1 of zero: 0.94 (width 32, 1.5k
    # parameters) -> 0.99 (width 128, 18k); outlier count 4 -> 3 or 4
    narrow, wide = bulk_and_outliers(num_classes=(4,), widths=(32, 128))
    a, b = outlier_summary(narrow.spectra["hessian"]), outlier_summary(wide.spectra["hessian"])
    assert b["near_zero_mass"] > a["near_zero_mass"] + 0.02
    assert 3 <= a["num_outliers"] <= 4 and 3 <= b["num_outliers"] <= 4


@pytest.mark.slow
@pytest.mark.parametrize("lr", [0.4, 0.6])
def test_edge_of_stability_sharpness_hovers_at_two_over_eta(lr):
    # Cohen et al.: full-batch GD drives the sharpness up to 2/eta, then it hovers there.
    # Measured plateau / (2/eta): 1.07 (eta 0.4), 1.09 (eta 0.6), relative spread ~10%;
    # the start is well below (2.54 vs 5.0 and 3.33)
    res = edge_of_stability(lr=lr)
    s = sharpness_summary(res.training)
    assert s["threshold"] == pytest.approx(2 / lr)
    assert s["initial"] < 0.8 * s["threshold"]
    assert s["first_step"] > 0
    assert abs(s["mean_after"] / s["threshold"] - 1) < 0.15
    assert s["max"] < 1.5 * s["threshold"]
    # the tracked sharpness is the top eigenvalue of the full-data Hessian at those weights
    last = res.training.final
    H = wh.hessian_operator(last.load_into(res.training.model), wh.models.make_loss("mse"),
                            res.dataset.pair())
    from workbench import spectral as sp

    assert res.training.sharpness_steps[-1] == last.step
    assert res.training.sharpness[-1] == pytest.approx(
        float(sp.top_eigs(H, k=1, tol=1e-8).values[0]), rel=1e-3)


def test_checkpoint_spectra_match_run_experiment_and_step_tags():
    cfg = PRESETS["bulk_and_outliers"].replace(num_samples=120, width=8, steps=20,
                                               num_snapshots=3, sharpness_every=10)
    est = dict(k=4, num_probes=2, num_steps=10, trace_matvecs=12)
    full = run_experiment(cfg, checkpoints=True, **est)
    assert [c.step for c in full.checkpoints] == [0, 10, 20]
    assert full.checkpoint(20) == full.checkpoints[-1]
    assert full.checkpoints[-1].top_values.tolist() == full.spectra["hessian"].top_values.tolist()
    first = run_experiment(cfg, **est)
    again = checkpoint_spectra(first)
    for a, b in zip(again, full.checkpoints):
        assert a.step == b.step
        np.testing.assert_allclose(a.top_values, b.top_values, rtol=1e-6)
    # the spectrum at step 0 is the initial model's: compare with the dense Hessian
    m0 = first.training.model_at(0)
    ev = np.linalg.eigvalsh(wh.dense_hessian(m0, wh.models.make_loss("cross_entropy"),
                                             first.dataset.pair()).numpy())
    np.testing.assert_allclose(again[0].top_values, ev[::-1][:4], rtol=1e-3)
    with pytest.raises(RankError, match="no spectrum at step"):
        full.checkpoint(7)
    with pytest.raises(RankError, match="tracked no sharpness"):
        sharpness_summary(dataclasses.replace(first.training, sharpness=np.zeros(0),
                                              sharpness_steps=np.zeros(0, dtype=int)))


def test_outlier_summary_reads_the_spectrum():
    cfg = PRESETS["bulk_and_outliers"].replace(num_samples=200, steps=30)
    res = run_experiment(cfg, k=10, num_probes=3, num_steps=20, trace_matvecs=12)
    spec = res.spectra["hessian"]
    s = outlier_summary(spec)
    assert s["num_outliers"] == spec.num_outliers
    assert s["top"] == spec.top_values[0]
    assert 0 < s["near_zero_mass"] <= 1
    if s["num_outliers"] < len(spec.top_values):
        assert s["bulk_edge"] == spec.top_values[s["num_outliers"]]


def test_bad_configs_name_the_problem():
    with pytest.raises(InputFormatError, match="CNN"):
        run_experiment(ExperimentConfig(model="cnn", dataset="two_moons"))
    with pytest.raises(InputFormatError, match="dtype"):
        run_experiment(ExperimentConfig(dtype="float16"))
    with pytest.raises(InputFormatError, match="curvature"):
        run_experiment(ExperimentConfig(steps=1), kinds=("laplacian",))


def test_cnn_on_digits_and_float64():
    cfg = ExperimentConfig(dataset="digits", model="cnn", width=16, num_samples=100, steps=5,
                           dtype="float64", num_snapshots=2)
    res = run_experiment(cfg, k=3, num_probes=2, num_steps=8, trace_matvecs=8)
    assert res.dataset.X.shape[1:] == (1, 8, 8)
    assert next(res.training.model.parameters()).dtype == torch.float64
    assert res.num_params == wh.num_parameters(res.training.model)
    assert np.all(np.isfinite(res.spectra["hessian"].top_values))


def test_device_setting():
    cfg = PRESETS["bulk_and_outliers"].replace(num_samples=64, width=4, steps=3,
                                               num_snapshots=2, device="auto")
    res = run_experiment(cfg, k=2, num_probes=1, num_steps=4, trace_matvecs=4)
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(res.training.model.parameters()).device.type == want
    with pytest.raises(InputFormatError, match="unknown device"):
        run_experiment(cfg.replace(device="gpu7"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_experiment_on_cuda_matches_cpu():
    cfg = PRESETS["bulk_and_outliers"].replace(num_samples=128, width=8, steps=10,
                                               num_snapshots=2, dtype="float64")
    est = dict(k=3, num_probes=2, num_steps=8, trace_matvecs=8)
    cpu = run_experiment(cfg, **est)
    gpu = run_experiment(cfg.replace(device="cuda"), **est)
    # same seeds, float64: training and Lanczos agree up to summation order
    np.testing.assert_allclose(gpu.spectra["hessian"].top_values,
                               cpu.spectra["hessian"].top_values, rtol=1e-6)
