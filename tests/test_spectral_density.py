"""Spectral density (SLQ, KPM) against the exact eigenvalue distribution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import trapezoid
from scipy.stats import wasserstein_distance

from workbench import spectral as sp
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
    assert res.num_matvecs == 20 * 79 + 20  # moments + the bounds' Lanczos run


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
