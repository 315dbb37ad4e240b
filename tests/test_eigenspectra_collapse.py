"""Neural collapse metrics: zero on exact collapse, the textbook formulas on random data."""

import numpy as np
import pytest
import torch

from workbench.eigenspectra.collapse import collapse_metrics, penultimate_features
from workbench.errors import InputFormatError, ShapeError


def _simplex_etf(C: int, p: int, seed: int = 0) -> np.ndarray:
    """C class means (rows) forming a simplex ETF in R^p (p >= C), randomly rotated."""
    E = np.sqrt(C / (C - 1)) * (np.eye(C) - np.ones((C, C)) / C)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((p, C)))
    return E @ Q.T


@pytest.mark.parametrize("C,p", [(2, 3), (4, 10), (10, 16)])
def test_exact_collapse_gives_zero(C, p):
    means = _simplex_etf(C, p) * 3.0 + 5.0  # any scale, any global offset
    y = np.repeat(np.arange(C), 7)
    H = means[y]
    W = (means - means.mean(0)) * 0.5  # classifier proportional to the centred means
    # the bias that makes the classifier centre the features (the offset's logits cancel)
    nc = collapse_metrics(H, y, weight=W, bias=-W @ means.mean(0))
    # exactly zero up to float64 round-off of O(C p) operations on O(1) numbers
    assert nc.nc1 == pytest.approx(0, abs=1e-12)
    assert nc.nc2 == pytest.approx(0, abs=1e-12)
    assert nc.nc3 == pytest.approx(0, abs=1e-12)
    assert nc.nc4 == 0.0
    assert nc.within_trace == pytest.approx(0, abs=1e-12)
    # Sigma_B of a simplex ETF: C - 1 equal eigenvalues, the rest zero
    top = nc.between_eigenvalues[:C - 1]
    assert np.allclose(top, top[0]) and np.allclose(nc.between_eigenvalues[C - 1:], 0,
                                                    atol=1e-12)


def _formulas(H, y, W, b):
    """The definitions written out with loops over classes and samples."""
    classes = np.unique(y)
    C, N = len(classes), H.shape[0]
    mu_g = H.mean(0)
    mus = {c: H[y == c].mean(0) for c in classes}
    sw = sum(np.outer(H[i] - mus[y[i]], H[i] - mus[y[i]]) for i in range(N)) / N
    sb = sum(np.outer(mus[c] - mu_g, mus[c] - mu_g) for c in classes) / C
    nc1 = np.trace(sw @ np.linalg.pinv(sb)) / C
    M = np.stack([mus[c] - mu_g for c in classes], 1)
    G = M.T @ M
    E = np.eye(C) - 1 / C
    nc2 = np.linalg.norm(G / np.linalg.norm(G) - E / np.linalg.norm(E))
    nc3 = np.linalg.norm(W / np.linalg.norm(W) - M.T / np.linalg.norm(M)) ** 2
    wrong = 0
    for i in range(N):
        pred = np.argmax(W @ H[i] + b)
        near = np.argmin([np.linalg.norm(H[i] - mus[c]) for c in classes])
        wrong += pred != near
    return nc1, nc2, nc3, wrong / N, np.linalg.eigvalsh(sw)[::-1], np.linalg.eigvalsh(sb)[::-1]


def test_matches_the_formulas_on_random_data():
    rng = np.random.default_rng(4)
    C, p, N = 5, 12, 200
    y = rng.integers(0, C, N)
    H = rng.standard_normal((N, p)) + 2.0 * rng.standard_normal((C, p))[y]
    W, b = rng.standard_normal((C, p)), rng.standard_normal(C)
    nc = collapse_metrics(H, y, weight=W, bias=b)
    nc1, nc2, nc3, nc4, ew, eb = _formulas(H, y, W, b)
    assert nc.nc1 == pytest.approx(nc1, rel=1e-10)
    assert nc.nc2 == pytest.approx(nc2, rel=1e-10)
    assert nc.nc3 == pytest.approx(nc3, rel=1e-10)
    assert nc.nc4 == pytest.approx(nc4)
    assert 0 < nc.nc4 < 1  # random classifier: some disagreement, not all
    assert np.allclose(nc.within_eigenvalues, ew, atol=1e-12)
    assert np.allclose(nc.between_eigenvalues, eb.clip(min=0), atol=1e-12)
    no_head = collapse_metrics(torch.tensor(H), torch.tensor(y))
    assert no_head.nc1 == pytest.approx(nc1, rel=1e-10) and np.isnan(no_head.nc3)


def test_penultimate_features_are_the_last_linear_layers_inputs():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    model.train()
    X = torch.randn(9, 4)
    feats, layer = penultimate_features(model, X, batch_size=4)
    assert layer is model[2] and model.training  # mode restored
    assert torch.allclose(feats, torch.relu(model[0](X)))


def test_bad_input_is_named():
    with pytest.raises(InputFormatError, match="2 classes"):
        collapse_metrics(np.ones((4, 2)), np.zeros(4, dtype=int))
    with pytest.raises(ShapeError, match="labels"):
        collapse_metrics(np.ones((4, 2)), np.zeros(3, dtype=int))
    with pytest.raises(InputFormatError, match="NaN"):
        collapse_metrics(np.full((4, 2), np.nan), np.array([0, 1, 0, 1]))
    with pytest.raises(ShapeError, match="weight"):
        collapse_metrics(np.ones((4, 2)), np.array([0, 1, 0, 1]), weight=np.ones((3, 2)))
