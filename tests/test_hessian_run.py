"""The Hessian topic run (no browser): ``run_hessian`` computes once, ``.at`` views it
without products and agrees with direct computations and with dense Hessian / GGN /
Fisher eigenvalues; the settings class generates ExperimentConfig; the sweep experiment
trains with the same loop and settings; the thread-capping queue."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import workbench.hessian as wh
from workbench.errors import InputFormatError, RankError
from workbench.hessian.experiments import PRESETS, ExperimentConfig, train_experiment
from workbench.hessian.run import run_hessian
from workbench.hessian.settings import ExperimentSettings, HessianSettings, fields
from workbench.hessian.spectrum import curvature_spectrum, density_curve

# 4 inputs, 6 hidden tanh units, 3 classes: 51 parameters, dense matrices in milliseconds;
# float64 so that the estimates can be compared with eigh tightly
SMALL = dict(num_samples=64, num_classes=3, dim=4, separation=6.0, width=6, depth=1,
             activation="tanh", optimizer="gd", lr=0.2, steps=20, num_snapshots=3,
             sharpness_every=10, dtype="float64", k=8, num_probes=2, num_steps=12,
             trace_matvecs=16)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from workbench.backends import limited_threads

    with limited_threads(1):
        yield


@pytest.fixture(scope="module")
def run():
    return run_hessian(**SMALL)


@pytest.mark.slow  # the module's run: ~6 s on a loaded 2-core machine
def test_at_the_last_checkpoint_is_curvature_spectrum_of_the_trained_model(run):
    s = HessianSettings(**SMALL)
    model, data = run.training.model, run.experiment.dataset.pair()
    loss = wh.models.make_loss(s.loss)
    ref = curvature_spectrum(wh.hessian_operator(model, loss, data), seed=s.seed,
                             **s.estimator())
    view = run.at()  # the last checkpoint
    assert view.step == 20 and view.checkpoint == 2 and view.checkpoints_ready
    # the same code, seed and data on the same weights: the same numbers (up to BLAS
    # summation order under another thread count: 1e-10 relative)
    np.testing.assert_allclose(view.top_values, ref.top_values, rtol=1e-10)
    assert view.min_value == pytest.approx(ref.min_value, rel=1e-10)
    assert view.trace == pytest.approx(ref.trace, rel=1e-10)
    assert view.num_outliers == ref.num_outliers
    grid, dens = density_curve(ref.density, 1.0)
    np.testing.assert_allclose(view.grid, grid, rtol=1e-10)
    np.testing.assert_allclose(view.density, dens, rtol=1e-8, atol=1e-12)
    # and against the exact spectrum: Lanczos stops at residual 1e-6 x ||H||, so each
    # eigenvalue is within ~1e-6 relative of eigh's (well below the 1e-4 asked here)
    exact = np.linalg.eigvalsh(wh.dense_hessian(model, loss, data).numpy())
    np.testing.assert_allclose(view.top_values, exact[::-1][:8], rtol=1e-4, atol=1e-8)
    assert view.min_value == pytest.approx(exact[0], rel=1e-3, abs=1e-6)
    # XTrace with 16 of 51 products: within a few standard errors of the exact trace
    assert abs(view.trace - exact.sum()) <= 5 * view.trace_std + 1e-8
    assert view.loss == run.training.final.loss


@pytest.mark.slow
def test_every_checkpoint_and_broadening_is_a_free_view(run):
    assert run.steps() == [0, 10, 20]
    loss = wh.models.make_loss("cross_entropy")
    data = run.experiment.dataset.pair()
    m0 = run.training.model_at(0)
    exact0 = np.linalg.eigvalsh(wh.dense_hessian(m0, loss, data).numpy())
    before = run.spectrum(0).num_matvecs
    for b in (0.5, 1.0, 3.0):
        view = run.at(checkpoint=0, broadening=b)
        assert view.step == 0 and view.broadening == b
        # the density is a probability density whatever the broadening (trapezoid on 400
        # points over +-4 sigma: 1% leaves room for the cut tails)
        assert np.trapezoid(view.density, view.grid) == pytest.approx(1.0, abs=0.01)
        np.testing.assert_allclose(view.top_values, exact0[::-1][:8], rtol=1e-4, atol=1e-8)
    wide, narrow = run.at(0, 3.0), run.at(0, 0.5)
    assert wide.density.max() < narrow.density.max()  # same mass spread wider
    assert run.spectrum(0).num_matvecs == before  # views never compute
    with pytest.raises(RankError):
        run.at(checkpoint=-1)
    assert run.at(checkpoint=99).step == 20  # past the end: the last one


@pytest.mark.slow
def test_compare_view_against_dense_ggn_and_fisher(run):
    cmp = run.at(broadening=1.5).compare
    model, data = run.training.model, run.experiment.dataset.pair()
    loss = wh.models.make_loss("cross_entropy")
    for kind, dense in (("ggn", wh.dense_ggn), ("fisher", wh.dense_empirical_fisher)):
        exact = np.linalg.eigvalsh(dense(model, loss, data).numpy())
        # Lanczos to 1e-6 relative residual: 1e-4 on the top eigenvalues is safe
        np.testing.assert_allclose(cmp.top_values[kind][:3], exact[::-1][:3], rtol=1e-4)
    grids = [g for g, _ in cmp.curves.values()]
    assert all(np.array_equal(g, grids[0]) for g in grids)  # one grid for all three
    for _, d in cmp.curves.values():
        assert np.trapezoid(d, grids[0]) == pytest.approx(1.0, abs=0.02)
    assert set(cmp.table()["kind"]) == {"hessian", "ggn", "fisher"}


@pytest.mark.slow
def test_stages_add_what_they_say_and_export():
    first = run_hessian(checkpoints=False, compare=False, **SMALL)
    assert first.checkpoints is None and first.compare is None
    assert first.at(checkpoint=0).step == 20  # only the final spectrum exists yet
    assert not first.at().checkpoints_ready and first.at().compare is None
    second = first.with_checkpoints()
    assert second.steps() == [0, 10, 20] and second.experiment is first.experiment
    assert second.with_checkpoints() is second
    third = second.with_compare()
    assert set(third.compare) == {"hessian", "ggn", "fisher"}
    df = third.export(checkpoint=1)
    assert set(df["series"]) == {"density", "top eigenvalue", "sharpness"}
    assert set(df[df["series"] != "sharpness"]["step"]) == {10}
    np.testing.assert_array_equal(df[df["series"] == "top eigenvalue"]["y"],
                                  third.spectrum(1).top_values)
    s = third.sharpness()
    assert s["threshold"] == pytest.approx(2 / 0.2)


def test_settings_are_the_one_declaration():
    # ExperimentConfig is generated from ExperimentSettings: same names and defaults
    names = [f.name for f in dataclasses.fields(ExperimentConfig)]
    assert names == fields(ExperimentSettings)
    assert ExperimentConfig() == HessianSettings().config()
    cfg = HessianSettings(sharpness_every=None, steps=200).config()
    assert cfg.sharpness_every == 5 and hash(cfg) == hash(cfg.replace())
    assert fields(ExperimentSettings, shown=True) == [
        "dataset", "num_samples", "num_classes", "dim", "separation", "model", "width",
        "depth", "activation", "loss", "optimizer", "lr", "batch_size", "steps"]
    for preset in PRESETS.values():
        assert isinstance(preset, ExperimentConfig)
    # a preset's changes: the shown fields where it differs; none once applied
    s = HessianSettings(width=7, steps=400, seed=5)
    changes = s.preset_changes("edge_of_stability")
    assert changes["width"] == 32 and changes["loss"] == "mse" and "steps" not in changes
    assert "seed" not in changes and "k" not in changes  # hidden fields, estimators
    s.param.update(**changes)
    assert s.preset_changes("edge_of_stability") == {}
    assert s.preset_changes("bulk_and_outliers")["optimizer"] == "sgd"
    # k is raised to 2C + 2 (digits: 10 classes)
    assert HessianSettings(dataset="digits", k=3).estimator()["k"] == 22
    with pytest.raises(ValueError, match="width"):
        HessianSettings(width=0)
    with pytest.raises(InputFormatError, match="CNN"):
        run_hessian(model="cnn", dataset="two_moons")
    with pytest.raises(RankError, match="trace_matvecs"):
        run_hessian(trace_matvecs=0)


def test_data_seed_and_full_batch():
    base = HessianSettings(**SMALL).config().replace(steps=2, sharpness_every=0)
    a = train_experiment(base)
    b = train_experiment(base.replace(seed=1, data_seed=0))
    c = train_experiment(base.replace(seed=1))  # data_seed None: the data follow seed
    assert torch.equal(a.dataset.X, b.dataset.X) and not torch.equal(a.dataset.X, c.dataset.X)
    full = train_experiment(base.replace(optimizer="sgd", batch_size=None))
    assert full.training.settings["batch_size"] == 64


def test_sweep_experiment_trains_with_the_topic_settings():
    from workbench.sweep.experiments.hessian import SWEEP_DEFAULTS, top_eigs

    out = top_eigs(width=5, num_samples=48, train_steps=4, k=2)
    new = top_eigs(width=5, num_samples=48, steps=4, k=2)
    np.testing.assert_array_equal(out.pop("top_k"), new.pop("top_k"))
    assert out == pytest.approx(new, nan_ok=True)
    s = HessianSettings(**{**SWEEP_DEFAULTS, "width": 5, "num_samples": 48, "steps": 4})
    trained = train_experiment(s.config())
    assert out["loss"] == trained.training.final.loss
    assert out["num_params"] == wh.num_parameters(trained.training.model)
    with pytest.raises(InputFormatError, match="no_such"):
        top_eigs(no_such=1)


def test_limited_threads_queue_runs_one_block_at_a_time():
    from workbench.backends.threads import _queue, capped, limited_threads

    before = torch.get_num_threads()
    with limited_threads(1, queue="test-queue"):
        assert _queue("test-queue").locked() and torch.get_num_threads() == 1
        assert not _queue("test-queue").acquire(blocking=False)  # a second block waits
    assert not _queue("test-queue").locked() and torch.get_num_threads() == before
    assert capped(lambda: torch.get_num_threads(), 1, queue="test-queue")() == 1
