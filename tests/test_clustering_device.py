"""k-means on the torch device (workbench.clustering.device_lloyd) against the numpy
reference loop (workbench.clustering.kmeans.lloyd with the numpy backend) from the same
initial centers: labels, centers, n_iter, empty clusters; and that the loop reads nothing
from the device per step beyond its convergence flag. Runs on CPU tensors: the same code
runs on CUDA."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.clustering import KMeans
from workbench.clustering.init import kmeans_plusplus as np_plusplus
from workbench.clustering.kmeans import lloyd as np_lloyd
from workbench.clustering.lloyd import make_backend

torch = pytest.importorskip("torch")
dl = pytest.importorskip("workbench.clustering.device_lloyd")


def _data(n=3000, d=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(6, d))
    X = centers[rng.integers(6, size=n)] + rng.standard_normal((n, d))
    return X.astype(dtype), rng


def _reference(X, w, C0, max_iter, tol):
    return np_lloyd(make_backend("numpy", X, w), X, w, C0, max_iter, tol)


def _device(X, w, C0, max_iter, tol, **kw):
    Xt, wt = torch.from_numpy(X), torch.from_numpy(w)
    labels, C, inertia, n_iter, steps = dl.lloyd(Xt, wt, torch.from_numpy(C0), max_iter,
                                                 tol, **kw)
    return labels.numpy(), C.numpy(), float(inertia), int(n_iter), steps


@pytest.mark.parametrize("tol", [0.0, 1e-4])       # label-equality stop, and center shift
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("chunk", [None, 700])     # one chunk, and several uneven ones
def test_float64_equals_numpy_reference(tol, weighted, chunk):
    X, rng = _data()
    w = rng.random(len(X)) if weighted else np.ones(len(X))
    C0 = X[rng.choice(len(X), 9, replace=False)].copy()
    lab, C, inertia, n_iter = _reference(X, w, C0, 300, tol)
    lab_d, C_d, inertia_d, n_iter_d, _ = _device(X, w, C0, 300, tol, chunk=chunk,
                                                 unit_weights=not weighted)
    np.testing.assert_array_equal(lab_d, lab)
    # float64 sums of ~500 values of size ~5 in another order: ~1e-13
    np.testing.assert_allclose(C_d, C, rtol=0, atol=1e-10)
    assert n_iter_d == n_iter
    assert inertia_d == pytest.approx(inertia, rel=1e-10)


def test_float32_within_stated_tolerance():
    X, rng = _data(dtype=np.float32, seed=3)
    w = np.ones(len(X), dtype=np.float32)
    C0 = X[rng.choice(len(X), 9, replace=False)].copy()
    lab, C, inertia, n_iter = _reference(X, w, C0, 300, 1e-4)
    lab_d, C_d, inertia_d, n_iter_d, _ = _device(X, w, C0, 300, 1e-4, unit_weights=True)
    # float32: the per-chunk sums round at 6e-8 relative; a point exactly between two
    # centers could flip, none does on separated blobs; centers of size ~5: 1e-5 absolute
    np.testing.assert_array_equal(lab_d, lab)
    np.testing.assert_allclose(C_d, C, rtol=0, atol=1e-5)
    assert n_iter_d == n_iter
    assert inertia_d == pytest.approx(inertia, rel=1e-5)


@pytest.mark.parametrize("n_far", [1, 2])
def test_empty_clusters_relocated_like_the_reference(n_far):
    X, rng = _data(seed=5)
    C0 = X[rng.choice(len(X), 6, replace=False)].copy()
    # n_far centers far from every point: empty after the first assignment
    C0[:n_far] = 1e3 + np.arange(n_far)[:, None]
    w = np.ones(len(X))
    ref_be = make_backend("numpy", X, w)
    assert (ref_be.step(C0)[1] == 0).sum() == n_far       # the case really has empties
    for max_iter in (1, 300):
        lab, C, inertia, n_iter = _reference(X, w, C0, max_iter, 1e-4)
        lab_d, C_d, _, n_iter_d, _ = _device(X, w, C0, max_iter, 1e-4, unit_weights=True)
        np.testing.assert_array_equal(lab_d, lab)
        np.testing.assert_allclose(C_d, C, rtol=0, atol=1e-10)
        assert n_iter_d == n_iter
    assert len(np.unique(lab_d)) == 6


def test_late_flag_reads_change_nothing():
    """The CUDA mode reads the convergence flag `lag` steps late; steps past convergence
    must leave the state unchanged (same bookkeeping on CPU with lag > 0)."""
    X, rng = _data(seed=7)
    w = np.ones(len(X))
    C0 = X[rng.choice(len(X), 9, replace=False)].copy()
    now = _device(X, w, C0, 300, 1e-4, lag=0)
    late = _device(X, w, C0, 300, 1e-4, lag=3)
    np.testing.assert_array_equal(late[0], now[0])
    np.testing.assert_array_equal(late[1], now[1])
    assert late[3] == now[3] and late[4] == now[4] + 3


def test_no_host_reads_per_step_beyond_the_flag(monkeypatch):
    X, rng = _data(seed=8)
    w = np.ones(len(X))
    C0 = X[rng.choice(len(X), 9, replace=False)].copy()
    Xt, wt, Ct = torch.from_numpy(X), torch.from_numpy(w), torch.from_numpy(C0)
    reads = []
    for name in ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__",
                 "__index__"):
        orig = getattr(torch.Tensor, name)

        def spy(self, *a, _orig=orig, _name=name, **kw):
            reads.append(_name)
            return _orig(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, spy)
    *_, steps = dl.lloyd(Xt, wt, Ct, 300, 1e-4, lag=2)
    monkeypatch.undo()
    # one flag read per step once the lag is filled; nothing else
    assert steps > 3 and reads == ["__bool__"] * (steps - 2)
    reads.clear()
    monkeypatch.setattr(torch.Tensor, "item", lambda *a: reads.append("item"))
    monkeypatch.setattr(torch.Tensor, "__bool__", lambda *a: reads.append("bool") or True)
    dl.kmeans_plusplus(Xt, 6, np.random.default_rng(0))
    monkeypatch.undo()
    assert reads == []                       # seeding: no host read at all


def test_device_plusplus_matches_numpy_seeding():
    X, _ = _data(seed=9)
    ref, _ = np_plusplus(X, 6, np.random.default_rng(4), use_numba=False)
    got = dl.kmeans_plusplus(torch.from_numpy(X), 6, np.random.default_rng(4)).numpy()
    # same uniform draws, same greedy choice; float64 cumsums agree to rounding
    np.testing.assert_allclose(got, ref, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeans_estimator_on_tensors(dtype):
    X, rng = _data(seed=11, dtype=dtype)
    C0 = X[rng.choice(len(X), 6, replace=False)].copy()
    ref = KMeans(6, init=C0, n_init=1, backend="numpy").fit(X)
    km = KMeans(6, init=C0, n_init=1, backend="torch").fit(torch.from_numpy(X))
    np.testing.assert_array_equal(km.labels_, ref.labels_)
    atol = 1e-5 if dtype == np.float32 else 1e-10      # as in the float32 test above
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, atol=atol)
    assert km.n_iter_ == ref.n_iter_ and km.cluster_centers_.dtype == dtype
    pp = KMeans(6, backend="torch", random_state=0).fit(X)
    pp_ref = KMeans(6, backend="numpy", random_state=0).fit(X)
    np.testing.assert_array_equal(pp.labels_, pp_ref.labels_)
    assert KMeans(6, init="random", n_init=3, backend="torch",
                  random_state=0).fit(X).inertia_ == pytest.approx(pp_ref.inertia_, rel=1e-4)
