"""The curvature-approximations run (K-FAC, Shampoo, optimal Kronecker, M-FAC along
training) against the exact APIs it is built on."""

import numpy as np
import pytest
import torch

from workbench.errors import InputFormatError, RankError
from workbench.hessian import dense_ggn
from workbench.hessian.approximations import METHODS, mfac_error_curve, run_approximations
from workbench.hessian.experiments import train_experiment
from workbench.hessian.kronecker import kronecker_blocks, layer_factors
from workbench.hessian.models import OneHotMSELoss, make_loss
from workbench.hessian.settings import HessianSettings

SMALL = dict(num_samples=96, width=8, steps=12, num_snapshots=3, dim=6)


@pytest.fixture(scope="module")
def trained():
    return train_experiment(HessianSettings(**SMALL).config())


@pytest.fixture(scope="module")
def run(trained):
    return run_approximations(trained, k=4, num_samples=64, seed=3)


def _subset(trained, n, seed):
    X, y = trained.dataset.pair()
    idx = torch.from_numpy(np.sort(np.random.default_rng(seed).choice(X.shape[0], n,
                                                                      replace=False)))
    return X[idx], y[idx]


def test_at_equals_kronecker_blocks_on_that_checkpoint(trained, run):
    assert run.steps == tuple(s.step for s in trained.training.snapshots)
    assert run.layers == ("0", "2", "4")
    data = _subset(trained, 64, 3)
    for c in (0, len(run.steps) - 1):
        model = trained.training.snapshots[c].load_into(trained.training.model)
        direct = kronecker_blocks(model, make_loss("cross_entropy"), data, k=4)
        for i, name in enumerate(run.layers):
            view = run.at(checkpoint=c, layer=i)
            assert view.layer == name and view.step == run.steps[c]
            b = direct[name]
            # the same float64 computation on the same data and seed: equal to round-off
            for m in METHODS:
                assert np.allclose(view.spectra[m], b.spectra[m], rtol=1e-9, atol=1e-14)
            for m in METHODS[1:]:
                assert view.errors[m] == pytest.approx(b.errors[m], rel=1e-9)
                assert np.allclose(view.overlaps[m], b.overlaps[m], atol=1e-7)
                assert view.top_overlap[m][c] == pytest.approx(b.overlaps[m][0], abs=1e-7)
                assert view.error_over[m][c] == pytest.approx(b.errors[m], rel=1e-9)


def test_views_are_cheap_and_checked(run):
    last = run.at()
    assert last.checkpoint == len(run.steps) - 1
    assert run.at(99, "2").checkpoint == last.checkpoint
    assert run.at(layer="2").shape == (8, 8)
    for m in METHODS[1:]:
        assert len(last.top_overlap[m]) == len(run.steps)
        assert 0 <= last.errors[m] <= 1.5 and np.all(last.overlaps[m] <= 1 + 1e-9)
    # the optimum is the nearest Kronecker product: no larger error than K-FAC or Shampoo
    for c in range(len(run.steps)):
        for name in run.layers:
            e = run.at(c, name).errors
            assert e["optimal"] <= min(e["kfac"], e["shampoo"]) + 1e-9
    with pytest.raises(InputFormatError, match="no linear layer"):
        run.at(layer="nope")
    with pytest.raises(RankError):
        run.at(checkpoint=-1)
    with pytest.raises(RankError):
        run.at(layer=7)
    table = run.table()
    assert len(table) == len(run.steps) * len(run.layers) * 3


def test_mfac_curve_against_the_dense_inverse(trained, run):
    curve = run.mfac
    assert curve.num_grads[-1] == 64 and curve.step == run.steps[-1]
    # m = N: M-FAC's Woodbury products are the dense solve, in float64
    assert curve.rel_error[-1] < 1e-8
    assert curve.rel_error[0] > 1e-3  # one gradient is not the Fisher of 64
    # a direct recomputation of one point: the dense (lambda I + G^T G / m)^{-1} v
    from workbench.hessian.mfac import mfac_from_model

    model = trained.training.snapshots[-1].load_into(trained.training.model)
    data = _subset(trained, 64, 3)
    G = mfac_from_model(model, make_loss("cross_entropy"), data).G.double()
    G = G[torch.from_numpy(np.random.default_rng(3).permutation(64))]
    m, lam = 8, curve.damping
    v = G.mean(0)
    eye = torch.eye(G.shape[1], dtype=G.dtype)
    exact = torch.linalg.solve(G.T @ G / 64 + lam * eye, v)
    approx = torch.linalg.solve(G[:m].T @ G[:m] / m + lam * eye, v)
    want = float(torch.linalg.norm(approx - exact) / torch.linalg.norm(exact))
    i = list(curve.num_grads).index(m)
    assert curve.rel_error[i] == pytest.approx(want, rel=1e-6)
    again = mfac_error_curve(model, make_loss("cross_entropy"), data, num_grads=[8],
                             seed=3)
    assert again.rel_error[0] == pytest.approx(want, rel=1e-6)


def test_one_hot_square_loss_block_is_the_dense_ggn():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    X, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    facs = layer_factors(model, OneHotMSELoss(), (X, y))
    for name in ("0", "2"):
        exact = dense_ggn(model, OneHotMSELoss(), (X, y), params=[f"{name}.weight"]).numpy()
        # sums of 20 x 3 float64 outer products: round-off agreement
        assert np.allclose(facs[name].dense().numpy(), exact, rtol=1e-10, atol=1e-12)


def test_sources_and_bad_input(trained):
    with pytest.raises(InputFormatError, match="takes HessianSettings"):
        run_approximations(object())
    with pytest.raises(InputFormatError, match="not both"):
        run_approximations(trained, width=3)
