"""Trace estimators: unbiased over seeds, errors within the reported standard errors."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import spectral as sp
from workbench.spectral.synthetic import known_spectrum_matrix

METHODS = ["hutchinson", "hutch++", "xtrace"]


@pytest.fixture(scope="module")
def decaying():
    n = 120
    lam = 10.0 * 0.75 ** np.arange(n) - 0.05  # decaying spectrum, slightly indefinite
    return known_spectrum_matrix(lam, 3), float(lam.sum())


@pytest.mark.parametrize("method", METHODS)
def test_unbiased_and_error_estimate_honest(method, decaying):
    A, tr = decaying
    runs = [sp.trace(A, method=method, num_matvecs=24, seed=s) for s in range(150)]
    est = np.array([r.estimate for r in runs])
    se = np.array([r.std_error for r in runs])
    spread = est.std(ddof=1)
    # unbiased: the mean of 150 independent estimates is within 4 standard errors of it
    assert abs(est.mean() - tr) <= 4 * spread / np.sqrt(len(est))
    # the reported std error tracks the true spread (within a factor 2; XTrace's is
    # slightly conservative by design)
    assert 0.5 * spread <= np.median(se) <= 2.0 * spread
    # coverage: nearly all errors within 3 reported standard errors (0.9: std errors from
    # 8-24 samples are themselves noisy)
    assert np.mean(np.abs(est - tr) <= 3 * se) >= 0.9
    assert all(r.num_matvecs <= 24 for r in runs)


def test_variance_reduction_on_decaying_spectrum(decaying):
    A, tr = decaying
    err = {m: np.std([sp.trace(A, m, 30, seed=s).estimate - tr for s in range(60)])
           for m in METHODS}
    # sketching the top of the spectrum removes most of the variance
    assert err["hutch++"] < 0.5 * err["hutchinson"]
    assert err["xtrace"] < 0.5 * err["hutchinson"]


@pytest.mark.parametrize("method", ["hutch++", "xtrace"])
def test_exact_on_low_rank(method):
    lam = np.zeros(100)
    lam[:4] = [5.0, -3.0, 2.0, 1.0]
    A = known_spectrum_matrix(lam, 0)
    res = sp.trace(A, method=method, num_matvecs=24, seed=1)
    # rank 4 < sketch size 8 (hutch++) / 12 (xtrace): the sketch holds range(A) exactly
    assert res.estimate == pytest.approx(5.0, abs=1e-10)
    assert res.std_error < 1e-8


def test_deterministic_float_and_counts():
    A = known_spectrum_matrix(np.linspace(-1, 3, 50), 1)
    a = sp.trace(A, "hutchinson", 10, seed=4)
    b = sp.trace(A, "hutchinson", 10, seed=4)
    assert a.estimate == b.estimate and a.std_error == b.std_error
    assert float(a) == a.estimate and a.num_matvecs == 10 and len(a.samples) == 10
    assert sp.trace(A, "hutch++", 10).num_matvecs == 10
    assert sp.trace(A, "xtrace", 11).num_matvecs == 10


def test_zero_operator_trace():
    res = sp.trace(np.zeros((20, 20)), "hutch++", 12)
    assert res.estimate == 0.0 and res.std_error == 0.0
    res = sp.trace(np.zeros((20, 20)), "xtrace", 12)
    assert res.estimate == 0.0
