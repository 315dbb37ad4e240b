"""workbench.operators: every operator and composition against its dense matrix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sps
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator as SciPyLO
from scipy.sparse.linalg import eigsh

from workbench.errors import NonFiniteError, ShapeError
from workbench.operators import (
    CallableOperator,
    DenseOperator,
    ScipyOperator,
    SparseOperator,
    aslinearoperator,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _rand(m, n, seed=0):
    return np.random.default_rng(seed).standard_normal((m, n))


def _sym(n, seed=0):
    B = _rand(n, n, seed)
    return B + B.T


def _all_kinds(A):
    """The same matrix as each kind of input aslinearoperator accepts."""
    m, n = A.shape
    return {
        "numpy": aslinearoperator(A),
        "sparse": aslinearoperator(sps.csr_matrix(A)),
        "torch": aslinearoperator(torch.tensor(A)),
        "scipy-LO": aslinearoperator(sps.linalg.aslinearoperator(A)),
        "callable": aslinearoperator(lambda x: A @ x, shape=(m, n)),
        "callable-block": CallableOperator((m, n), matmat=lambda X: A @ X,
                                           rmatmat=lambda Y: A.T @ Y),
    }


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


@pytest.mark.parametrize("kind", ["numpy", "sparse", "torch", "scipy-LO", "callable",
                                  "callable-block"])
def test_each_input_kind_applies_like_its_matrix(kind):
    A = _rand(7, 5)
    op = _all_kinds(A)[kind]
    assert op.shape == (7, 5)
    X = op.new_block(_rand(5, 3, 1))
    assert np.allclose(_np(op.matmat(X)), A @ _rand(5, 3, 1))
    assert np.allclose(_np(op.matvec(X[:, 0])), A @ _rand(5, 3, 1)[:, 0])
    assert op.num_matvecs == 4
    assert np.allclose(op.to_dense(), A)
    if kind != "callable":  # a matvec-only callable has no adjoint
        Y = op.new_block(_rand(7, 2, 2))
        assert np.allclose(_np(op.rmatmat(Y)), A.T @ _rand(7, 2, 2))
    op.reset_counter()
    assert op.num_matvecs == 0


def test_types_and_symmetry_detection():
    S = _sym(6)
    assert isinstance(aslinearoperator(S), DenseOperator) and aslinearoperator(S).symmetric
    assert not aslinearoperator(_rand(6, 6)).symmetric
    assert aslinearoperator(sps.csr_matrix(S)).symmetric
    assert isinstance(aslinearoperator(sps.coo_matrix(S)), SparseOperator)
    assert isinstance(aslinearoperator(sps.linalg.aslinearoperator(S)), ScipyOperator)
    op = aslinearoperator(S)
    assert aslinearoperator(op) is op
    ints = aslinearoperator(np.arange(4).reshape(2, 2))
    assert ints.dtype == np.float64
    t32 = aslinearoperator(torch.ones(3, 3, dtype=torch.float32))
    assert t32.backend == "torch" and t32.dtype == torch.float32 and t32.symmetric


def test_bad_inputs():
    with pytest.raises(ShapeError, match="2-D"):
        aslinearoperator(np.ones(3))
    with pytest.raises(ShapeError, match="2-D"):
        aslinearoperator(torch.ones(2, 2, 2))
    with pytest.raises(ShapeError, match="shape"):
        aslinearoperator(lambda x: x)
    bad = np.eye(3)
    bad[0, 1] = np.nan
    with pytest.raises(NonFiniteError):
        aslinearoperator(bad)
    with pytest.raises(NonFiniteError):
        aslinearoperator(sps.csr_matrix(bad))
    with pytest.raises(NonFiniteError):
        aslinearoperator(torch.tensor(bad))
    with pytest.raises(TypeError, match="complex"):
        aslinearoperator(np.eye(2, dtype=complex))
    with pytest.raises(TypeError):
        aslinearoperator("not a matrix")
    op = aslinearoperator(_rand(4, 3))
    with pytest.raises(ShapeError, match="matvec expects"):
        op.matvec(np.ones(4))
    with pytest.raises(ShapeError, match="matmat expects"):
        op.matmat(np.ones((4, 2)))
    with pytest.raises(ShapeError, match="square"):
        op.shift(1.0)


def test_non_finite_output_is_caught():
    op = aslinearoperator(lambda x: x * np.inf, shape=(3, 3))
    with pytest.raises(NonFiniteError, match="NaN or inf"):
        op.matvec(np.ones(3))


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 8), n=st.integers(1, 8), seed=st.integers(0, 10_000),
       alpha=st.floats(-3, 3), sigma=st.floats(-2, 2))
def test_compositions_match_dense(m, n, seed, alpha, sigma):
    A, B = _rand(m, n, seed), _rand(m, n, seed + 1)
    C = _rand(n, 4, seed + 2)
    S = _sym(n, seed + 3)
    a, b, c, s = (aslinearoperator(x) for x in (A, B, C, S))
    cases = {
        "sum": (a + b, A + B),
        "difference": (a - b, A - B),
        "scaled": (alpha * a, alpha * A),
        "negated": (-a, -A),
        "product": (a @ c, A @ C),
        "adjoint": (a.T, A.T),
        "gram AtA": (a.gram("AtA"), A.T @ A),
        "gram AAt": (a.gram("AAt"), A @ A.T),
        "shift": (s.shift(sigma), S - sigma * np.eye(n)),
    }
    for name, (op, dense) in cases.items():
        assert np.allclose(op.to_dense(), dense, atol=1e-10), name
        Y = _rand(dense.shape[0], 2, seed + 4)
        assert np.allclose(op.rmatmat(Y), dense.T @ Y, atol=1e-10), name
    assert a.gram("AtA").symmetric and s.shift(sigma).symmetric and not (a @ c).symmetric


def test_restriction_and_counting_through_compositions():
    S = _sym(10, 5)
    s = aslinearoperator(S)
    Q, _ = np.linalg.qr(_rand(10, 3, 6))
    r = s.restrict(Q)
    assert r.shape == (3, 3) and r.symmetric
    assert np.allclose(r.to_dense(), Q.T @ S @ Q)
    s.reset_counter()
    g = s.gram("AtA")
    g.matmat(np.ones((10, 4)))
    assert g.num_matvecs == 4 and s.num_matvecs == 8  # one product with A and one with A^T
    rt = aslinearoperator(torch.tensor(S)).restrict(Q)  # numpy basis moved to torch
    assert np.allclose(rt.to_dense(), Q.T @ S @ Q)
    with pytest.raises(ShapeError, match="restriction basis"):
        s.restrict(np.ones((9, 2)))


def test_combining_mismatched_operators():
    a = aslinearoperator(_rand(3, 4))
    with pytest.raises(ShapeError, match="shapes"):
        a + aslinearoperator(_rand(4, 3))
    with pytest.raises(ShapeError, match="numpy"):
        a + aslinearoperator(torch.tensor(_rand(3, 4)))
    with pytest.raises(ShapeError, match="multiply"):
        a @ aslinearoperator(_rand(3, 4))
    with pytest.raises(TypeError):
        a * np.ones(3)


@pytest.mark.parametrize("device", DEVICES)
def test_to_scipy_roundtrip(device):
    S = _sym(30, 7)
    op = aslinearoperator(torch.tensor(S, device=device))
    lo = op.to_scipy()
    x = _rand(30, 1, 8)[:, 0]
    assert isinstance(lo, SciPyLO) and lo.dtype == np.float64
    assert np.allclose(lo.matvec(x), S @ x) and np.allclose(lo.rmatvec(x), S @ x)
    assert np.allclose(lo.matmat(_rand(30, 2, 9)), S @ _rand(30, 2, 9))
    vals = eigsh(lo, k=3, which="LA", return_eigenvectors=False)
    assert np.allclose(np.sort(vals), np.linalg.eigvalsh(S)[-3:], atol=1e-8)
    assert op.num_matvecs >= 4


def test_callable_torch_operator_columns():
    M = torch.tensor(_sym(5, 1))
    op = aslinearoperator(lambda x: M @ x, shape=(5, 5), backend="torch")
    X = op.random_block(3, np.random.default_rng(0))
    assert isinstance(X, torch.Tensor) and X.dtype == torch.float64
    assert torch.allclose(op.matmat(X), M @ X)
    assert op.num_matvecs == 3


def test_random_block_same_for_numpy_and_torch():
    a = aslinearoperator(np.eye(6))
    t = aslinearoperator(torch.eye(6, dtype=torch.float64))
    za = a.random_block(2, np.random.default_rng(1), dist="rademacher")
    zt = t.random_block(2, np.random.default_rng(1), dist="rademacher")
    assert np.array_equal(za, zt.numpy()) and set(np.unique(za)) <= {-1.0, 1.0}
    with pytest.raises(ValueError, match="distribution"):
        a.random_block(2, np.random.default_rng(0), dist="cauchy")


def test_torch_sparse_and_float32_inputs():
    S = _sym(8, 3)
    S[np.abs(S) < 1.0] = 0.0
    ts = aslinearoperator(torch.tensor(S).to_sparse())
    assert ts.backend == "torch" and not ts.symmetric  # sparse tensors are not inspected
    X = _rand(8, 2, 4)
    assert np.allclose(_np(ts.matmat(ts.new_block(X))), S @ X)
    assert np.allclose(_np(ts.rmatmat(ts.new_block(X))), S.T @ X)
    assert np.allclose(ts.to_dense(), S)
    f32 = aslinearoperator(S.astype(np.float32))
    assert f32.dtype == np.float32 and f32.symmetric
    y = f32.matvec(f32.new_block(X[:, 0]))
    assert y.dtype == np.float32 and np.allclose(y, S @ X[:, 0], atol=1e-5)


def test_restriction_basis_follows_the_operators_dtype():
    S = _sym(10, 2)
    Q, _ = np.linalg.qr(_rand(10, 3, 3))
    t32 = aslinearoperator(torch.tensor(S, dtype=torch.float32))
    r = t32.restrict(torch.tensor(Q, dtype=torch.float64))  # float64 basis, float32 op
    out = r.matmat(r.new_block(np.eye(3)))
    assert out.dtype == torch.float32
    assert np.allclose(out.numpy(), Q.T @ S @ Q, atol=1e-5)
    n32 = aslinearoperator(S.astype(np.float32)).restrict(Q)
    assert n32.Q.dtype == np.float32


def test_wrong_output_shape_is_caught():
    op = aslinearoperator(lambda x: x[:-1], shape=(4, 4), name="drops-one")
    with pytest.raises(ShapeError, match=r"drops-one.matmat returned shape"):
        op.matvec(np.ones(4))
    blk = CallableOperator((3, 4), matmat=lambda X: X, rmatmat=lambda Y: Y)
    with pytest.raises(ShapeError, match=r"returned shape \(4, 2\), expected \(3, 2\)"):
        blk.matmat(np.ones((4, 2)))
    with pytest.raises(ShapeError, match=r"rmatmat returned shape \(3, 1\), expected "
                                         r"\(4, 1\)"):
        blk.rmatvec(np.ones(3))
