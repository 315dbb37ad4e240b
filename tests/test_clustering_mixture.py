"""Gaussian mixtures (vs scikit-learn), Probabilistic Partitive Partitioning choosing k,
the k-selection curves, and the metrics against scikit-learn / brute force."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

from workbench.clustering import (
    GaussianMixture,
    KMeans,
    PartitivePartitioning,
    datasets,
    elbow_k,
    k_selection,
    metrics,
)
from workbench.clustering.mixture import _partition_mixture
from workbench.errors import NonFiniteError, RankError, ShapeError


@pytest.fixture(scope="module")
def blobs():
    return datasets.toy_dataset("blobs", 1500, seed=0)


def test_gaussian_mixture_equals_sklearn(blobs):
    ours = GaussianMixture(3, random_state=0).fit(blobs.X)
    ref = SkGaussianMixture(3, random_state=0).fit(blobs.X)
    np.testing.assert_allclose(ours.means_, ref.means_)
    np.testing.assert_array_equal(ours.labels_, ref.predict(blobs.X))
    assert metrics.ari(blobs.labels, ours.labels_) == 1.0


def test_gaussian_mixture_bad_input():
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(RankError, match="n_clusters=11"):
        GaussianMixture(11).fit(X)
    X[4, 0] = np.nan
    with pytest.raises(NonFiniteError, match="row 4"):
        GaussianMixture(2).fit(X)


def test_partition_mixture_equals_one_m_step_of_sklearn(blobs):
    # the mixture read off a hard partition is scikit-learn's M-step with 0/1
    # responsibilities: check means/weights/covariances by hand
    km = KMeans(3, random_state=0).fit(blobs.X)
    gm = _partition_mixture(blobs.X, km.labels_, km.cluster_centers_, "full", 1e-6)
    for c in range(3):
        Xc = blobs.X[km.labels_ == c]
        np.testing.assert_allclose(gm.means_[c], Xc.mean(0), atol=1e-12)
        np.testing.assert_allclose(gm.weights_[c], len(Xc) / len(blobs.X))
        cov = np.cov(Xc.T, bias=True) + 1e-6 * np.eye(2)
        np.testing.assert_allclose(gm.covariances_[c], cov, atol=1e-12)
    # and its BIC is scikit-learn's formula on those parameters
    ll = gm.score(blobs.X) * len(blobs.X)
    p = 3 * 2 + 3 * 3 + 2   # means + covariances (d(d+1)/2 each) + weights - 1
    assert gm.bic(blobs.X) == pytest.approx(-2 * ll + p * np.log(len(blobs.X)))


@pytest.mark.parametrize("name,refine", [("blobs", False), ("blobs", True),
                                         ("varied", True), ("aniso", True)])
def test_ppp_chooses_the_number_of_gaussian_clusters(name, refine):
    # unequal (varied) or sheared (aniso) clusters: k-means partitions are biased, so the
    # partition is refined by EM before BIC judges it; round blobs need no refinement
    d = datasets.toy_dataset(name, 2000, seed=1)
    ppp = PartitivePartitioning(1, 7, random_state=0, n_init=2, refine=refine).fit(d.X)
    assert ppp.n_clusters_ == 3
    assert list(ppp.k_values_) == list(range(1, 8))
    assert np.argmin(ppp.bic_) == 2
    assert metrics.ari(d.labels, ppp.labels_) > 0.95
    # k-means' own objective only falls with k: it cannot choose k alone
    assert np.all(np.diff(ppp.inertia_) < 0)
    np.testing.assert_array_equal(ppp.predict(d.X[:20]), ppp.labels_[:20])


def test_ppp_without_refinement_overcounts_sheared_clusters():
    # documented behaviour: k-means cuts a sheared Gaussian into pieces, and each hard
    # piece fits a Gaussian better than the whole, so unrefined PPP picks too many
    d = datasets.toy_dataset("aniso", 2000, seed=1)
    assert PartitivePartitioning(1, 7, random_state=0, n_init=2).fit(d.X).n_clusters_ > 3


def test_ppp_on_no_structure_prefers_few_clusters():
    d = datasets.toy_dataset("no_structure", 1000, seed=0)
    ppp = PartitivePartitioning(1, 6, random_state=0).fit(d.X)
    # a uniform square is not Gaussian, so BIC may split it a little, but not into 6
    assert ppp.n_clusters_ <= 4


def test_ppp_bad_input():
    X = np.random.default_rng(0).standard_normal((5, 2))
    with pytest.raises(RankError, match="k_min"):
        PartitivePartitioning(4, 2).fit(X)
    ppp = PartitivePartitioning(1, 10).fit(X)   # k_max clipped to n
    assert ppp.k_values_[-1] == 5


def test_k_selection_curves(blobs):
    from workbench.clustering import SpectralClustering

    sc = SpectralClustering(3, random_state=0).fit(blobs.X)
    sel = k_selection(blobs.X, range(1, 7), eigenvalues=sc.laplacian_eigenvalues_)
    t = sel.table()
    assert list(t["k"]) == [1, 2, 3, 4, 5, 6]
    assert np.isnan(t["silhouette"][0])
    assert sel.suggested["bic"] == 3
    assert sel.suggested["silhouette"] == 3
    assert sel.suggested["eigengap"] == 3
    assert sel.suggested["elbow"] in (2, 3)   # two of the blobs sit closer together
    # the silhouette column is scikit-learn's silhouette of each k-means partition
    km = KMeans(4, random_state=0).fit(blobs.X)
    assert t["silhouette"][3] == pytest.approx(silhouette_score(blobs.X, km.labels_))


def test_elbow_rule():
    k = np.arange(1, 9)
    assert elbow_k(k, [100, 20, 5, 4, 3.5, 3, 2.7, 2.5]) == 3
    assert elbow_k(k, [100, 10, 9, 8, 7, 6, 5, 4]) == 2


# ---------------------------------------------------------------------- metrics
def test_metrics_equal_sklearn_and_brute_force():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 200)
    b = np.where(rng.random(200) < 0.8, a, rng.integers(0, 3, 200))
    assert metrics.ari(a, b) == pytest.approx(adjusted_rand_score(a, b))
    assert metrics.nmi(a, b) == pytest.approx(normalized_mutual_info_score(a, b))
    perm_b = np.array([2, 0, 1])[b]            # relabelling does not change any score
    brute = max(np.mean(np.array(p)[perm_b] == a) for p in itertools.permutations(range(3)))
    assert metrics.matched_accuracy(a, perm_b) == pytest.approx(brute)
    X = rng.standard_normal((200, 3))
    assert metrics.silhouette(X, a, sample_size=None) == pytest.approx(silhouette_score(X, a))
    cent = np.stack([X[a == c].mean(0) for c in range(3)])
    ref = sum(((X[a == c] - cent[c]) ** 2).sum() for c in range(3))
    assert metrics.inertia(X, a) == pytest.approx(ref)


def test_silhouette_is_sampled_for_large_n():
    d = datasets.toy_dataset("blobs", 200_000, seed=0)
    s = metrics.silhouette(d.X, d.labels, sample_size=2000, seed=0)
    exact_small = metrics.silhouette(d.X[:5000], d.labels[:5000], sample_size=None)
    # a 2000-point sample estimates the mean silhouette to ~0.01 (values are in [0, 1],
    # sd ~0.2 over points -> standard error 0.005)
    assert s == pytest.approx(exact_small, abs=0.02)
    assert np.isnan(metrics.silhouette(d.X[:10], np.zeros(10)))


def test_score_and_bad_lengths(blobs):
    sc = metrics.score(blobs.X, blobs.labels, truth=blobs.labels)
    assert sc.ari == 1.0 and sc.nmi == 1.0 and sc.accuracy == 1.0 and sc.n_clusters == 3
    assert np.isnan(metrics.score(blobs.X, blobs.labels).ari)
    with pytest.raises(ShapeError, match="different lengths"):
        metrics.ari([0, 1], [0, 1, 1])


@parametrize_with_checks([GaussianMixture(2), PartitivePartitioning(1, 3, n_init=1)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
