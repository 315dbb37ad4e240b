"""Spectral density (SLQ, KPM) against the exact eigenvalue distribution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import trapezoid
from scipy.stats import wasserstein_distance

from workbench import errors as sp_errors
from workbench import spectral as sp
from workbench.operators import aslinearoperator
from workbench.spectral import density as dn
from workbench.spectral.density import gauss_quadrature
from workbench.spectral.synthetic import known_spectrum_matrix, make_test_operator, spectrum


def _w1(lam, res):
    x, w = res.node_samples()
    return wasserstein_distance(lam, x, None, w)


def test_wasserstein_shrinks_as_probes_and_steps_grow():
    op, lam = make_test_operator("marchenko-pastur", 400, seed=0)
    budgets = [(2, 5), (4, 10), (10, 20), (30, 40)]
    dist = [np.mean([_w1(lam, sp.spectral_density(op, P, m, seed=s)) for s in range(3)])
            for P, m in budgets]
    assert all(a > b for a, b in zip(dist, dist[1:])), dist
    # An m-node Gauss rule is O(range/m) away from a continuous law in W1 and probe noise
    # is O(range/sqrt(n P)); for range ~2.8, m=40, P=30, n=400 that is ~0.02 (measured
    # 0.014-0.021 over seeds), and the smallest budget is > 4x worse.
    assert dist[-1] < 0.03 and dist[0] > 4 * dist[-1]


def test_gauss_quadrature_is_exact_for_low_moments():
    A = known_spectrum_matrix(spectrum("indefinite", 80, 1), 1)
    z = np.random.default_rng(0).standard_normal(80)
    z /= np.linalg.norm(z)
    m = 6
    res = sp.lanczos(A, m, v0=z)
    nodes, weights = gauss_quadrature(res.alpha, np.r_[res.beta, 0.0])
    v = z.copy()
    for p in range(2 * m):  # an m-point Gauss rule integrates degree <= 2m-1 exactly
        exact = z @ v
        quad = np.sum(weights * nodes**p)
        assert quad == pytest.approx(exact, rel=1e-9, abs=1e-9 * 9.0**p)
        v = A @ v


def test_density_nodes_weights_and_normalization():
    op, lam = make_test_operator("bulk+outliers", 300, seed=2)
    res = sp.spectral_density(op, num_probes=8, num_steps=30, seed=0)
    assert res.nodes.shape == res.weights.shape == (8, 30)
    assert np.allclose(res.weights.sum(axis=1), 1.0)
    # Ritz values lie inside the spectral interval (Cauchy interlacing)
    assert res.nodes.min() >= lam[0] - 1e-10 and res.nodes.max() <= lam[-1] + 1e-10
    # the default grid spans the nodes +- 5 sigma, so the Gaussians integrate to 1
    assert trapezoid(res.density, res.grid) == pytest.approx(1.0, abs=1e-4)
    assert res.sigma == pytest.approx((res.nodes.max() - res.nodes.min()) / 60)
    assert res.num_matvecs == 8 * 30
    # the outliers (2, 4, ..., 10, each 1/300 of the mass) show up as nodes
    for out in lam[-5:]:
        assert np.min(np.abs(res.nodes - out)) < 1e-6


def test_custom_grid_and_sigma():
    op, _ = make_test_operator("clustered", 150, seed=0)
    grid = np.linspace(0, 6, 1201)
    res = sp.spectral_density(op, 4, 20, grid=grid, sigma=0.05)
    assert np.array_equal(res.grid, grid) and res.sigma == 0.05
    assert trapezoid(res.density, grid) == pytest.approx(1.0, abs=1e-3)
    # three clusters of equal mass at 1, 2 and 5: three bumps of ~1/3 each
    for c in (1.0, 2.0, 5.0):
        sel = np.abs(grid - c) < 0.3
        assert trapezoid(res.density[sel], grid[sel]) == pytest.approx(1 / 3, abs=0.08)


def test_kpm_density():
    op, lam = make_test_operator("marchenko-pastur", 400, seed=0)
    res = sp.spectral_density(op, 20, 80, seed=0, method="kpm")
    assert res.method == "kpm" and res.nodes.shape == (20, 0)
    assert trapezoid(res.density, res.grid) == pytest.approx(1.0, abs=1e-6)
    assert np.all(res.density >= 0)
    assert res.bounds[0] <= lam[0] and res.bounds[1] >= lam[-1]
    # Jackson-damped KPM with M=80 smooths with a kernel of width ~pi*halfwidth/M = 0.056
    # (res.sigma), which alone moves mass by ~0.8 of that in W1; measured 0.031
    assert res.sigma == pytest.approx(np.pi * (res.bounds[1] - res.bounds[0]) / 2 / 80)
    assert wasserstein_distance(lam, res.grid, None, res.density) < 0.8 * res.sigma + 0.01
    # 80 moments by Chebyshev doubling: 40 products per probe, + the bounds' Lanczos run
    assert res.num_matvecs == 20 * 40 + 20


def test_deterministic_and_reorth_none():
    op, lam = make_test_operator("marchenko-pastur", 200)
    a = sp.spectral_density(op, 5, 15, seed=3)
    b = sp.spectral_density(op, 5, 15, seed=3)
    assert np.array_equal(a.nodes, b.nodes) and np.array_equal(a.density, b.density)
    c = sp.spectral_density(op, 5, 15, seed=3, reorth="none")
    # before orthogonality is lost both are the same Gauss rules
    assert np.allclose(np.sort(a.nodes, axis=1), np.sort(c.nodes, axis=1), atol=1e-6)


def test_breakdown_probe_rows_are_padded_with_zero_weight():
    A = known_spectrum_matrix(np.repeat([1.0, 3.0], 25), 0)
    res = sp.spectral_density(A, 3, 10, seed=0)
    assert np.allclose(res.weights[:, 2:], 0.0)
    x, w = res.node_samples()
    assert np.sum(w[np.isclose(x, 1.0)]) == pytest.approx(0.5, abs=0.25)
    assert wasserstein_distance([1.0, 3.0], x, None, w) < 0.5


@pytest.mark.parametrize("M", [1, 2, 15, 16])
def test_kpm_moments_match_exact_chebyshev_moments(M):
    """The doubling identities give the same moments as T_k(b) evaluated on the exact
    eigenvalues: mu_k = mean_p sum_i (z_p . q_i)^2 cos(k arccos b_i)."""
    lam = spectrum("indefinite", 60, 3)
    A = known_spectrum_matrix(lam, 3)
    op = aslinearoperator(A)
    Z = np.random.default_rng(0).standard_normal((60, 4))
    Z /= np.linalg.norm(Z, axis=0)
    c, d = 0.5, 10.0  # [-9.5, 10.5] contains the spectrum [-8, 9]
    mu = dn.kpm_moments(op, Z, M, c, d)
    w, Q = np.linalg.eigh(A)
    b = (w - c) / d
    exact = np.array([np.mean(((Q.T @ Z) ** 2).T @ np.cos(k * np.arccos(b)))
                      for k in range(M)])
    # rounding in a three-term recurrence of |T_k| <= 1 over 16 steps: ~1e-14
    assert np.allclose(mu, exact, atol=1e-12)
    assert op.num_matvecs == 4 * (M // 2) == dn.kpm_cost(4, M)


def test_with_steps_equals_a_shorter_run():
    op, lam = make_test_operator("marchenko-pastur", 300, seed=1)
    long = sp.spectral_density(op, 5, 30, seed=4)
    short = sp.spectral_density(op, 5, 12, seed=4)
    cut = long.with_steps(12)
    # with full reorthogonalization the first 12 steps of a 30-step run are the 12-step run
    assert np.allclose(cut.nodes, short.nodes, atol=1e-12)
    assert np.allclose(cut.weights, short.weights, atol=1e-12)
    assert np.allclose(cut.density, short.density, atol=1e-9 * short.density.max())
    assert cut.sigma == pytest.approx(short.sigma) and cut.num_steps == 12
    assert cut.num_matvecs == short.num_matvecs == 60
    assert long.with_steps(30).num_matvecs == long.num_matvecs
    kl = sp.spectral_density(op, 5, 40, seed=4, method="kpm")
    ks = sp.spectral_density(op, 5, 21, seed=4, method="kpm")
    kc = kl.with_steps(21)
    assert np.allclose(kc.moments, ks.moments, atol=1e-12)
    assert np.allclose(kc.density, ks.density, atol=1e-9 * ks.density.max())
    assert kc.num_matvecs == ks.num_matvecs
    with pytest.raises(sp_errors.WorkbenchError, match="Lanczos steps"):
        long.with_steps(31)
    with pytest.raises(sp_errors.WorkbenchError, match="moments"):
        kl.with_steps(0)


def test_with_sigma_and_fixed_grid():
    op, _ = make_test_operator("clustered", 120, seed=0)
    base = sp.spectral_density(op, 4, 15, seed=2)
    grid = np.linspace(0, 6, 300)
    direct = sp.spectral_density(op, 4, 15, seed=2, sigma=0.07, grid=grid)
    again = base.with_sigma(0.07, grid=grid)
    assert np.allclose(again.density, direct.density, atol=1e-12)
    assert again.num_matvecs == base.num_matvecs and again.sigma == 0.07
    via_steps = base.with_steps(10, sigma=0.07, grid=grid)
    assert np.allclose(via_steps.density,
                       sp.spectral_density(op, 4, 10, seed=2, sigma=0.07, grid=grid).density,
                       atol=1e-12)
    with pytest.raises(sp_errors.WorkbenchError, match="sigma"):
        base.with_sigma(0.0)


def test_probe_lanczos_is_the_probes_own_run():
    op, _ = make_test_operator("bulk+outliers", 200, seed=0)
    dens = sp.spectral_density(op, 3, 20, seed=5)
    z = op.random_block(3, np.random.default_rng(5), dist="rademacher")[:, 1]
    ref = sp.lanczos(op, 20, v0=z)
    run = dens.probe_lanczos(1)
    assert np.allclose(run.alpha, ref.alpha, atol=1e-12)
    assert np.allclose(run.beta, ref.beta, atol=1e-12)
    assert run.residual_norm == pytest.approx(ref.residual_norm, rel=1e-10)
    assert np.allclose(run.ritz()[0], ref.ritz()[0], atol=1e-12)


def test_probe_chunks_do_not_change_the_result(monkeypatch):
    op, _ = make_test_operator("marchenko-pastur", 150, seed=2)
    whole = sp.spectral_density(op, 7, 12, seed=1)
    monkeypatch.setattr(dn, "BASIS_BUDGET", 2 * 12 * 150)  # two probes per chunk
    op.reset_counter()
    chunked = sp.spectral_density(op, 7, 12, seed=1)
    assert np.allclose(chunked.nodes, whole.nodes, atol=1e-12)
    assert chunked.num_matvecs == whole.num_matvecs == 7 * 12


def test_exact_histogram_and_wasserstein_error():
    op, lam = make_test_operator("clustered", 300, seed=0)
    edges, h = dn.eigenvalue_histogram(lam, bins=50)
    assert len(edges) == 51 and np.sum(h * np.diff(edges)) == pytest.approx(1.0)
    assert edges[0] == lam.min() and edges[-1] == lam.max()
    edges2, _ = dn.eigenvalue_histogram(lam, bins=10, range=(0, 6))
    assert edges2[0] == 0 and edges2[-1] == 6
    res = sp.spectral_density(op, 6, 20, seed=0)
    assert dn.wasserstein_error(lam, res) == pytest.approx(_w1(lam, res))
    # an m-point Gauss rule per probe on three clusters of equal mass: W1 is the probe noise
    # in the cluster masses (~ spacing 2 x 1/sqrt(n P)) ~ 0.05
    assert dn.wasserstein_error(lam, res) < 0.15
    kpm = sp.spectral_density(op, 6, 60, seed=0, method="kpm")
    assert dn.wasserstein_error(lam, kpm) < 4 * kpm.sigma + 0.15
