"""M-FAC against the dense damped empirical Fisher (float64, small d)."""

import numpy as np
import pytest
import torch

from workbench.errors import InputFormatError, ShapeError
from workbench.hessian.mfac import MFAC, SlidingMFAC, mfac_from_model
from workbench.spectral import top_eigs


def _dense(G: torch.Tensor, lam: float) -> torch.Tensor:
    m, d = G.shape
    return lam * torch.eye(d, dtype=G.dtype) + G.T @ G / m


@pytest.mark.parametrize("m,d,lam", [(8, 50, 1e-3), (40, 30, 1e-2), (1, 5, 1.0)])
def test_inverse_products_entries_and_diagonal_match_dense(m, d, lam):
    # m > d (40 x 30) checks the Woodbury form also when G^T G alone is full rank
    g = torch.Generator().manual_seed(m * d)
    G = torch.randn(m, d, generator=g, dtype=torch.float64)
    mf = MFAC(G, damping=lam)
    F = _dense(G, lam)
    Finv = torch.linalg.inv(F)
    V = torch.randn(d, 3, generator=g, dtype=torch.float64)
    # the bound: 1e-8 relative in float64. cond(F) <= 1 + ||G||^2/(m lam) ~ 1e5
    # here, so the dense inverse itself is accurate to ~1e-11: 1e-8 has room to spare.
    rel = torch.linalg.norm(mf.inverse_matvec(V) - Finv @ V) / torch.linalg.norm(Finv @ V)
    assert rel < 1e-8
    one = mf.inverse_matvec(V[:, 0])
    assert one.shape == (d,)
    assert torch.allclose(mf.matvec(V), F @ V, rtol=1e-12, atol=1e-12)
    for j, k in [(0, 0), (1, d - 1), (d - 1, d - 1)]:
        assert mf.inverse_entry(j, k) == pytest.approx(float(Finv[j, k]), rel=1e-8, abs=1e-10)
    assert torch.allclose(mf.inverse_diagonal(), torch.diagonal(Finv), rtol=1e-8)
    # F F^{-1} v = v
    assert torch.allclose(mf.matvec(mf.inverse_matvec(V)), V, rtol=1e-9, atol=1e-9)


def test_eigenvalues_and_operator_agree_with_dense():
    G = torch.randn(6, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    mf = MFAC(G, damping=0.1)
    exact = np.sort(np.linalg.eigvalsh(_dense(G, 0.1).numpy()))[::-1]
    assert np.allclose(mf.eigenvalues(), exact[:6], rtol=1e-10)
    vals, _ = top_eigs(mf.operator(), k=3)
    assert np.allclose(vals, exact[:3], rtol=1e-8)
    inv_vals, _ = top_eigs(mf.inverse_operator(), k=1)
    assert inv_vals[0] == pytest.approx(1 / 0.1, rel=1e-8)  # d - m directions see 1/lambda


def test_sliding_window_equals_a_fresh_mfac_of_the_last_gradients():
    gen = torch.Generator().manual_seed(3)
    grads = torch.randn(11, 25, dtype=torch.float64, generator=gen)
    sl = SlidingMFAC(window=4, dim=25, damping=1e-2)
    v = torch.randn(25, dtype=torch.float64, generator=gen)
    for t in range(grads.shape[0]):
        direction = sl.step(grads[t])
        lo = max(0, t + 1 - 4)
        fresh = MFAC(grads[lo:t + 1], damping=1e-2)
        assert sl.m == t + 1 - lo
        assert torch.allclose(sl.inverse_matvec(v), fresh.inverse_matvec(v), rtol=1e-9)
        assert torch.allclose(direction, fresh.inverse_matvec(grads[t]), rtol=1e-9)
        assert torch.allclose(sl.G, grads[lo:t + 1])  # oldest first


def test_from_model_uses_the_per_sample_gradients_of_the_fisher_operator():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    model = model.double()
    X = torch.randn(12, 3, dtype=torch.float64)
    y = torch.randint(0, 2, (12,))
    loss = torch.nn.CrossEntropyLoss()
    mf = mfac_from_model(model, loss, (X, y), damping=1e-3)
    assert mf.m == 12 and mf.d == sum(p.numel() for p in model.parameters())
    from workbench.hessian import dense_empirical_fisher

    F = dense_empirical_fisher(model, loss, (X, y)) + 1e-3 * torch.eye(mf.d, dtype=torch.float64)
    v = torch.randn(mf.d, dtype=torch.float64)
    assert torch.allclose(mf.matvec(v), F @ v, rtol=1e-8, atol=1e-10)
    assert torch.allclose(mf.inverse_matvec(v), torch.linalg.solve(F, v), rtol=1e-7)


def test_bad_input_is_named():
    with pytest.raises(ShapeError, match="m x d"):
        MFAC(torch.ones(5))
    with pytest.raises(InputFormatError, match="damping"):
        MFAC(torch.ones(2, 3), damping=0.0)
    G = torch.ones(2, 3)
    G[0, 0] = float("nan")
    with pytest.raises(InputFormatError, match="NaN"):
        MFAC(G)
    with pytest.raises(ShapeError, match="length 3"):
        MFAC(torch.ones(2, 3, dtype=torch.float64)).inverse_matvec(torch.ones(4))
