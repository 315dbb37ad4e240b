"""The neural-collapse run against the exact metrics it is built on."""

import numpy as np
import pytest
import torch

from workbench.eigenspectra.collapse import collapse_metrics, penultimate_features
from workbench.eigenspectra.collapse_run import (
    collapse_over_checkpoints,
    digits_mlp_models,
    minilm_head_models,
    run_collapse,
)
from workbench.errors import InputFormatError, RankError


def _collapsed_model(C=4, p=6, scale=3.0):
    """A classifier whose penultimate features are exactly the class means of a simplex
    ETF (input: one-hot class) and whose last layer is proportional to them."""
    etf = np.eye(C) - 1.0 / C                       # C x C, rows: centred simplex vertices
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(p, C)))
    M = torch.tensor(Q @ etf.T, dtype=torch.float64)  # p x C: the means as columns
    first = torch.nn.Linear(C, p, bias=False).double()
    last = torch.nn.Linear(p, C, bias=False).double()
    with torch.no_grad():
        first.weight.copy_(M)
        last.weight.copy_(scale * M.T)
    return torch.nn.Sequential(first, last)


def test_exact_collapse_gives_zero():
    C = 4
    y = torch.arange(40) % C
    X = torch.nn.functional.one_hot(y, C).double()
    run = collapse_over_checkpoints([_collapsed_model(C), _collapsed_model(C, scale=5.0)],
                                    (X, y), steps=[0, 7])
    for c in (0, 1):
        m = run.at(c).metrics
        # exact arithmetic gives 0; float64 round-off on O(1) numbers stays below 1e-12
        assert max(m.nc1, m.nc2, m.nc3, m.nc4) < 1e-12
        assert np.all(run.at(c).within < 1e-12)
    assert run.at(1).step == 7 and run.at(99).checkpoint == 1
    assert run.at(0).accuracy == 1.0


def test_at_equals_the_metrics_of_that_checkpoint():
    torch.manual_seed(0)
    X, y = torch.randn(60, 5), torch.arange(60) % 3
    models = [torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(),
                                  torch.nn.Linear(7, 3)) for _ in range(3)]
    run = collapse_over_checkpoints(models, (X, y), steps=[0, 5, 9], label="random")
    for c, model in enumerate(models):
        feats, lin = penultimate_features(model, X)
        want = collapse_metrics(feats, y, lin.weight, lin.bias)
        view = run.at(c)
        for k in ("nc1", "nc2", "nc3", "nc4"):
            # the same float64 computation on the same features
            assert getattr(view.metrics, k) == pytest.approx(getattr(want, k), rel=1e-12)
            assert view.over[k][c] == pytest.approx(getattr(want, k), rel=1e-12)
        assert np.allclose(view.within, want.within_eigenvalues)
        assert np.allclose(view.between, want.between_eigenvalues)
        acc = float((model(X).argmax(1) == y).double().mean())
        assert view.accuracy == pytest.approx(acc)
    assert list(run.table()["step"]) == [0, 5, 9]
    with pytest.raises(RankError):
        run.at(-1)
    with pytest.raises(InputFormatError, match="steps"):
        collapse_over_checkpoints(models, (X, y), steps=[1])
    with pytest.raises(InputFormatError, match="unknown source"):
        run_collapse("resnet")


@pytest.mark.slow
def test_digits_mlp_run():
    run = run_collapse("mlp")
    models, epochs, (X, y) = digits_mlp_models()
    assert list(run.steps) == epochs and run.step_name == "epoch"
    last = run.at()
    feats, lin = penultimate_features(models[-1], X)
    want = collapse_metrics(feats, y, lin.weight, lin.bias)
    assert last.metrics.nc1 == pytest.approx(want.nc1, rel=1e-10)
    # training separates the classes: NC1 and NC4 fall from their values at init
    assert last.metrics.nc1 < run.at(0).metrics.nc1
    assert last.metrics.nc4 < 0.05 < run.at(0).metrics.nc4
    assert last.accuracy > 0.95


@pytest.mark.slow
def test_minilm_head_run():
    models, steps, (F, y) = minilm_head_models(num_pairs=16, steps=20,
                                               checkpoints=(0, 20))
    assert F.shape == (16, 1536) and steps == [0, 20]
    run = collapse_over_checkpoints(models, (F, y), steps)
    feats, lin = penultimate_features(models[-1], F)
    assert run.at().metrics.nc1 == pytest.approx(
        collapse_metrics(feats, y, lin.weight, lin.bias).nc1, rel=1e-10)
    assert run.at().metrics.nc1 < run.at(0).metrics.nc1
