"""K-FAC, Shampoo and the optimal Kronecker product against the exact GGN block."""

import numpy as np
import pytest
import torch

from workbench.errors import InputFormatError
from workbench.hessian import dense_ggn
from workbench.hessian.kronecker import kronecker_blocks, layer_factors, optimal_kronecker


def _model_and_data(seed=0, loss="ce"):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    X = torch.randn(30, 4)
    y = torch.randint(0, 3, (30,)) if loss == "ce" else torch.randn(30, 3)
    fn = torch.nn.CrossEntropyLoss() if loss == "ce" else torch.nn.MSELoss()
    return model, fn, (X, y)


def _rearrange(H, m, n):
    """Van Loan's R(H): rows (i, j), columns (p, q), R[(i,j),(p,q)] = H[(i,p),(j,q)]."""
    return H.reshape(m, n, m, n).transpose(0, 2, 1, 3).reshape(m * m, n * n)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_factors_rebuild_the_dense_ggn_block(loss):
    model, fn, data = _model_and_data(loss=loss)
    facs = layer_factors(model, fn, data)
    for name in ("0", "2"):
        exact = dense_ggn(model, fn, data, params=[f"{name}.weight"]).numpy()
        H = facs[name].dense().numpy()
        # both are sums of O(30 x 3) float64 outer products: agree to round-off
        assert np.allclose(H, exact, rtol=1e-10, atol=1e-12)
        V = torch.randn(H.shape[0], 2, dtype=torch.float64)
        assert np.allclose(facs[name].matmat(V).numpy(), H @ V.numpy(), atol=1e-12)
        assert facs[name].sq_norm() == pytest.approx(float((H**2).sum()), rel=1e-10)


def test_optimal_is_the_rank_one_svd_of_the_rearranged_block_and_shampoo_its_first_step():
    model, fn, data = _model_and_data(seed=1)
    f = layer_factors(model, fn, data)["2"]
    m, n = f.shape
    H = f.dense().numpy()
    R = _rearrange(H, m, n)
    U, s, Vt = np.linalg.svd(R)
    best = s[0] * np.kron(U[:, 0].reshape(m, m), Vt[0].reshape(n, n))
    blocks = kronecker_blocks(model, fn, data, k=5)
    b = blocks["2"]
    B, A = b.factors["optimal"]
    # power iteration to 1e-12 relative change: the product matches the SVD optimum
    assert np.allclose(np.kron(B, A), best, atol=1e-8 * np.abs(best).max())
    assert b.errors["optimal"] == pytest.approx(np.linalg.norm(H - best) / np.linalg.norm(H),
                                                rel=1e-6)
    # the optimum is optimal: K-FAC and (optimally scaled) Shampoo are no closer
    assert b.errors["optimal"] <= b.errors["kfac"] + 1e-12
    assert b.errors["optimal"] <= b.errors["shampoo"] + 1e-12
    # Shampoo's L and R: one power-iteration step from identities, each side
    B1, _, _ = optimal_kronecker(f, iters=1)
    L = b.factors["shampoo"][0]
    assert np.allclose(B1.numpy(), L / np.linalg.norm(L), atol=1e-12)
    grads = [np.outer(g, a) for g, a in zip(f.g.numpy(), f.a.numpy())]   # per (x, c)
    L_ref = sum(G @ G.T for G in grads) / f.num_samples
    assert np.allclose(L, L_ref, rtol=1e-10)
    # every method's errors and spectra recomputed densely
    for meth, (Bm, Am) in b.factors.items():
        K = np.kron(Bm, Am)
        assert b.errors[meth] == pytest.approx(np.linalg.norm(H - K) / np.linalg.norm(H),
                                               rel=1e-8)
        assert np.allclose(b.spectra[meth], np.sort(np.linalg.eigvalsh(K))[::-1][:5],
                           rtol=1e-8, atol=1e-12)
    exact_vals, exact_vecs = np.linalg.eigh(H)
    assert np.allclose(b.spectra["exact"], exact_vals[::-1][:5], rtol=1e-7)
    assert np.all((b.overlaps["optimal"] >= 0) & (b.overlaps["optimal"] <= 1 + 1e-9))
    # K-FAC factors: E[g g^T] and E[a a^T]
    Bk, Ak = b.factors["kfac"]
    X = f.inputs.numpy()
    assert np.allclose(Ak, X.T @ X / X.shape[0])
    assert set(b.table()["method"]) == {"optimal", "kfac", "shampoo"}


def test_unsupported_losses_and_layers_are_named():
    model, _, data = _model_and_data()
    with pytest.raises(InputFormatError, match="CrossEntropyLoss and MSELoss"):
        layer_factors(model, torch.nn.L1Loss(), data)
    with pytest.raises(InputFormatError, match="no linear layer named"):
        layer_factors(model, torch.nn.CrossEntropyLoss(), data, layers=["5"])
