"""Matrix completion: exact recovery of random incoherent low-rank matrices above the
sampling threshold, reported failure below it, the phase transition, and bad input.

A rank-r m x n matrix has r (m + n - r) degrees of freedom; no method can recover it from
fewer observed entries, and uniform sampling needs a small multiple of that (plus every
row and column observed at least r times). Alternating minimization (Jain, Netrapalli &
Sanghavi 2013) converges linearly once it has enough samples, so 1e-6 is reachable.
"""

from __future__ import annotations

import numpy as np
import pytest

import workbench.lowrank as lr
from workbench.errors import NonFiniteError, RankError, ShapeError

M, R = 100, 3
DOF = R * (2 * M - R)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import numba
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    numba.set_num_threads(before)


def test_altmin_recovers_above_the_threshold():
    prob = lr.completion_problem(M, M, R, fraction=0.3, seed=0)   # 5x the degrees of freedom
    assert prob.mask.sum() > 4 * DOF
    res = lr.alternating_minimization(prob.truth, prob.mask, R, truth=prob.truth)
    assert res.recovered and res.converged and res.message == ""
    assert res.final_error <= 1e-6
    assert np.linalg.norm(res.X - prob.truth) / np.linalg.norm(prob.truth) <= 1e-6
    # linear convergence: the true error falls monotonically over the last sweeps
    errs = [h["true_error"] for h in res.history]
    assert errs[-1] < errs[len(errs) // 2] < errs[0]
    assert res.U.shape == (M, R) and res.V.shape == (M, R)
    assert res.seconds_per_sweep > 0 and res.observed_fraction == pytest.approx(0.3, abs=0.02)


def test_altmin_judges_success_from_held_out_entries_without_the_truth():
    prob = lr.completion_problem(M, M, R, fraction=0.3, seed=1)
    res = lr.alternating_minimization(prob.observed, None, R)     # mask = finite entries
    assert res.recovered
    assert res.history[-1]["holdout_error"] <= 1e-6
    assert np.linalg.norm(res.X - prob.truth) / np.linalg.norm(prob.truth) <= 1e-6
    # the transformer fills only the missing entries
    filled = lr.MatrixCompleter(rank=R).fit_transform(prob.observed)
    assert np.array_equal(filled[prob.mask], prob.truth[prob.mask])
    assert np.allclose(filled, prob.truth, atol=1e-5 * np.abs(prob.truth).max())


@pytest.mark.parametrize("use_truth", [True, False])
def test_altmin_reports_failure_below_the_threshold(use_truth):
    prob = lr.completion_problem(M, M, R, fraction=0.06, seed=0)  # ~ the degrees of freedom
    assert prob.mask.sum() < 1.1 * DOF
    res = lr.alternating_minimization(prob.observed, None, R, max_iters=30,
                                      truth=prob.truth if use_truth else None)
    assert not res.recovered
    assert res.final_error > 1e-3
    assert "not recovered" in res.message and "degrees of freedom" in res.message
    assert "fewer than 3 observed entries" in res.message


def test_altmin_stays_finite_when_badly_under_sampled():
    # 4%: rows and columns with no entry at all. The factors used to drift apart in scale
    # (U c, V / c) until they overflowed to inf/NaN; orthonormalizing the fixed factor
    # keeps every sweep finite, and the failure is reported, not a NaN
    import warnings

    prob = lr.completion_problem(M, M, 5, fraction=0.04, seed=0)
    assert (prob.mask.sum(axis=1) == 0).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = lr.alternating_minimization(prob.truth, prob.mask, 5, truth=prob.truth,
                                          max_iters=40)
    assert np.isfinite(res.X).all()
    assert all(np.isfinite(h["true_error"]) for h in res.history)
    assert not res.recovered and "cannot be determined" in res.message


def test_soft_impute_converges_towards_the_truth():
    prob = lr.completion_problem(M, M, R, fraction=0.3, seed=0)
    res = lr.soft_impute(prob.truth, prob.mask, R, truth=prob.truth, max_iters=100)
    errs = [h["true_error"] for h in res.history]
    # a first-order method on a convex relaxation: linear but slow convergence; after 100
    # sweeps the error is below 1e-3 (measured 1.5e-4) and still decreasing
    assert errs[-1] <= 1e-3
    assert errs[-1] < errs[49] < errs[9]
    # below the threshold it cannot recover either, and says so
    low = lr.completion_problem(M, M, R, fraction=0.06, seed=0)
    bad = lr.soft_impute(low.truth, low.mask, R, truth=low.truth, max_iters=20)
    assert not bad.recovered and "not recovered" in bad.message


def test_phase_transition_switches_on_with_the_sampling_rate():
    pt = lr.phase_transition(60, 60, 2, fractions=[0.05, 0.12, 0.4], seeds=2, max_iters=60)
    # 0.05 * 3600 = 180 samples < 236 degrees of freedom: impossible; 0.4: 6x: always
    assert pt.success[0] == 0.0 and pt.success[-1] == 1.0
    assert np.all(np.diff(pt.oversampling) > 0)
    assert pt.oversampling[0] < 1 < pt.oversampling[-1]
    assert pt.errors.shape == (3, 2)


def test_completion_bad_input():
    T = np.ones((10, 8))
    with pytest.raises(ShapeError, match="mask is empty"):
        lr.alternating_minimization(T, np.zeros_like(T, dtype=bool), 2)
    with pytest.raises(ShapeError, match="mask is empty"):
        lr.soft_impute(np.full((10, 8), np.nan), None, 2)
    with pytest.raises(ShapeError, match="mask shape"):
        lr.alternating_minimization(T, np.ones((8, 10), dtype=bool), 2)
    bad = T.copy()
    bad[2, 3] = np.nan
    with pytest.raises(NonFiniteError, match="observed entries"):
        lr.alternating_minimization(bad, np.ones_like(T, dtype=bool), 2)
    with pytest.raises(RankError, match=r"min\(m, n\) = 8"):
        lr.alternating_minimization(T, None, 9)
    with pytest.raises(RankError):
        lr.soft_impute(T, None, 0)
    with pytest.raises(ShapeError, match="2-D"):
        lr.alternating_minimization(np.ones(5), None, 1)
    with pytest.raises(ShapeError, match="fraction"):
        lr.completion_problem(10, 10, 2, fraction=0.0)
    with pytest.raises(ValueError, match="method"):
        lr.MatrixCompleter(method="svt").fit(T)
    with pytest.raises(ShapeError, match="fitted on"):
        lr.MatrixCompleter(rank=1, max_iters=2).fit(T).transform(np.ones((3, 3)))
