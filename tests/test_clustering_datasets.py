"""Datasets: the toy sets' shapes and labels, the planted partition's edge densities, and
the detectability theory (BBP threshold, overlap, accuracy) against simulation."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.clustering import datasets, metrics
from workbench.errors import RankError


@pytest.mark.parametrize("name", datasets.TOY_DATASETS)
def test_toy_sets(name):
    d = datasets.toy_dataset(name, 1000, noise=1.0, seed=3)
    assert d.X.shape == (1000, 2) and d.X.dtype == np.float64
    np.testing.assert_allclose(d.X.mean(0), 0, atol=1e-12)   # standardized
    np.testing.assert_allclose(d.X.std(0), 1, atol=1e-12)
    if name == "no_structure":
        assert d.labels is None and d.n_clusters == 1
    else:
        assert len(np.unique(d.labels)) == d.n_clusters
    again = datasets.toy_dataset(name, 1000, noise=1.0, seed=3)
    np.testing.assert_array_equal(d.X, again.X)               # seeded


def test_noise_zero_gives_exact_shapes():
    d = datasets.toy_dataset("circles", 400, noise=0.0, standardize=False)
    r = np.linalg.norm(d.X, axis=1)
    np.testing.assert_allclose(np.sort(np.unique(np.round(r, 12))), [0.5, 1.0])


def test_a_million_points():
    d = datasets.toy_dataset("moons", 1_000_000, seed=0)
    assert d.X.shape == (1_000_000, 2)
    with pytest.raises(RankError, match="n_samples"):
        datasets.toy_dataset("moons", 1_000_001)


def test_digits_and_load():
    d = datasets.digits()
    assert d.X.shape == (1797, 64) and d.n_clusters == 10
    assert datasets.load("moons", 300).X.shape == (300, 2)
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load("nope")


def test_planted_partition_edge_densities():
    g = datasets.planted_partition(4000, 4, mean_degree=12, signal=20, seed=0)
    W = g.W.tocsr()
    assert (W != W.T).nnz == 0 and np.all(W.diagonal() == 1)
    C = W.tocoo()
    off = C.row != C.col
    same = g.labels[C.row[off]] == g.labels[C.col[off]]
    n = 4000
    sizes = np.bincount(g.labels)
    pairs_in = (sizes * (sizes - 1)).sum()            # ordered pairs, as W is symmetric
    pairs_out = n * (n - 1) - pairs_in
    p_in, p_out = g.params["a"] / n, g.params["b"] / n
    emp_in = same.sum() / pairs_in
    emp_out = (~same).sum() / pairs_out
    # ~ 10^4 edges each: relative sd ~1%; collisions of drawn pairs lose O(p) of them
    assert emp_in == pytest.approx(p_in, rel=0.05)
    assert emp_out == pytest.approx(p_out, rel=0.05)
    assert g.threshold == pytest.approx(4 * np.sqrt(12))
    with pytest.raises(RankError, match="out of range"):
        datasets.planted_partition(1000, 2, mean_degree=5, signal=50)


def test_gaussian_threshold_formulas():
    assert datasets.gaussian_threshold(1000, 500) == pytest.approx(0.5 ** 0.25)
    s = np.array([0.5, 0.84, 1.0, 2.0])
    rho = datasets.gaussian_overlap(s, 4000, 2000)
    assert rho[0] == 0 and rho[1] == 0 and 0 < rho[2] < rho[3] < 1
    acc = datasets.gaussian_accuracy(s, 4000, 2000)
    assert acc[0] == 0.5 and acc[3] > 0.95


def test_theory_curve_of_the_detectability_tab():
    from scipy.stats import norm

    from workbench.clustering.detectability import theory_curve

    s, acc = theory_curve(4000, 2000, 2.5, points=11)     # threshold 0.5^(1/4) = 0.84
    np.testing.assert_allclose(s, np.linspace(0, 2.5, 11))
    assert (acc[s < 0.84] == 0.5).all() and (np.diff(acc[s > 0.85]) > 0).all()
    rho = (1 - 0.5 / 2.5 ** 4) / (1 + 1 / 2.5 ** 2)       # the overlap at s = 2.5, c = 0.5
    assert acc[-1] == pytest.approx(norm.cdf(np.sqrt(rho / (1 - rho))), rel=1e-12)


@pytest.mark.slow
def test_spectral_accuracy_matches_theory_across_the_threshold():
    # ground truth: the top singular vector of X, computed exactly (dense eigh of the
    # d x d Gram matrix, its top eigenpair only: u = X v / |X v|, to machine precision,
    # without the full SVD's n x d factor); n = 3000, d = 1500 (c = 0.5, threshold 0.84).
    # Finite-n fluctuations of the accuracy are ~0.01-0.03 away from the threshold; near
    # it the finite-size correction is larger, so points there are checked loosely.
    import scipy.linalg

    n, d = 3000, 1500
    for s, tol in [(0.5, 0.06), (1.3, 0.03), (2.0, 0.02)]:
        data = datasets.two_gaussians(n, d, signal=s, seed=1)
        _, V = scipy.linalg.eigh(data.X.T @ data.X, subset_by_index=[d - 1, d - 1])
        pred = (data.X @ V[:, 0] > 0).astype(int)
        acc = metrics.matched_accuracy(data.labels, pred)
        theory = float(datasets.gaussian_accuracy(s, n, d))
        assert acc == pytest.approx(theory, abs=tol), (s, acc, theory)
