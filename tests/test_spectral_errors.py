"""Bad input: a clear WorkbenchError subclass, with a message that names the problem."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import spectral as sp
from workbench.errors import NonFiniteError, RankError, ShapeError, WorkbenchError
from workbench.operators import CallableOperator


def _nan_after(n, calls_ok):
    state = {"calls": 0}
    d = np.arange(1.0, n + 1.0)[:, None]

    def mm(X):
        state["calls"] += 1
        Y = d * X
        if state["calls"] > calls_ok:
            Y = Y.copy()
            Y[0, 0] = np.nan
        return Y

    return CallableOperator((n, n), matmat=mm, symmetric=True, name="flaky")


SQUARE_ONLY = [
    lambda A: sp.lanczos(A, 5),
    lambda A: sp.top_eigs(A, 2),
    lambda A: sp.spectral_density(A, 2, 5),
    lambda A: sp.trace(A, "hutchinson", 4),
    lambda A: sp.randomized_eigh(A, 2),
]


@pytest.mark.parametrize("call", SQUARE_ONLY)
def test_non_square_raises_shape_error(call):
    with pytest.raises(ShapeError, match=r"square.*\(5, 4\)"):
        call(np.ones((5, 4)))


@pytest.mark.parametrize("call", SQUARE_ONLY + [lambda A: sp.randomized_svd(A, 2)])
def test_nan_from_operator_raises(call):
    with pytest.raises(NonFiniteError, match="NaN"):
        call(_nan_after(30, calls_ok=0))


@pytest.mark.parametrize("k", [0, -1, 11, 2.5])
def test_rank_out_of_range(k):
    A = np.eye(10)
    with pytest.raises(RankError, match="between 1 and 10|integer"):
        sp.top_eigs(A, k)
    with pytest.raises(RankError):
        sp.randomized_svd(A, k)
    with pytest.raises(RankError):
        sp.randomized_eigh(A, k)


def test_bad_options():
    A = np.eye(6)
    with pytest.raises(WorkbenchError, match="which"):
        sp.top_eigs(A, 2, which="XX")
    with pytest.raises(WorkbenchError, match="method"):
        sp.trace(A, method="magic")
    with pytest.raises(RankError, match="num_matvecs"):
        sp.trace(A, method="hutch++", num_matvecs=3)
    with pytest.raises(WorkbenchError, match="method"):
        sp.spectral_density(A, method="nope")
    with pytest.raises(WorkbenchError, match="sigma"):
        sp.spectral_density(A, sigma=-1.0)
    with pytest.raises(WorkbenchError, match="num_steps"):
        sp.lanczos(A, 0)
    with pytest.raises(ShapeError, match="v0"):
        sp.lanczos(A, 3, v0=np.ones(5))
    with pytest.raises(WorkbenchError, match="zero"):
        sp.lanczos(A, 3, v0=np.zeros(6))


def test_nan_matrix_rejected_at_conversion():
    A = np.eye(4)
    A[1, 2] = np.inf
    with pytest.raises(NonFiniteError, match="NaN or inf"):
        sp.top_eigs(A, 1)


def test_zero_operator_everywhere():
    Z = np.zeros((25, 25))
    assert np.all(sp.top_eigs(Z, 3).values == 0)
    assert sp.lanczos(Z, 5).breakdown
    d = sp.spectral_density(Z, 3, 5)
    assert np.all(d.nodes == 0) and np.isfinite(d.density).all() and d.sigma > 0
    assert sp.trace(Z, "hutchinson", 4).estimate == 0.0
    assert np.all(sp.randomized_eigh(Z, 2).values == 0)
    k = sp.spectral_density(Z, 2, 6, method="kpm")
    assert np.isfinite(k.density).all()


SYMMETRIC_ONLY = {
    "lanczos": lambda A: sp.lanczos(A, 5),
    "top_eigs": lambda A: sp.top_eigs(A, 2),
    "spectral_density": lambda A: sp.spectral_density(A, 2, 5),
    "randomized_eigh": lambda A: sp.randomized_eigh(A, 2),
    "power_iteration": lambda A: sp.power_iteration(A, 1),
}


@pytest.mark.parametrize("name", SYMMETRIC_ONLY)
def test_non_symmetric_matrix_raises(name):
    import scipy.sparse as sps
    import torch

    A = np.triu(np.ones((8, 8)))
    for given in (A, sps.csr_matrix(A), torch.tensor(A)):
        with pytest.raises(ShapeError, match=f"{name} needs a symmetric matrix"):
            SYMMETRIC_ONLY[name](given)
    # rounding-level asymmetry (a computed Gram matrix) is accepted, and so is any
    # operator the caller built (symmetry cannot be checked without products)
    B = np.random.default_rng(0).standard_normal((8, 8))
    G = B.T @ B
    G[0, 1] += 1e-13
    SYMMETRIC_ONLY[name](G)
    from workbench.operators import aslinearoperator

    SYMMETRIC_ONLY[name](aslinearoperator(G + np.diag(np.ones(7), 1) * 1e-3, symmetric=True))
    # trace needs no symmetry: with 24 products on n = 8 Hutch++'s sketch spans R^8, exact
    assert sp.trace(A, "hutch++", 24).estimate == pytest.approx(8.0, abs=1e-10)


def test_callable_returning_the_wrong_shape():
    op = CallableOperator((6, 6), matmat=lambda X: X[:5], symmetric=True, name="short")
    with pytest.raises(ShapeError, match=r"short.matmat returned shape \(5, 1\), expected "
                                         r"\(6, 1\)"):
        sp.top_eigs(op, 1)
    with pytest.raises(ShapeError, match="returned shape"):
        sp.lanczos(CallableOperator((6, 6), matvec=lambda x: x[:, None], symmetric=True), 3)


def test_nan_from_torch_operator():
    import torch

    def mm(X):
        Y = 2.0 * X
        Y[0] = float("inf")
        return Y

    op = CallableOperator((10, 10), matmat=mm, dtype=torch.float32, backend="torch",
                          symmetric=True, name="torch-inf")
    with pytest.raises(NonFiniteError, match="torch-inf.matmat produced NaN or inf"):
        sp.spectral_density(op, 2, 4)
