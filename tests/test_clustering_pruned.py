"""Hamerly's and Elkan's pruned k-means (``_hamerly`` kernels) and the bound-filtered GEMM
pass (``PrunedLloyd``, ``_kernels.pruned_step``) against the same kernels
with pruning off (every distance computed): identical labels, centers and n_iter, bit for
bit, in float32 and float64, with sample weights, and in a run that relocates an empty
cluster; and against
the numpy reference and scikit-learn where there are no near ties."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs

from workbench.clustering import KMeans
from workbench.clustering.kmeans import lloyd
from workbench.clustering.lloyd import ElkanLloyd, HamerlyLloyd, NumbaLloyd, NumpyLloyd, PrunedLloyd

PRUNED = [HamerlyLloyd, ElkanLloyd, PrunedLloyd]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """BLAS capped at one thread, as ``KMeans.fit`` runs the kernels (each numba thread of
    the pruned GEMM pass calls a small GEMM)."""
    from workbench.backends.threads import one_blas_thread

    limits = one_blas_thread()
    yield
    limits.restore_original_limits()
DTYPES = [np.float32, np.float64]


def _data(name, dtype):
    rng = np.random.default_rng(7)
    if name == "blobs":      # 30 blobs clustered with k=12: clusters merge and move
        X, _ = make_blobs(4000, n_features=7, centers=30, cluster_std=1.0, random_state=2)
        k = 12
    elif name == "uniform":  # no structure: many boundary points, slow convergence
        X = rng.random((3000, 5))
        k = 25
    else:                    # "empty": one initial center far off -> an empty cluster
        X, _ = make_blobs(2000, n_features=4, centers=6, cluster_std=0.7, random_state=5)
        k = 8
    X = np.ascontiguousarray(X, dtype=dtype)
    C0 = X[rng.choice(X.shape[0], k, replace=False)].copy()
    if name == "empty":
        C0[-1] = 1e3
    w = np.ones(X.shape[0], dtype=dtype)
    if name == "uniform":    # and non-unit sample weights
        w = (0.5 + rng.random(X.shape[0])).astype(dtype)
    return X, w, C0


class _Counting:
    """Wraps a backend, counting empty-cluster relocations (calls of exact_mind)."""

    def __init__(self, be):
        self.be, self.relocations = be, 0

    def step(self, centers):
        return self.be.step(centers)

    def assign(self, centers):
        return self.be.assign(centers)

    def exact_mind(self):
        self.relocations += 1
        return self.be.exact_mind()


@pytest.mark.parametrize("cls", PRUNED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["blobs", "uniform", "empty"])
def test_pruned_equals_unpruned_bit_for_bit(cls, dtype, name):
    X, w, C0 = _data(name, dtype)
    pruned = _Counting(cls(X, w, prune=True))
    full = _Counting(cls(X, w, prune=False))
    lab_p, C_p, in_p, it_p = lloyd(pruned, X, w, C0, 100, 0.0)
    lab_f, C_f, in_f, it_f = lloyd(full, X, w, C0, 100, 0.0)
    np.testing.assert_array_equal(lab_p, lab_f)
    np.testing.assert_array_equal(C_p, C_f)      # same labels, same summation order
    assert it_p == it_f
    assert in_p == in_f
    assert C_p.dtype == dtype
    # the pruning did prune (else the test compares the reference with itself)
    n = X.shape[0]
    assert min(pruned.be.full_assignments[1:]) < n
    assert all(f == n for f in full.be.full_assignments)
    if name == "empty":
        assert pruned.relocations >= 1 and pruned.relocations == full.relocations


@pytest.mark.parametrize("cls", PRUNED)
def test_pruned_equals_numpy_reference_float64(cls):
    # float64 blobs: the direct and the GEMM-expanded distances differ by ~1e-13, far
    # below any gap between a point's two nearest centers here, so labels agree exactly
    # and centers to the summation order's rounding (rtol 1e-12)
    X, w, C0 = _data("blobs", np.float64)
    lab, C, inertia, it = lloyd(cls(X, w), X, w, C0, 100, 0.0)
    lab_r, C_r, inertia_r, it_r = lloyd(NumpyLloyd(X, w), X, w, C0, 100, 0.0)
    np.testing.assert_array_equal(lab, lab_r)
    np.testing.assert_allclose(C, C_r, rtol=1e-12, atol=1e-12)
    assert it == it_r
    assert inertia == pytest.approx(inertia_r, rel=1e-10)


@pytest.mark.parametrize("algorithm", ["hamerly", "elkan", "pruned"])
def test_kmeans_algorithm_equals_sklearn_from_same_init(algorithm):
    X, w, C0 = _data("blobs", np.float64)
    sk = SkKMeans(12, init=C0, n_init=1, max_iter=300, tol=1e-4, algorithm="lloyd").fit(X)
    km = KMeans(12, init=C0, n_init=1, max_iter=300, tol=1e-4, backend="numba",
                algorithm=algorithm).fit(X)
    assert km.algorithm_ == algorithm
    np.testing.assert_array_equal(km.labels_, sk.labels_)
    np.testing.assert_allclose(km.cluster_centers_, sk.cluster_centers_, rtol=1e-10)
    assert km.n_iter_ == sk.n_iter_
    assert km.inertia_ == pytest.approx(sk.inertia_, rel=1e-10)   # float64 sums


def test_algorithm_resolution_and_bad_value():
    X, _, C0 = _data("blobs", np.float64)
    assert KMeans(12, init=C0, backend="numpy", algorithm="elkan").fit(X).algorithm_ == \
        "lloyd"
    assert KMeans(12, init=C0, backend="numba").fit(X).algorithm_ == "lloyd"
    km = KMeans(25, backend="numba", n_init=1, random_state=0).fit(X)
    assert km.algorithm_ == "pruned"          # auto: k >= lloyd.PRUNED_MIN_K
    ref = KMeans(25, init=km.cluster_centers_, backend="numba", algorithm="lloyd").fit(X)
    assert km.n_iter_ >= 1 and np.array_equal(ref.labels_, km.labels_)
    with pytest.raises(ValueError, match="algorithm"):
        KMeans(3, backend="numba", algorithm="fast").fit(X)


@pytest.mark.parametrize("name", ["blobs", "uniform", "empty"])
def test_gemm_pruned_float32_against_numpy_reference(name):
    """float32: the bound filter skips a row only when no rounding of the GEMM could change
    its label, so the run follows the numpy reference (float32 GEMM too) except at near
    ties, where the two GEMMs' roundings may pick different centers: labels agree on >=
    99.5 % of rows and centers to 1e-3 of the data's scale on these data."""
    X, w, C0 = _data(name, np.float32)
    lab, C, inertia, it = lloyd(PrunedLloyd(X, w), X, w, C0, 100, 0.0)
    lab_r, C_r, inertia_r, it_r = lloyd(NumpyLloyd(X, w), X, w, C0, 100, 0.0)
    assert np.mean(lab == lab_r) >= 0.995
    scale = float(np.abs(X).max())
    np.testing.assert_allclose(C, C_r, atol=1e-3 * scale)
    assert inertia == pytest.approx(inertia_r, rel=1e-4)
    assert C.dtype == np.float32


def test_gemm_pruned_equals_fused_pass_on_one_pass_and_k1():
    """Its first pass assigns every row through the GEMM as ``NumbaLloyd`` does (same
    labels and sums in float64); with k = 1 every row keeps center 0 and the bounds skip
    every row after the first pass."""
    X, w, C0 = _data("blobs", np.float64)
    s_p, w_p, _, lab_p, _ = PrunedLloyd(X, w).step(C0)
    s_f, w_f, _, lab_f, _ = NumbaLloyd(X, w).step(C0)
    np.testing.assert_array_equal(lab_p, lab_f)
    np.testing.assert_array_equal(w_p, w_f)
    np.testing.assert_allclose(s_p, s_f, rtol=1e-12)
    be = PrunedLloyd(X, w)
    lab, C, _, _ = lloyd(be, X, w, X[:1].copy(), 10, 0.0)
    assert np.all(lab == 0)
    np.testing.assert_allclose(C[0], X.mean(0), rtol=1e-12)
    assert be.full_assignments[0] == X.shape[0] and be.full_assignments[-1] == 0


def test_adaptive_pruned_falls_back_to_the_fused_pass_where_bounds_do_not_prune():
    """``adaptive=True`` (what KMeans runs): on structureless data in 30 dimensions the
    third pass still sends 99 % of the rows through the GEMM, so the run continues on the
    fused pass; the result is still the numpy reference's (float64). On blobs it keeps
    pruning and equals the non-adaptive pruned run bit for bit."""
    rng = np.random.default_rng(11)
    X = np.ascontiguousarray(rng.random((3000, 30)))
    w = np.ones(X.shape[0])
    C0 = X[rng.choice(X.shape[0], 40, replace=False)].copy()
    be = PrunedLloyd(X, w, adaptive=True)
    lab, C, inertia, it = lloyd(be, X, w, C0, 100, 0.0)
    assert be.fell_back_after == 3
    lab_r, C_r, inertia_r, it_r = lloyd(NumpyLloyd(X, w), X, w, C0, 100, 0.0)
    np.testing.assert_array_equal(lab, lab_r)
    np.testing.assert_allclose(C, C_r, rtol=1e-12)
    assert it == it_r
    assert inertia == pytest.approx(inertia_r, rel=1e-10)

    X, w, C0 = _data("blobs", np.float32)
    be = PrunedLloyd(X, w, adaptive=True)
    lab, C, _, it = lloyd(be, X, w, C0, 100, 0.0)
    lab_p, C_p, _, it_p = lloyd(PrunedLloyd(X, w), X, w, C0, 100, 0.0)
    assert be.fell_back_after is None
    np.testing.assert_array_equal(lab, lab_p)
    np.testing.assert_array_equal(C, C_p)
    assert it == it_p
