"""KMeans against scikit-learn and a numpy reference: labels, one Lloyd step, seeding,
restarts, weights, scikit-learn's estimator checks, and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from workbench.clustering import KMeans
from workbench.clustering.init import kmeans_parallel, kmeans_plusplus
from workbench.clustering.lloyd import make_backend
from workbench.errors import ConvergenceWarning, NonFiniteError, RankError, ShapeError

BACKENDS = ["numpy", "numba", "torch"]
DTYPES = [np.float32, np.float64]


@pytest.fixture(scope="module")
def blobs():
    # well separated: cluster std 0.5, centres ~10 apart in 6-D, so every method that
    # finds the minimum of the k-means objective finds the same partition
    X, y = make_blobs(n_samples=3000, centers=6, n_features=6, cluster_std=0.5,
                      center_box=(-20, 20), random_state=3)
    return X, y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("init", ["k-means++", "k-means||"])
def test_labels_agree_with_sklearn_on_separated_blobs(blobs, backend, dtype, init):
    X, y = blobs
    X = X.astype(dtype)
    sk = SkKMeans(6, n_init=3, random_state=0).fit(X)
    km = KMeans(6, init=init, n_init=3, backend=backend, random_state=0).fit(X)
    assert km.backend_ == backend
    assert adjusted_rand_score(sk.labels_, km.labels_) == 1.0
    assert adjusted_rand_score(y, km.labels_) == 1.0
    # same partition -> same objective, to float rounding of the summed distances
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    assert km.inertia_ == pytest.approx(sk.inertia_, rel=rtol)
    assert km.cluster_centers_.dtype == dtype
    assert km.labels_.dtype == np.int32


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [5, 40])  # 40 >= 32 takes the transposed (k x block) GEMM path
def test_one_lloyd_step_matches_numpy_reference_and_sklearn(backend, dtype, k):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4000, 9)).astype(dtype)
    C0 = X[rng.choice(4000, k, replace=False)].copy()
    # reference: plain numpy in float64, nearest center then means
    X64 = X.astype(np.float64)
    D = ((X64[:, None, :] - C0.astype(np.float64)[None]) ** 2).sum(-1)
    lab = D.argmin(1)
    ref = np.stack([X64[lab == c].mean(0) for c in range(k)])
    km = KMeans(k, init=C0, n_init=1, max_iter=1, tol=0, backend=backend).fit(X)
    sk = SkKMeans(k, init=C0, n_init=1, max_iter=1, tol=0, algorithm="lloyd").fit(X)
    # float64: sums of ~100 values of size ~1 -> 1e-12; float32 inputs keep float32
    # centers (relative rounding 6e-8 times the values ~3): 1e-5 absolute
    atol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(km.cluster_centers_, ref, atol=atol)
    np.testing.assert_allclose(km.cluster_centers_, sk.cluster_centers_, atol=atol)
    assert km.n_iter_ == 1


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_backends_agree_on_a_pass(backend):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3000, 5))
    w = rng.random(3000)
    C = X[:7].copy()
    ref = make_backend("numpy", X, w).step(C)
    out = make_backend(backend, X, w).step(C)
    np.testing.assert_array_equal(out[3], ref[3])            # labels
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-12, atol=1e-10)   # weighted sums
    np.testing.assert_allclose(out[1], ref[1], rtol=1e-12)   # weights
    assert out[2] == pytest.approx(ref[2], rel=1e-12)        # inertia
    np.testing.assert_allclose(out[4], ref[4], rtol=1e-9, atol=1e-9)     # min distances


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_fit_from_same_init_equals_sklearn(blobs, backend):
    X, _ = blobs
    rng = np.random.default_rng(0)
    C0 = X[rng.choice(len(X), 6, replace=False)]
    sk = SkKMeans(6, init=C0, n_init=1, algorithm="lloyd").fit(X)
    km = KMeans(6, init=C0, n_init=1, backend=backend).fit(X)
    np.testing.assert_array_equal(km.labels_, sk.labels_)
    np.testing.assert_allclose(km.cluster_centers_, sk.cluster_centers_, atol=1e-10)
    assert km.n_iter_ == sk.n_iter_


def test_kmeans_plusplus_numba_equals_numpy_and_is_seeded():
    X, _ = make_blobs(2000, centers=8, n_features=4, random_state=0)
    a, ia = kmeans_plusplus(X, 8, np.random.default_rng(5), use_numba=True)
    b, ib = kmeans_plusplus(X, 8, np.random.default_rng(5), use_numba=False)
    np.testing.assert_array_equal(ia, ib)  # same draws, same distances -> same rows
    np.testing.assert_array_equal(a, X[ia])
    assert len(set(ia.tolist())) == 8


def test_seeding_quality_near_sklearn():
    # k-means++ is an O(log k) approximation in expectation; on blobs it lands in the
    # right basin: the seeded-and-refined objective equals scikit-learn's
    X, _ = make_blobs(5000, centers=10, n_features=5, cluster_std=0.6, random_state=7)
    sk = SkKMeans(10, n_init=5, random_state=0).fit(X)
    for init in ("k-means++", "k-means||"):
        km = KMeans(10, init=init, n_init=5, random_state=0).fit(X)
        assert km.inertia_ <= sk.inertia_ * (1 + 1e-9)
    C = kmeans_parallel(X, 10, np.random.default_rng(0))
    assert C.shape == (10, 5) and np.isfinite(C).all()


def test_n_init_keeps_the_best_restart():
    # restarts draw from one generator: the first of 8 restarts is the single run with
    # the same seed, so keeping the best can only lower the objective; on this
    # overlapping data the 8 random starts do not all agree, so it strictly improves
    X, _ = make_blobs(1500, centers=12, n_features=2, cluster_std=1.5, random_state=1)
    first = KMeans(12, init="random", n_init=1, random_state=0).fit(X).inertia_
    best = KMeans(12, init="random", n_init=8, random_state=0).fit(X).inertia_
    assert best < first


def test_sample_weight_equals_repeating_points():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 3))
    reps = rng.integers(1, 4, 300)
    C0 = X[:4].copy()
    a = KMeans(4, init=C0, n_init=1).fit(X, sample_weight=reps.astype(float))
    b = KMeans(4, init=C0, n_init=1).fit(np.repeat(X, reps, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-12)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-12)
    sk = SkKMeans(4, init=C0, n_init=1).fit(X, sample_weight=reps.astype(float))
    np.testing.assert_allclose(a.cluster_centers_, sk.cluster_centers_, atol=1e-10)


def test_predict_transform_score(blobs):
    X, _ = blobs
    km = KMeans(6, random_state=0).fit(X)
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    D = km.transform(X[:50])
    ref = np.linalg.norm(X[:50, None] - km.cluster_centers_[None], axis=-1)
    np.testing.assert_allclose(D, ref, rtol=1e-8, atol=1e-8)
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-9)
    assert km.fit_seconds_ >= km.init_seconds_ >= 0


def test_empty_cluster_is_relocated():
    # two far groups and an initial center far from everything: its cluster is empty
    # after the first assignment and must be moved onto a data point (as scikit-learn)
    X = np.array([[0.0, 0], [0.1, 0], [0, 0.1], [10, 10], [10.1, 10], [10, 10.1]])
    C0 = np.array([[0.0, 0], [10, 10], [100, 100]])
    km = KMeans(3, init=C0, n_init=1).fit(X)
    sk = SkKMeans(3, init=C0, n_init=1).fit(X)
    assert len(np.unique(km.labels_)) == 3
    assert km.inertia_ == pytest.approx(sk.inertia_, rel=1e-9)


# ---------------------------------------------------------------------- bad input
def test_k_larger_than_n_is_a_rank_error():
    with pytest.raises(RankError, match="n_clusters=5 is out of range"):
        KMeans(5).fit(np.zeros((3, 2)) + np.arange(3)[:, None])


def test_nan_rows_are_named():
    X = np.random.default_rng(0).standard_normal((20, 2))
    X[7, 1] = np.nan
    with pytest.raises(NonFiniteError, match="first: row 7"):
        KMeans(2).fit(X)


def test_single_point_and_k1():
    km = KMeans(1).fit(np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(km.cluster_centers_, [[1.0, 2.0]])
    assert km.inertia_ == 0.0 and km.labels_.tolist() == [0]
    with pytest.raises(RankError):
        KMeans(2).fit(np.array([[1.0, 2.0]]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_duplicate_points_fewer_distinct_than_k_warns(backend):
    # 2 distinct points, k = 3: documented behaviour is a ConvergenceWarning and 2
    # distinct labels (the third center duplicates a point and gets no points)
    X = np.array([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)
    with pytest.warns(ConvergenceWarning, match="fewer than n_clusters=3"):
        km = KMeans(3, backend=backend, random_state=0).fit(X)
    assert km.inertia_ == 0.0
    assert len(np.unique(km.labels_)) == 2


def test_wrong_init_shape_and_bad_weights():
    X = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(ShapeError, match="init array has shape"):
        KMeans(2, init=np.zeros((2, 2))).fit(X)
    with pytest.raises(ShapeError, match="sample_weight has 3 entries"):
        KMeans(2).fit(X, sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match="zero for every sample"):
        KMeans(2).fit(X, sample_weight=np.zeros(10))


@parametrize_with_checks(
    [KMeans(3, n_init=1, backend="numba"), KMeans(3, n_init=1, backend="numpy"),
     KMeans(3, n_init=1, backend="numba", algorithm="hamerly"),
     KMeans(3, n_init=1, backend="numba", algorithm="elkan"),
     KMeans(3, n_init=1, backend="numba", algorithm="pruned")],
    expected_failed_checks=lambda est: {
        # as for scikit-learn's own KMeans: the random seeding draws differ between
        # weighted and repeated data, so the partitions may differ (a statistical, not an
        # exact, equivalence). test_sample_weight_equals_repeating_points checks it with
        # a fixed init instead.
        "check_sample_weight_equivalence_on_dense_data":
            "sample_weight is not equivalent to removing/repeating samples (random init)",
    })
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_tolerance_is_mean_feature_variance_times_tol():
    """The numba two-pass variance behind the stopping rule equals numpy's float64 one,
    and its row norms the float64 ones to the dtype's rounding."""
    from workbench.clustering.kmeans import _data_stats, _tolerance

    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        X = (rng.standard_normal((3001, 7)) * np.arange(1, 8) + 100).astype(dtype)
        ref = float(np.mean(np.var(X.astype(np.float64), axis=0))) * 1e-4
        assert _tolerance(X, 1e-4) == pytest.approx(ref, rel=1e-12)
        assert _tolerance(X, 0.0) == 0.0
        xsq, var = _data_stats(X)
        assert xsq.dtype == dtype
        np.testing.assert_allclose(xsq, (X.astype(np.float64) ** 2).sum(1),
                                   rtol=np.finfo(dtype).eps)
