"""Streaming top eigenvector, rank selection, scikit-learn transformers, the
``approximate`` / ``error_curve`` entry points and the matrix sources."""

from __future__ import annotations

import numpy as np
import pytest

import workbench.lowrank as lr
from workbench.errors import NonFiniteError, RankError, ShapeError


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


# ------------------------------------------------------------------------ streaming
def _spiked(m: int, seed: int = 0):
    """m rows from N(0, V diag(lam) V^T), lam = (4, 2, 0.5 x 48)."""
    rng = np.random.default_rng(seed)
    n = 50
    lam = np.r_[4.0, 2.0, np.full(n - 2, 0.5)]
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (rng.standard_normal((m, n)) * np.sqrt(lam)) @ V.T
    return A, lam


def _pca_rate(lam: np.ndarray, m: int) -> float:
    """The statistical error of the sample top eigenvector (asymptotic variance of PCA):
    E sin^2 ~ sum_{j>1} lam_1 lam_j / ((lam_1 - lam_j)^2 m). No estimator from m rows does
    better; Oja's rule with a step ~ 1/(gap t) attains it up to a constant (Jain et al.
    2016, "Streaming PCA: matching matrix Bernstein ... for Oja's algorithm")."""
    return float(np.sum(lam[0] * lam[1:] / (lam[0] - lam[1:]) ** 2) / m)


def test_oja_finds_the_top_eigenvector():
    A, lam = _spiked(20_000)
    truth = np.linalg.svd(A, full_matrices=False)[2][0]
    res = lr.oja(A, seed=0, truth=truth)
    assert res.vector.shape == (50,)
    assert np.linalg.norm(res.vector) == pytest.approx(1.0)
    # within 5x the statistical rate (measured 0.75x): one pass is as good as PCA
    assert res.final_sin2 <= 5 * _pca_rate(lam, 20_000)
    assert 1 - (res.vector @ truth) ** 2 == pytest.approx(res.final_sin2, abs=1e-12)
    # the error falls as rows arrive
    assert res.sin2[-1] < res.sin2[len(res.sin2) // 4] < res.sin2[0]
    assert res.rows_seen[-1] == 20_000
    # the Rayleigh quotient is within the sin^2 error of the top eigenvalue of A^T A
    top = np.linalg.svd(A, compute_uv=False)[0] ** 2
    assert res.eigenvalue == pytest.approx(top, rel=10 * res.final_sin2)


def test_block_power_baseline():
    A, lam = _spiked(20_000)
    res = lr.block_power(A, seed=0)
    b = res.params["block_size"]
    assert b == 1000
    # each block is a fresh sample: the estimate is only as good as PCA on ~one block
    assert res.final_sin2 <= 5 * _pca_rate(lam, b)
    oja = lr.oja(A, seed=0)
    assert oja.final_sin2 < res.final_sin2      # Oja uses every row to the end


def test_oja_computes_the_truth_itself_and_checks_it():
    A, _ = _spiked(2000, seed=1)
    res = lr.oja(A, seed=0, num_checkpoints=10)
    assert len(res.sin2) == 10 and res.final_sin2 < 0.5
    with pytest.raises(ShapeError, match="length 50"):
        lr.oja(A, truth=np.ones(3))
    with pytest.raises(NonFiniteError):
        lr.block_power(np.full((5, 3), np.nan))


# ------------------------------------------------------------------- rank selection
def test_marchenko_pastur_median_and_gavish_donoho_constants():
    # the median of the eigenvalues of a 1000 x 1000 white Wishart matrix (variance 1)
    # is the Marchenko-Pastur median up to O(1/n) fluctuations
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 1000)) / np.sqrt(1000)
    assert lr.marchenko_pastur_median(1.0) == pytest.approx(
        np.median(np.linalg.eigvalsh(X @ X.T)), abs=5e-3)
    # Gavish & Donoho (2014): lambda*(1) = 4/sqrt(3); the unknown-noise threshold
    # omega(beta) ~ 0.56 b^3 - 0.95 b^2 + 1.82 b + 1.43 (their fit, ~0.02 off; 2.858 at 1)
    s = np.linspace(1, 2, 100)
    assert lr.gavish_donoho_threshold(s, (100, 100), sigma=1.0) == \
        pytest.approx(4 / np.sqrt(3) * 10, rel=1e-12)
    for beta in (0.25, 0.5, 1.0):
        n = 400
        m = int(beta * n)
        s = np.linspace(1, 3, m)
        omega = lr.gavish_donoho_threshold(s, (m, n)) / np.median(s)
        fit = 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43
        assert omega == pytest.approx(fit, abs=0.03)


@pytest.mark.parametrize("known_sigma", [True, False])
def test_gavish_donoho_recovers_the_rank_of_a_noisy_low_rank_matrix(known_sigma):
    rng = np.random.default_rng(0)
    m, n, r, sigma = 300, 200, 6, 0.1
    # signal singular values well above the detection edge sigma (sqrt m + sqrt n) = 3.1
    S = lr.synthetic(m, n, "flat", rank=r, seed=1,
                     singular_values=np.r_[np.linspace(12, 6, r), np.zeros(n - r)])
    X = S.A + sigma * rng.standard_normal((m, n))
    s = np.linalg.svd(X, compute_uv=False)
    k = lr.gavish_donoho_rank(s, X.shape, sigma=sigma if known_sigma else None)
    assert k == r
    assert lr.select_rank(s, X.shape, "gavish_donoho") == r
    # pure noise: nothing survives the threshold
    s0 = np.linalg.svd(sigma * rng.standard_normal((m, n)), compute_uv=False)
    assert lr.gavish_donoho_rank(s0, (m, n)) == 0


def test_energy_and_elbow_rank():
    s = np.array([3.0, 2.0, 1.0])
    assert lr.energy_rank(s, 9 / 14) == 1
    assert lr.energy_rank(s, 0.65) == 2
    assert lr.energy_rank(s, 1.0) == 3
    assert lr.energy_rank(np.zeros(4)) == 1
    step = np.r_[np.full(5, 10.0), np.full(45, 0.01)]
    assert lr.elbow_rank(step) == 5
    assert lr.select_rank(step, rule="elbow") == 5
    assert lr.select_rank(step, rule="energy", energy=0.99) == 5
    with pytest.raises(ValueError, match="energy"):
        lr.energy_rank(s, 0.0)
    with pytest.raises(ShapeError):
        lr.energy_rank([])
    with pytest.raises(NonFiniteError):
        lr.elbow_rank([1.0, np.nan])
    with pytest.raises(ShapeError, match="all 100 singular values"):
        lr.gavish_donoho_threshold(np.ones(5), (100, 200))
    with pytest.raises(ShapeError, match="shape"):
        lr.select_rank(s, rule="gavish_donoho")
    with pytest.raises(ValueError, match="rule"):
        lr.select_rank(s, rule="aic")


# ---------------------------------------------------------------------- transformers
def test_lowrank_svd_matches_sklearn_truncated_svd():
    from sklearn.decomposition import TruncatedSVD

    A = lr.synthetic(120, 40, "fast", rank=5, seed=0).A
    ref = TruncatedSVD(5, algorithm="arpack", random_state=0).fit(A)
    for method in ("randomized", "krylov", "exact", "svd"):
        ours = lr.LowRankSVD(rank=5, method=method).fit(A)
        assert np.allclose(ours.singular_values_, ref.singular_values_, rtol=1e-8), method
        signs = np.sign(np.sum(ours.components_ * ref.components_, axis=1))
        assert np.allclose(ours.components_ * signs[:, None], ref.components_, atol=1e-8)
        Z = ours.transform(A)
        assert np.allclose(Z * signs, ref.transform(A), atol=1e-8)
        assert np.allclose(ours.inverse_transform(Z), ref.inverse_transform(ref.transform(A)),
                           atol=1e-8)


def test_transformers_in_a_pipeline_and_cloned():
    from sklearn.base import clone
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, y = load_digits(return_X_y=True)
    for step in (lr.LowRankSVD(rank=20), lr.CURSelector(rank=20)):
        pipe = make_pipeline(step, LogisticRegression(max_iter=2000))
        pipe.fit(X[:1000], y[:1000])
        # 20 directions (or 40 actual pixels) keep most of the digits' information
        assert pipe.score(X[1000:], y[1000:]) > 0.85
        c = clone(step)
        assert c.get_params() == step.get_params() and not hasattr(c, "result_")
    cs = lr.CURSelector(rank=10, columns=30, selection="qr").fit(X)
    assert cs.transform(X).shape == (1797, 30)
    assert np.array_equal(cs.transform(X), X[:, cs.columns_])
    with pytest.raises(ValueError, match="features"):
        cs.transform(X[:, :10])


def test_transformers_pass_sklearn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    for est in (lr.LowRankSVD(rank=2), lr.CURSelector(rank=2)):
        results = check_estimator(est, on_fail=None)
        failed = [r["check_name"] for r in results if r["status"] == "failed"]
        assert failed == [], (type(est).__name__, failed)


def test_transformer_bad_input():
    with pytest.raises(RankError, match="n_samples=5, n_features=3"):
        lr.LowRankSVD(rank=4).fit(np.ones((5, 3)))
    with pytest.raises(ValueError, match="method"):
        lr.LowRankSVD(rank=1, method="qr").fit(np.ones((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        lr.CURSelector(rank=1).fit(np.full((5, 3), np.nan))


# ----------------------------------------------------------- approximate / error_curve
def test_every_method_through_approximate():
    Kmat = lr.rbf_kernel_matrix(200, seed=0)
    s = np.linalg.svd(Kmat, compute_uv=False)
    for method in lr.METHODS:
        res = lr.approximate(Kmat, 8, method, reference_sv=s)
        assert res.rank == 8 and res.approx().shape == (200, 200)
        # no method beats Eckart-Young; all of these are within 3x of it on this kernel
        assert 1 - 1e-10 <= res.error.fro_ratio <= 3.0, method
        assert res.compression_ratio > 1
    with pytest.raises(ValueError, match="unknown method"):
        lr.approximate(Kmat, 3, "qr")


def test_error_curve_against_the_optimum():
    A = lr.synthetic(120, 80, "slow", seed=0).A
    df = lr.error_curve(A, [2, 5, 10], methods=("svd", "randomized", "cur_qr", "id"))
    assert set(df["method"]) == {"svd", "randomized", "cur_qr", "id"}
    assert len(df) == 12
    assert np.allclose(df.loc[df.method == "svd", "fro_ratio"], 1.0, atol=1e-10)
    assert (df["fro_ratio"] >= 1 - 1e-10).all()
    assert (df["fro"] >= df["fro_opt"] - 1e-12).all()
    # the optimum falls with the rank
    opt = df[df.method == "svd"].sort_values("rank")["fro_opt"].to_numpy()
    assert np.all(np.diff(opt) < 0)
    # SVD-type methods are computed once at the largest rank and sliced
    assert df.loc[df.method == "randomized", "seconds"].nunique() == 1
    with pytest.raises(RankError):
        lr.error_curve(A, [200])


# -------------------------------------------------------------------------- sources
def test_synthetic_matrices_have_the_stated_spectrum():
    for decay in ("fast", "slow", "flat"):
        S = lr.synthetic(60, 40, decay, rank=5, seed=0)
        assert np.allclose(np.linalg.svd(S.A, compute_uv=False), S.singular_values)
        assert S.singular_values[0] == 1.0
        assert np.allclose(S.U.T @ S.U, np.eye(40)) and np.allclose(S.V.T @ S.V, np.eye(40))
    s = lr.spectrum("slow", 50)
    assert np.allclose(s, 1 / np.sqrt(np.arange(1, 51)))
    fast = lr.synthetic_fast(64, 40, s[:40], seed=3)
    assert np.allclose(np.linalg.svd(fast, compute_uv=False), s[:40])
    noisy = lr.synthetic(60, 40, "flat", rank=5, noise=0.1, seed=0)
    assert not np.allclose(np.linalg.svd(noisy.A, compute_uv=False), noisy.singular_values)
    with pytest.raises(ValueError, match="decay"):
        lr.spectrum("medium", 5)
    with pytest.raises(ShapeError):
        lr.synthetic(10, 5, singular_values=np.ones(4))
    with pytest.raises(ShapeError):
        lr.synthetic_fast(10, 5, np.ones(4))


def test_bundled_sources():
    img = lr.sample_image("china.jpg", scale=2)
    assert img.shape == (214, 320) and 0 <= img.min() and img.max() <= 1
    with pytest.raises(ValueError, match="image"):
        lr.sample_image("cat.jpg")
    Kmat = lr.rbf_kernel_matrix(100, dataset="moons")
    assert np.allclose(Kmat, Kmat.T) and np.allclose(np.diag(Kmat), 1.0)
    assert np.linalg.eigvalsh(Kmat).min() > -1e-10
    with pytest.raises(ValueError, match="dataset"):
        lr.rbf_kernel_matrix(10, dataset="iris")
    names = lr.minilm_matrix_names()
    assert lr.sources.DEFAULT_MINILM_MATRIX in names and len(names) >= 36
    W = lr.minilm_matrix()
    assert W.shape == (384, 384) and W.dtype == np.float64 and np.isfinite(W).all()
    with pytest.raises(ShapeError, match="no 2-D weight"):
        lr.minilm_matrix("encoder.nothing")
