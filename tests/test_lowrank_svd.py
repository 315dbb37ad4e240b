"""The SVD family (exact, randomized, block Krylov, Gram, exact mode) against LAPACK's SVD
on matrices with known spectra: fast (geometric) decay, slow (i^-1/2) decay, and a flat
rank-10 signal under noise.

Tolerances: where theory gives a bound it is checked as stated (Halko, Martinsson & Tropp
2011, "HMT"); the tighter practical factors are derived from the convergence rate of
subspace iteration, (s_{l+1} / s_i)^(2q+1) per singular value, with l = rank + oversample.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import workbench.lowrank as lr
from workbench.errors import ConvergenceWarning, NonFiniteError, RankError, ShapeError
from workbench.operators import aslinearoperator

K, P = 10, 10          # rank and oversampling used throughout
SPECTRA = ("fast", "slow", "flatnoise")


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small matrices: one BLAS thread is as fast, and far faster on a loaded machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@cache
def case(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(A, all singular values of A by LAPACK) for a 300 x 200 test matrix."""
    if name == "fast":
        A = lr.synthetic(300, 200, "fast", rank=K, seed=1).A     # s_i = exp(-3 (i-1) / 10)
    elif name == "slow":
        A = lr.synthetic(300, 200, "slow", seed=2).A              # s_i = i^-1/2
    else:  # s = 1 (10 times) then 1e-3, plus N(0, 0.01^2) noise: tail ~ 0.01 (sqrt m + sqrt n)
        A = lr.synthetic(300, 200, "flat", rank=K, noise=0.01, seed=3).A
    return A, np.linalg.svd(A, compute_uv=False)


def _hmt_spectral(s: np.ndarray, k: int, p: int, q: int) -> float:
    """HMT Corollary 10.10: E ||(I - QQ^T) A||_2 for a Gaussian sketch of k + p columns and
    q power iterations."""
    e = 2 * q + 1
    t = ((1 + np.sqrt(k / (p - 1))) * s[k] ** e
         + np.e * np.sqrt(k + p) / p * np.sqrt(np.sum(s[k:] ** (2 * e))))
    return float(t ** (1 / e))


# ------------------------------------------------------------------------ exact methods
@pytest.mark.parametrize("name", SPECTRA)
def test_truncated_svd_is_the_eckart_young_optimum(name):
    A, s = case(name)
    res = lr.truncated_svd(A, K)
    U, sv, Vt = res
    assert np.allclose(sv, s[:K], rtol=1e-12)
    # the error of the truncated SVD is the optimum itself (Eckart-Young-Mirsky)
    assert res.error.fro_ratio == pytest.approx(1.0, abs=1e-10)
    assert res.error.spec == pytest.approx(s[K] / s[0], rel=1e-6)
    assert res.error.max_sv_error < 1e-12
    assert np.linalg.norm(A - res.approx()) == pytest.approx(np.sqrt(np.sum(s[K:] ** 2)),
                                                             rel=1e-10)
    assert U.shape == (300, K) and Vt.shape == (K, 200)


@pytest.mark.parametrize("name", SPECTRA)
def test_gram_svd_accuracy_is_eps_times_squared_condition(name):
    A, s = case(name)
    res = lr.gram_svd(A, K)
    # squaring A: relative accuracy of s_i about eps (s_1/s_i)^2, reported in info; a
    # factor 10 covers the constant of the symmetric eigensolver's backward error
    rel = np.abs(res.singular_values - s[:K]) / s[:K]
    assert np.all(rel <= 10 * res.info["accuracy"] + 1e-15)
    assert res.error.fro_ratio == pytest.approx(1.0, abs=1e-8)
    U, sv, Vt = res
    assert np.allclose(U.T @ U, np.eye(K), atol=1e-8)


def test_gram_svd_wide_matrix():
    A, s = case("fast")
    res = lr.gram_svd(A.T, K)
    assert np.allclose(res.singular_values, s[:K], rtol=1e-10)
    assert res.factors["U"].shape == (200, K) and res.factors["Vt"].shape == (K, 300)


@pytest.mark.parametrize("name", SPECTRA)
def test_exact_mode_reaches_1e8(name):
    A, s = case(name)
    res = lr.exact_svd(A, K, method="krylov", tol=1e-8)
    assert res.info["converged"] is True
    # the stopping rule bounds the relative error of each s_i by tol (residual bound with
    # the Ritz gap); measured errors are far below it
    assert res.error.max_sv_error <= 1e-8
    assert res.error.fro_ratio == pytest.approx(1.0, abs=1e-8)
    U, sv, Vt = res
    assert np.allclose(U.T @ U, np.eye(K), atol=1e-10)
    assert np.allclose(Vt @ Vt.T, np.eye(K), atol=1e-10)


def test_exact_svd_auto_routes():
    A, s = case("slow")
    small = lr.exact_svd(A, K)                     # min(m, n) <= 400: LAPACK
    assert small.method == "svd"
    assert np.allclose(small.singular_values, s[:K], rtol=1e-12)
    g = lr.exact_svd(A, K, method="gram")
    assert g.method == "gram"
    with pytest.raises(ValueError, match="method"):
        lr.exact_svd(A, K, method="magic")


def test_exact_mode_warns_when_it_cannot_converge():
    A, _ = case("slow")
    with pytest.warns(ConvergenceWarning, match="without reaching"):
        res = lr.block_krylov_svd(A, K, tol=1e-14, max_iters=1)
    assert res.info["converged"] is False


# ------------------------------------------------------------------- randomized methods
@pytest.mark.parametrize("name", SPECTRA)
def test_randomized_svd_theory_bounds_over_seeds(name):
    """HMT bounds in expectation, checked on the mean over 5 seeds.

    - q = 0, Frobenius: E ||(I - QQ^T)A||_F <= sqrt(1 + k/(p-1)) ||A - A_k||_F (Thm 10.5),
      and truncating to rank k adds at most ||A - A_k||_F (the rank-k truncation of QQ^T A
      is no worse than QQ^T A_k), so the ratio to the optimum is <= 1 + sqrt(1 + k/(p-1)).
    - q = 2, spectral: ||A - Q[Q^T A]_k||_2 <= s_{k+1} + ||(I - QQ^T)A||_2 (Thm 9.3) and
      Corollary 10.10 bounds the second term.
    """
    A, s = case(name)
    fro0 = [lr.randomized_svd(A, K, oversample=P, power_iters=0, seed=t,
                              reference_sv=s).error.fro_ratio for t in range(5)]
    assert np.mean(fro0) <= 1 + np.sqrt(1 + K / (P - 1))
    spec2 = [lr.randomized_svd(A, K, oversample=P, power_iters=2, seed=t,
                               reference_sv=s).error.spec * s[0] for t in range(5)]
    assert np.mean(spec2) <= s[K] + _hmt_spectral(s, K, P, 2)


@pytest.mark.parametrize("name", SPECTRA)
def test_randomized_svd_singular_values_are_one_sided_and_accurate(name):
    A, s = case(name)
    res = lr.randomized_svd(A, K, oversample=P, power_iters=2, seed=0, reference_sv=s)
    sv = res.singular_values
    # singular values of Q^T A never exceed those of A (interlacing): a one-sided error
    assert np.all(sv <= s[:K] * (1 + 1e-12))
    # practical factor. Subspace iteration's relative error on s_i behaves like
    # (s_{l+1}/s_i)^(2(2q+1)) times a modest random constant (l = 20, q = 2):
    #  fast: (exp(-3*19/10)/exp(-3*9/10))^10 ~ 1e-13  -> 1e-10
    #  flat + noise: s_{l+1}/s_10 ~ 0.28 (noise edge 0.01 (sqrt 300 + sqrt 200) = 0.31)
    #  -> 0.28^10 ~ 3e-6, measured 7e-6 -> allow 1e-4 (and 1e-4 on Frobenius)
    #  slow (i^-1/2): (10/21)^5 ~ 0.02 for s_10, measured 6e-3 -> allow 0.05; Frobenius:
    #  the tail holds 90% of the energy, so the relative excess is small (measured 8e-4)
    tol_sv, tol_fro = {"fast": (1e-10, 1e-10), "flatnoise": (1e-4, 1e-4),
                       "slow": (0.05, 0.01)}[name]
    assert res.error.max_sv_error <= tol_sv
    assert res.error.fro_ratio <= 1 + tol_fro
    U, _, Vt = res
    assert np.allclose(U.T @ U, np.eye(K), atol=1e-10)
    assert np.allclose(Vt @ Vt.T, np.eye(K), atol=1e-10)
    assert res.num_matvecs == (K + P) * (2 * 2 + 2)   # l (1 + 2q) range finder + l for B


@pytest.mark.parametrize("name", SPECTRA)
@pytest.mark.parametrize("q", [0, 1, 2])
def test_block_krylov_contains_subspace_iteration(name, q):
    """The Krylov space [AW, (AA^T)AW, ..., (AA^T)^q AW] contains subspace iteration's
    (AA^T)^q AW for the same start W (same seed and block size), so deterministically:
    its Frobenius error is no larger (Q[Q^T A]_k is the best rank-k approximation within
    range(Q)) and each Ritz value is no smaller (interlacing), up to rounding."""
    A, s = case(name)
    sub = lr.randomized_svd(A, K, oversample=P, power_iters=q, seed=7, reference_sv=s)
    kry = lr.randomized_svd(A, K, method="krylov", block_size=K + P, power_iters=q, seed=7,
                            reference_sv=s)
    assert kry.error.fro <= sub.error.fro * (1 + 1e-10) + 1e-14
    assert np.all(kry.singular_values >= sub.singular_values * (1 - 1e-10))
    assert np.all(kry.singular_values <= s[:K] * (1 + 1e-12))
    assert kry.info["basis_size"] == (K + P) * (q + 1)


def test_krylov_beats_subspace_per_matvec_on_slow_decay():
    # the point of block Krylov: on slowly decaying spectra, the same number of products
    # buys a better approximation (Musco & Musco 2015)
    A, s = case("slow")
    sub = lr.randomized_svd(A, K, oversample=P, power_iters=3, seed=0, reference_sv=s)
    kry = lr.randomized_svd(A, K, method="krylov", block_size=K + P, power_iters=2, seed=0,
                            reference_sv=s)
    assert kry.num_matvecs < sub.num_matvecs
    assert kry.error.max_sv_error < sub.error.max_sv_error


def test_exactly_low_rank_matrix_is_recovered_exactly():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((80, 6)) @ rng.standard_normal((6, 50))
    for res in (lr.randomized_svd(A, 6, power_iters=0), lr.block_krylov_svd(A, 6, iters=1),
                lr.gram_svd(A, 6), lr.truncated_svd(A, 6)):
        assert np.allclose(res.approx(), A, atol=1e-9), res.method


def test_float32_products_keep_single_precision_accuracy():
    A, s = case("fast")
    res = lr.randomized_svd(A, K, dtype="float32", reference_sv=s)
    # float32 rounding: ~ 1e-7 relative per product, a few products -> 1e-5
    assert res.error.max_sv_error <= 1e-5
    assert res.params["dtype"] == "float32"


def test_operator_and_sparse_inputs():
    A, s = case("fast")
    op = aslinearoperator(A)
    res = lr.randomized_svd(op, K)
    assert res.error is None                      # no matrix at hand: no error computed
    assert np.allclose(res.singular_values, s[:K], rtol=1e-10)
    import scipy.sparse as sps

    S = sps.random(400, 300, density=0.05, random_state=0, format="csr")
    ref = np.linalg.svd(S.toarray(), compute_uv=False)
    r = lr.randomized_svd(S, 5, power_iters=4)
    assert r.error is not None and r.error.fro_ratio < 1.05
    assert np.all(r.singular_values <= ref[:5] * (1 + 1e-12))
    e = lr.exact_svd(S, 5, method="krylov")
    assert np.allclose(e.singular_values, ref[:5], rtol=1e-8)


# ------------------------------------------------------------------------ results
def test_result_truncation_matches_a_smaller_svd():
    A, s = case("slow")
    full = lr.truncated_svd(A, 20)
    small = full.truncate(5)
    assert small.rank == 5 and small.error is None
    assert np.allclose(small.approx(), lr.truncated_svd(A, 5).approx(), atol=1e-10)
    assert np.allclose(full.approx(5), small.approx())
    L, R = full.left_right(7)
    assert L.shape == (300, 7) and R.shape == (7, 200)
    with pytest.raises(ValueError):
        full.truncate(21)
    with pytest.raises(ValueError):
        lr.cur(A, 5).truncate(3)


def test_compression_ratio_and_parameters():
    A, _ = case("fast")
    res = lr.truncated_svd(A, 10)
    assert res.num_parameters == 300 * 10 + 10 + 10 * 200
    assert res.compression_ratio == pytest.approx(300 * 200 / 5010)


def test_optimum_and_error_definitions():
    sv = np.array([3.0, 2.0, 1.0])
    fro, spec = lr.optimum(sv, 1)
    assert fro == pytest.approx(np.sqrt(5 / 14))
    assert spec == pytest.approx(2 / 3)
    assert lr.optimum(sv, 3) == (0.0, 0.0)
    e = lr.ApproxError(fro=0.2, spec=0.1, fro_opt=0.1, spec_opt=0.1)
    assert e.fro_ratio == pytest.approx(2.0) and e.spec_ratio == pytest.approx(1.0)
    assert lr.ApproxError(0.0, 0.0, 0.0, 0.0).fro_ratio == 1.0
    assert lr.ApproxError(0.1, 0.0, 0.0, 0.0).fro_ratio == float("inf")


def test_error_spectral_norm_on_large_residual_uses_lanczos():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((500, 450))
    res = lr.randomized_svd(A, 5, power_iters=1)
    R = A - res.approx()
    # Lanczos (svds, tol 1e-6) on matrices over 400 columns
    assert res.error.spec * np.linalg.norm(A, 2) == pytest.approx(np.linalg.norm(R, 2),
                                                                  rel=1e-5)


# --------------------------------------------------------------------- numpy vs torch
def test_numpy_and_torch_agree():
    torch = pytest.importorskip("torch")
    A, s = case("slow")
    At = torch.from_numpy(A)
    for fn in (lambda X: lr.randomized_svd(X, K, seed=3),
               lambda X: lr.randomized_svd(X, K, method="krylov", seed=3),
               lambda X: lr.truncated_svd(X, K),
               lambda X: lr.exact_svd(X, K, method="krylov"),
               lambda X: lr.gram_svd(X, K)):
        a, b = fn(A), fn(At)
        # same numpy-drawn Gaussian block, float64 on both sides: rounding-level agreement
        assert np.allclose(a.singular_values, b.singular_values, rtol=1e-10), a.method
        assert isinstance(b.factors["U"], torch.Tensor)
        assert np.allclose(np.abs(a.factors["U"].T @ b.factors["U"].numpy()),
                           np.eye(K), atol=1e-6), a.method
        assert b.error is not None and b.error.fro_ratio == pytest.approx(a.error.fro_ratio,
                                                                          rel=1e-8)


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("fn", [lr.truncated_svd, lr.randomized_svd, lr.block_krylov_svd,
                                lr.gram_svd, lr.exact_svd],
                         ids=lambda f: f.__name__)
def test_bad_input_gives_clear_errors(fn):
    A = np.ones((20, 10))
    with pytest.raises(RankError, match=r"between 1 and min\(m, n\) = 10.*got 11"):
        fn(A, 11)
    with pytest.raises(RankError):
        fn(A, 0)
    with pytest.raises(RankError, match="integer"):
        fn(A, 2.5)
    B = A.copy()
    B[3, 4] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        fn(B, 2)
    with pytest.raises(ShapeError, match="2-D"):
        fn(np.ones(10), 1)
    with pytest.raises(ShapeError, match="empty"):
        fn(np.ones((0, 5)), 1)
    with pytest.raises(ShapeError, match="real"):
        fn(np.ones((4, 4), dtype=complex), 1)


def test_bad_method_and_oversampling():
    A = np.ones((20, 10))
    with pytest.raises(ValueError, match="method"):
        lr.randomized_svd(A, 2, method="lanczos")
    with pytest.raises(ValueError, match=">= 0"):
        lr.randomized_svd(A, 2, oversample=-1)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_exact_mode_on_a_wide_dynamic_range_is_scale_invariant(scale):
    # s_i = exp(-i/10): s_100 / s_1 = 5e-5. The stopping rule must bound the *relative*
    # error of each s_i whatever the scale of A (a bug once compared eigen-residuals of
    # A A^T with s_i instead of s_i^2, and declared convergence with errors of 4e-2)
    s = np.exp(-np.arange(600) / 10)
    A = scale * lr.synthetic_fast(800, 600, s, seed=0)
    res = lr.block_krylov_svd(A, 100, block_size=110, tol=1e-8, compute_error=False)
    assert res.info["converged"]
    assert np.max(np.abs(res.singular_values / scale - s[:100]) / s[:100]) <= 1e-8
    assert np.all(res.info["error_bound"] <= 1e-8)
