"""Random-matrix baselines against theory: MP edge / zero spikes, BBP spike, semicircle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from workbench.eigenspectra import rmt
from workbench.errors import ShapeError


@pytest.mark.parametrize("Q", [1.0, 2.0, 4.0])
def test_mp_density_integrates_to_one_and_cdf(Q):
    lo, hi = rmt.mp_edges(Q, 1.3)
    val, _ = integrate.quad(lambda x: float(rmt.mp_density(np.array([x]), Q, 1.3)[0]), lo, hi,
                            limit=200)
    assert val == pytest.approx(1.0, abs=1e-4)  # quad on sqrt edge singularities
    assert float(rmt.mp_cdf(hi, Q, 1.3)) == pytest.approx(1.0)
    med = float(rmt.mp_quantile(0.5, Q, 1.3))
    assert float(rmt.mp_cdf(med, Q, 1.3)) == pytest.approx(0.5, abs=1e-6)


def test_mp_mean_is_sigma_squared():
    # E[lambda] = sigma^2 for the MP law (trace of W^T W / N over M = mean square entry)
    Q, s = 3.0, 0.7
    lo, hi = rmt.mp_edges(Q, s)
    m, _ = integrate.quad(lambda x: x * float(rmt.mp_density(np.array([x]), Q, s)[0]), lo, hi,
                          limit=200)
    assert m == pytest.approx(s**2, rel=1e-4)


@pytest.mark.parametrize("N,M,sigma,seed", [(800, 200, 1.0, 0), (600, 300, 0.05, 1),
                                            (400, 400, 2.0, 2)])
def test_gaussian_matrix_mp_edge_and_zero_spikes(N, M, sigma, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, sigma, size=(N, M))
    evals = np.linalg.eigvalsh(W.T @ W)
    fit = rmt.fit_mp(evals, N, M)
    assert fit.num_spikes == 0
    # sigma from the median: relative error O(1/M) — 3% is generous for M >= 200
    assert fit.sigma_mp == pytest.approx(sigma, rel=0.03)
    _, hi = rmt.mp_edges(N / M, sigma)
    # the largest eigenvalue sits at the edge up to Tracy-Widom fluctuations, O(M^-2/3)
    assert evals[-1] / N == pytest.approx(hi, rel=0.05)
    assert fit.lambda_plus / N == pytest.approx(hi, rel=0.06)


def test_sample_mp_matches_density_histogram():
    ev = rmt.sample_mp(2000, 500, sigma=1.0, seed=3)
    hist, edges = np.histogram(ev, bins=20, density=True)
    mid = (edges[1:] + edges[:-1]) / 2
    # interior bins (away from the sqrt edges): density within 15% (500 values, 20 bins)
    dens = rmt.mp_density(mid, 4.0)
    inner = slice(3, -3)
    np.testing.assert_allclose(hist[inner], dens[inner], rtol=0.15)


@pytest.mark.parametrize("theta", [2.0, 4.0])
def test_planted_spike_above_bbp(theta):
    n, p = 2000, 400
    gamma = p / n
    assert theta > rmt.bbp_threshold(gamma)
    evals, overlap = rmt.sample_spiked_covariance(n, p, theta, seed=7)
    fit = rmt.fit_mp(evals * n, n, p)  # raw W^T W units
    assert fit.num_spikes == 1
    # location: finite-n fluctuations of the outlier are O(1/sqrt(n)) ~ 2%; allow 5%
    assert evals[-1] == pytest.approx(rmt.spike_location(theta, gamma), rel=0.05)
    assert overlap == pytest.approx(rmt.spike_overlap(theta, gamma), abs=0.06)


def test_spike_below_bbp_is_invisible():
    n, p = 2000, 400
    gamma = p / n
    theta = 0.5 * rmt.bbp_threshold(gamma)
    evals, overlap = rmt.sample_spiked_covariance(n, p, theta, seed=8)
    assert rmt.fit_mp(evals * n, n, p).num_spikes == 0
    assert rmt.spike_overlap(theta, gamma) == 0.0
    assert overlap < 0.05  # ~ 1/p per direction in the bulk, far below the spike's overlap
    assert rmt.spike_location(theta, gamma) == pytest.approx((1 + math.sqrt(gamma)) ** 2)


def test_semicircle():
    ev = rmt.sample_wigner(800, sigma=1.5, seed=0)
    assert ev.min() > -3.0 * 1.05 and ev.max() < 3.0 * 1.05
    val, _ = integrate.quad(lambda x: float(rmt.semicircle_density(np.array([x]), 1.5)[0]),
                            -3, 3)
    assert val == pytest.approx(1.0, abs=1e-6)
    # second moment of the semicircle is sigma^2
    assert np.mean(ev**2) == pytest.approx(1.5**2, rel=0.05)


def test_heavy_tailed_esd_alpha():
    from workbench.eigenspectra.powerlaw import fit_powerlaw

    mu = 1.0
    ev = rmt.sample_heavy_tailed(1000, 500, mu=mu, seed=0)
    f = fit_powerlaw(ev)
    # theory 1 + mu/2 = 1.5 asymptotically; finite-size estimates land within ~0.3
    assert abs(f.alpha - rmt.heavy_tail_alpha(mu)) < 0.35
    assert math.isnan(rmt.heavy_tail_alpha(3.0))


def test_bad_aspect_ratio():
    with pytest.raises(ShapeError, match="Q"):
        rmt.mp_edges(0.5)
    with pytest.raises(ShapeError):
        rmt.sample_mp(10, 20)
