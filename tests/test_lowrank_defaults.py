"""randomized_svd's defaults against scikit-learn's, and the SVDs on torch tensors.

Defaults: on three spectra (fast, slow (1+i)^-0.6, flat-then-drop) the largest relative
singular-value error of ``randomized_svd(A, k)`` at its defaults, over 3 seeds, must be at
most the median of scikit-learn's ``randomized_svd(A, k)`` at its defaults over 3
random_states (both are random; ours is typically 2-5x more accurate, so the worst of ours
against the typical of theirs has room). Errors at rounding level are floored at 1e-12:
below that the comparison is of rounding noise, not of the method.

Torch: factors stay torch tensors (on the input's device), accuracy against
numpy.linalg.svd; float32 products carry ~1e-6 relative rounding (stated below).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import workbench.lowrank as lr
from workbench import spectral as sp

torch = pytest.importorskip("torch")

M, N = 700, 500          # small enough for a dense SVD in the test; min/10 = 50


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _matrix(s: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((M, len(s))))
    V, _ = np.linalg.qr(rng.standard_normal((N, len(s))))
    return (U * s) @ V.T


@cache
def spectrum_case(name: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(N)
    if name == "fast":
        s = np.exp(-0.1 * i)
    elif name == "slow":
        s = (1.0 + i) ** -0.6
    else:  # flat-then-drop: k equal values, then a slowly decaying tail at 0.7
        s = np.where(i < k, 1.0, 0.7 * (1.0 + np.maximum(i - k, 0)) ** -0.2)
    return _matrix(s), s


def _sv_error(s_hat, s, k) -> float:
    return float(np.max(np.abs(np.asarray(s_hat)[:k] - s[:k]) / s[:k]))


@pytest.mark.parametrize("name", ["fast", "slow", "flatdrop"])
@pytest.mark.parametrize("k", [20, 60])      # 7 power iterations (k < 50), and 4
def test_default_accuracy_at_least_sklearns(name, k):
    from sklearn.utils.extmath import randomized_svd as sk_rsvd

    A, s = spectrum_case(name, k)
    ours = [_sv_error(lr.randomized_svd(A, k, seed=t, compute_error=False).singular_values,
                      s, k) for t in range(3)]
    theirs = [_sv_error(sk_rsvd(A, k, random_state=t)[1], s, k) for t in range(3)]
    floor = 1e-12
    assert max(max(ours), floor) <= max(float(np.median(theirs)), floor), (ours, theirs)


def test_auto_rule_follows_sklearn_for_power_iterations():
    A, _ = spectrum_case("slow", 20)
    assert lr.randomized_svd(A, 20, compute_error=False).params["power_iters"] == 7
    assert lr.randomized_svd(A, 60, compute_error=False).params["power_iters"] == 4
    assert lr.randomized_svd(A, 60, compute_error=False).params["oversample"] == 15
    assert lr.randomized_svd(A, 20, power_iters=2, compute_error=False
                             ).params["power_iters"] == 2
    with pytest.raises(ValueError, match="'auto'"):
        lr.randomized_svd(A, 20, power_iters="many")
    res = sp.randomized_svd(A, 20)
    assert (res.power_iters, res.oversample) == (7, 15)


# ------------------------------------------------------------------- torch tensors
def _check_torch(res, A, k, rtol, device):
    U, s, Vt = res
    assert isinstance(U, torch.Tensor) and isinstance(Vt, torch.Tensor)
    assert U.device == device and Vt.device == device
    assert U.shape == (A.shape[0], k) and Vt.shape == (k, A.shape[1])
    s_ref = np.linalg.svd(A.astype(np.float64), compute_uv=False)[:k]
    assert np.allclose(s, s_ref, rtol=rtol, atol=0), np.max(np.abs(s - s_ref) / s_ref)
    Un, Vn = U.double().cpu().numpy(), Vt.double().cpu().numpy()
    # orthonormal factors and A v_i = s_i u_i to the same relative accuracy
    assert np.allclose(Un.T @ Un, np.eye(k), atol=10 * rtol)
    assert np.allclose(A @ Vn.T, Un * s, atol=10 * rtol * s[0])


@pytest.mark.parametrize("dtype,rtol", [
    # float64: rounding, times the small growth of the QR/SVD steps
    ("float64", 1e-10),
    # float32 products: each step rounds at eps32 = 1.2e-7, errors relative to s_1; the
    # k-th singular value (s_1 / s_k ~ 7 here) then carries ~1e-6
    ("float32", 2e-5)])
@pytest.mark.parametrize("method", ["randomized", "krylov", "exact", "exact_krylov",
                                    "gram", "engine"])
def test_torch_tensors_stay_on_device_and_match_numpy_svd(method, dtype, rtol):
    k = 8
    i = np.arange(N)
    s = np.where(i < k, 2.0 ** -(i / 3.0), 1e-3 * (1.0 + i) ** -0.5)   # a clear gap
    A = _matrix(s, seed=4).astype(dtype)
    At = torch.from_numpy(A)
    device = At.device
    if method == "randomized":
        res = lr.randomized_svd(At, k, compute_error=False)
    elif method == "krylov":
        res = lr.randomized_svd(At, k, method="krylov", compute_error=False)
    elif method == "exact":
        res = lr.exact_svd(At, k, compute_error=False)
    elif method == "exact_krylov":
        if dtype == "float32":
            pytest.skip("tol=1e-8 is below float32 rounding")
        res = lr.exact_svd(At, k, method="krylov", tol=1e-10, compute_error=False)
        assert res.info["converged"]
    elif method == "gram":
        res = lr.gram_svd(At, k, compute_error=False)
    else:
        r = sp.randomized_svd(At, k)
        res = (r.U, r.s, r.Vt)
    _check_torch(res, A, k, rtol, device)


def test_device_steps_never_leave_the_tensor(monkeypatch):
    """Every factorization on the torch path gets torch tensors: numpy's / scipy's
    factorizations must not be called (they would mean a copy to the host)."""
    import scipy.linalg

    A = torch.from_numpy(_matrix((1.0 + np.arange(N)) ** -0.6, seed=5))

    def forbidden(*a, **kw):
        raise AssertionError("host factorization on the torch path")

    for mod, name in ((np.linalg, "qr"), (np.linalg, "eigh"), (np.linalg, "svd"),
                      (scipy.linalg, "svd"), (scipy.linalg, "eigh")):
        monkeypatch.setattr(mod, name, forbidden)
    lr.randomized_svd(A, 10, compute_error=False)
    lr.randomized_svd(A, 10, method="krylov", compute_error=False)
    lr.block_krylov_svd(A, 10, tol=1e-6, compute_error=False)
    lr.gram_svd(A, 10, compute_error=False)
    sp.randomized_svd(A, 10)
