"""Estimators feed curvature operators in blocks within their memory plan: SLQ's probes
advance as one block (one product per step) with results equal to one probe at a time;
trace estimators and curvature_spectrum never hand a piece more samples or vectors than
the plan allows, whatever num_matvecs, and give the unplanned results.

Tolerances: 1e-10 on Lanczos coefficients and traces in float64 (block vs per-probe only
regroups floating-point sums, observed ~1e-15; Lanczos with full reorthogonalization is
stable, so rounding does not grow beyond ~1e-13 over 12 steps).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import workbench.hessian as wh
from workbench import spectral as sp
from workbench.spectral.density import _lanczos_probes, basis_budget
from workbench.spectral.trace import block_limit

F64 = torch.float64
CE = nn.CrossEntropyLoss()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from workbench.backends import limited_threads

    with limited_threads(1):
        yield


@pytest.fixture(scope="module")
def problem():
    ds = wh.gaussian_mixture(90, num_classes=3, dim=4, seed=0, dtype=F64)
    model = wh.mlp(4, 3, width=8, depth=1, seed=0, dtype=F64)
    return ds, model


class Spy:
    """Records the largest micro-batch and vector block each piece of a product saw, and
    how many products (matmat calls) the operator served."""

    def __init__(self, op):
        self.rows = self.cols = self.calls = 0
        inner_piece, inner_apply = op._batch_matmat, op._apply

        def piece(X, y, V, key=None):
            self.rows = max(self.rows, X.shape[0])
            self.cols = max(self.cols, next(iter(V.values())).shape[0])
            return inner_piece(X, y, V, key)

        def apply(X, plan):
            self.calls += 1
            return inner_apply(X, plan)

        op._batch_matmat, op._apply = piece, apply


def test_slq_block_equals_per_probe_runs_and_uses_one_product_per_step(problem):
    ds, model = problem
    H = wh.hessian_operator(model, CE, ds.pair(), max_memory=None)
    Z = H.random_block(5, np.random.default_rng(0))
    spy = Spy(H)
    a_blk, b_blk, l_blk = _lanczos_probes(H, Z, 12, "full")
    assert spy.calls == 12  # five probes, one block product per step
    a_one, b_one, l_one = _lanczos_probes(H, Z, 12, "full", chunk=1)
    assert spy.calls == 12 + 5 * 12
    assert np.array_equal(l_blk, l_one)
    assert np.allclose(a_blk, a_one, rtol=0, atol=1e-10 * np.abs(a_one).max())
    assert np.allclose(b_blk, b_one, rtol=0, atol=1e-10 * np.abs(a_one).max())


def test_slq_with_full_krylov_space_reproduces_the_probe_moments(problem):
    ds, model = problem
    H = wh.hessian_operator(model, CE, ds.pair())
    D = wh.dense_hessian(model, CE, ds.pair()).numpy()
    n = D.shape[0]
    dens = sp.spectral_density(H, num_probes=3, num_steps=n, seed=1)
    Z = H.random_block(3, np.random.default_rng(1), dist="rademacher").numpy()
    Z = Z / np.linalg.norm(Z, axis=0)
    for p in range(3):  # the Gauss rule integrates x and x^2 exactly: z^T A z, z^T A^2 z
        w, x = dens.weights[p], dens.nodes[p]
        z = Z[:, p]
        assert np.sum(w * x) == pytest.approx(z @ D @ z, rel=1e-8, abs=1e-12)
        assert np.sum(w * x * x) == pytest.approx(z @ D @ D @ z, rel=1e-8, abs=1e-12)


def test_basis_budget_follows_the_operator_budget(problem):
    ds, model = problem
    small = wh.hessian_operator(model, CE, ds.pair(), max_memory=1000)
    big = wh.hessian_operator(model, CE, ds.pair(), max_memory=2**36)
    assert basis_budget(small) == 2**24 and basis_budget(big) == 2**36 // 32


@pytest.mark.parametrize("method", ["hutchinson", "hutch++", "xtrace"])
def test_trace_stays_inside_the_plan_and_equals_the_unplanned_estimate(problem, method):
    ds, model = problem
    ref = sp.trace(wh.hessian_operator(model, CE, ds.pair(), max_memory=None),
                   method=method, num_matvecs=90, seed=3)
    H = wh.hessian_operator(model, CE, ds.pair(), max_memory=30_000, hvp="fwd_rev")
    spy = Spy(H)
    tr = sp.trace(H, method=method, num_matvecs=90, seed=3)
    plan = H.plan
    assert plan.batch_size < 90 and block_limit(H) == plan.vector_chunk
    assert spy.rows <= plan.batch_size and spy.cols <= plan.vector_chunk
    assert tr.estimate == pytest.approx(ref.estimate, rel=1e-10)


def test_curvature_spectrum_stays_inside_the_plan(problem):
    ds, model = problem
    kw = dict(k=3, num_probes=3, num_steps=10, trace_matvecs=40, seed=0)
    ref = wh.curvature_spectrum(wh.hessian_operator(model, CE, ds.pair(), max_memory=None),
                                **kw)
    H = wh.hessian_operator(model, CE, ds.pair(), max_memory=20_000, hvp="fwd_rev")
    spy = Spy(H)
    spec = wh.curvature_spectrum(H, **kw)
    assert spy.rows <= H.plan.batch_size < 90 and spy.cols <= H.plan.vector_chunk
    assert np.allclose(spec.top_values, ref.top_values, rtol=1e-8)
    assert spec.trace == pytest.approx(ref.trace, rel=1e-8)
