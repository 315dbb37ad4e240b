"""Curvature operators against dense matrices built independently (torch.func.hessian of the
loss of one flat parameter vector, explicit Jacobians, explicit per-sample gradients).

Tolerance 1e-8 relative in float64: both sides are exact up to rounding (observed ~1e-15);
1e-8 leaves room for summation-order differences across batches while still catching any
wrong weight, missing term or sign (which give errors of order 1e-2 or more).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import workbench.hessian as wh
from workbench.errors import InputFormatError, RankError, ShapeError, WorkbenchError

F64 = torch.float64
TOL = 1e-8
CE = nn.CrossEntropyLoss()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: one torch thread avoids oversubscription on a shared 2-core machine
    from workbench.backends import limited_threads

    with limited_threads(1):
        yield


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.fixture(scope="module")
def problem():
    ds = wh.gaussian_mixture(200, num_classes=3, dim=5, seed=1, dtype=F64)
    model = wh.mlp(5, 3, width=16, depth=2, activation="tanh", seed=2, dtype=F64)
    batches = [(ds.X[i:i + 64], ds.y[i:i + 64]) for i in range(0, 200, 64)]  # last has 8
    return ds, model, batches


@pytest.fixture(scope="module")
def dense_h(problem):
    ds, model, _ = problem
    return wh.dense_hessian(model, CE, ds.pair())  # one full batch


@pytest.fixture(scope="module")
def probes(problem):
    P = wh.num_parameters(problem[1])
    return torch.as_tensor(np.random.default_rng(0).standard_normal((P, 5)), dtype=F64)


@pytest.mark.parametrize("hvp", ["auto", "cached", "fwd_rev", "rev_rev", "loop"])
def test_hessian_matches_dense_with_short_last_batch(problem, dense_h, probes, hvp):
    _, model, batches = problem
    H = wh.hessian_operator(model, CE, batches, hvp=hvp)
    assert H.shape == (419, 419) and H.symmetric and H.dtype == F64
    assert rel(H.matmat(probes), dense_h @ probes) < TOL
    assert rel(H.matvec(probes[:, 0]), dense_h @ probes[:, 0]) < TOL
    assert H.num_matvecs == 6


def test_batch_weights_are_exact(problem):
    _, model, batches = problem
    H = wh.hessian_operator(model, CE, batches)
    assert H.batch_weights == pytest.approx([64 / 200, 64 / 200, 64 / 200, 8 / 200])
    # an unweighted mean of the batch Hessians would differ: the test above would catch it
    Hs = [wh.dense_hessian(model, CE, b) for b in batches]
    assert rel(sum(Hs) / 4, sum(w * h for w, h in zip(H.batch_weights, Hs))) > 1e-3


def test_ggn_matches_dense(problem, probes):
    ds, model, batches = problem
    G = wh.ggn_operator(model, CE, batches)
    Gd = wh.dense_ggn(model, CE, ds.pair())
    assert rel(G.matmat(probes), Gd @ probes) < TOL
    assert torch.linalg.eigvalsh(Gd).min() > -1e-10  # PSD for cross-entropy
    assert G._cache and G._J is not None  # cached output Jacobians (small model)
    # without the cache each product recomputes JVP / loss-HVP / VJP: same answer
    G2 = wh.ggn_operator(model, CE, batches, cache_bytes=0)
    assert not G2._cache
    assert rel(G2.matmat(probes), Gd @ probes) < TOL


def test_empirical_fisher_matches_dense(problem, probes):
    ds, model, batches = problem
    F = wh.fisher_operator(model, CE, batches)
    Fd = wh.dense_empirical_fisher(model, CE, ds.pair())
    assert rel(F.matmat(probes), Fd @ probes) < TOL
    # without the per-sample cache the product is recomputed: same answer
    F2 = wh.fisher_operator(model, CE, batches, cache_bytes=0)
    assert F2._cache is False
    assert rel(F2.matmat(probes), Fd @ probes) < TOL


def test_true_fisher_is_ggn_for_cross_entropy_and_mc_is_its_estimate(problem, probes):
    ds, model, batches = problem
    Gd = wh.dense_ggn(model, CE, ds.pair())
    Ft = wh.fisher_operator(model, CE, batches, fisher_type="true")
    assert rel(Ft.matmat(probes), Gd @ probes) < TOL
    Fm = wh.fisher_operator(model, CE, ds.pair(), fisher_type="mc", mc_samples=4, seed=3)
    # exact: the empirical Fisher of the sampled labels (fixed at construction)
    Xs, ys = Fm.batches[0]
    Fd = wh.dense_empirical_fisher(model, CE, (Xs, ys))
    assert rel(Fm.matmat(probes), Fd @ probes) < TOL
    # and an estimate of the true Fisher: 800 samples give a few percent of error
    assert rel(Fm.matmat(probes), Gd @ probes) < 0.2


def test_mc_and_true_fisher_need_cross_entropy(problem):
    ds, model, _ = problem
    with pytest.raises(InputFormatError, match="cross-entropy"):
        wh.fisher_operator(model, nn.MSELoss(), ds.pair(), fisher_type="mc")


def test_parameter_subsets_are_blocks_of_the_dense_hessian(problem, dense_h):
    ds, model, _ = problem
    lay = wh.select_parameters(model)
    offs = {n: (a, b) for n, a, b in lay.offsets()}
    for spec, names in [(["2"], ["2.weight", "2.bias"]), (r"^4\.weight$", ["4.weight"]),
                        (["0.bias", "4"], ["0.bias", "4.weight", "4.bias"])]:
        H = wh.hessian_operator(model, CE, ds.pair(), params=spec)
        assert H.layout.names == tuple(names)
        idx = torch.cat([torch.arange(*offs[n]) for n in names])
        block = dense_h[idx][:, idx]
        assert rel(H.to_dense_torch(), block) < TOL
        # the dense reference restricted the same way agrees too
        assert rel(wh.dense_hessian(model, CE, ds.pair(), params=spec), block) < TOL


def test_bad_parameter_selection_names_the_problem(problem):
    ds, model, _ = problem
    with pytest.raises(InputFormatError, match="no parameter named"):
        wh.hessian_operator(model, CE, ds.pair(), params=["7"])
    with pytest.raises(InputFormatError, match="matches none"):
        wh.hessian_operator(model, CE, ds.pair(), params="^conv")
    with pytest.raises(InputFormatError, match="bad parameter pattern"):
        wh.hessian_operator(model, CE, ds.pair(), params="(")


def test_bad_data_names_the_problem(problem):
    ds, model, _ = problem
    with pytest.raises(ShapeError, match="inputs but"):
        wh.hessian_operator(model, CE, (ds.X, ds.y[:10]))
    with pytest.raises(InputFormatError, match="data must be"):
        wh.hessian_operator(model, CE, ds.X.numpy())
    X = ds.X.clone()
    X[3, 1] = float("nan")
    with pytest.raises(WorkbenchError, match="NaN"):
        wh.hessian_operator(model, CE, (X, ds.y))
    with pytest.raises(RankError, match="subset"):
        wh.hessian_operator(model, CE, ds.pair(), subset=10_000)


def test_batchnorm_dropout_model_equals_dense_full_batch_and_has_no_side_effects():
    ds = wh.gaussian_mixture(150, num_classes=3, dim=4, seed=5, dtype=F64)
    model = wh.mlp(4, 3, width=8, depth=2, batchnorm=True, dropout=0.5, seed=1, dtype=F64)
    with torch.no_grad():  # non-trivial running statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    model.train()
    model[2].train(False)  # a mixed mode that must come back as it was
    modes = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model[0].weight.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]

    dense = wh.dense_hessian(model, CE, ds.pair(), params=[n for n, _ in
                                                           model.named_parameters()])
    lay = wh.select_parameters(model, [n for n, _ in model.named_parameters()])
    v = torch.as_tensor(np.random.default_rng(1).standard_normal((lay.size, 3)), dtype=F64)
    # batches of 40: the last one has 30 samples; the dense side is one batch of 150
    for make in (wh.hessian_operator, wh.ggn_operator, wh.fisher_operator):
        op = make(model, CE, ds.pair(), params=list(lay.names), batch_size=40)
        assert [len(b[1]) for b in op.batches] == [40, 40, 40, 30]
        got = op.matmat(v)
        if make is wh.hessian_operator:
            assert rel(got, dense @ v) < TOL
        full = make(model, CE, ds.pair(), params=list(lay.names))
        assert rel(got, full.matmat(v)) < TOL
    # default selection skips the frozen weight
    assert "0.weight" not in wh.hessian_operator(model, CE, ds.pair()).layout.names

    # train-mode products run (BatchNorm on batch statistics) but leave no trace either
    wh.hessian_operator(model, CE, ds.pair(), params=list(lay.names), batch_size=40,
                         train_mode=True).matmat(v)
    assert [m.training for m in model.modules()] == modes
    assert all(torch.equal(state[k], t) for k, t in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_no_graph_kept_and_parameters_snapshotted(problem, probes):
    ds, model, _ = problem
    H = wh.hessian_operator(model, CE, ds.pair(), hvp="fwd_rev")
    out = H.matmat(probes)
    assert out.grad_fn is None and not out.requires_grad
    assert all(p.grad_fn is None for p in H.params.values())
    before = H.matmat(probes)
    with torch.no_grad():  # the user changes the model afterwards: the operator is a snapshot
        model[0].weight.add_(1.0)
    try:
        assert torch.equal(H.matmat(probes), before)
    finally:
        with torch.no_grad():
            model[0].weight.sub_(1.0)
    Hc = wh.hessian_operator(model, CE, ds.pair(), hvp="cached")
    assert Hc.matmat(probes).grad_fn is None
    Hc.release()
    assert Hc._graphs is None


def test_dataloader_and_subset(problem, dense_h, probes):
    ds, model, _ = problem
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ds.X, ds.y),
                                         batch_size=48, shuffle=True)
    H = wh.hessian_operator(model, CE, loader)
    assert rel(H.matmat(probes), dense_h @ probes) < TOL
    assert torch.equal(H.matmat(probes), H.matmat(probes))  # stored once: a fixed matrix
    idx = np.arange(0, 200, 3)
    Hs = wh.hessian_operator(model, CE, ds.pair(), subset=idx, batch_size=16)
    Ds = wh.dense_hessian(model, CE, (ds.X[idx], ds.y[idx]))
    assert rel(Hs.matmat(probes), Ds @ probes) < TOL
    Hr = wh.hessian_operator(model, CE, ds.pair(), subset=50, seed=4)
    assert Hr.num_samples == 50


@pytest.mark.slow
def test_cnn_and_mse_regression():
    ds = wh.digits(num_samples=40, images=True, seed=0, dtype=F64)
    cnn = wh.small_cnn(channels=2, seed=0, dtype=F64)
    P = wh.num_parameters(cnn)
    v = torch.as_tensor(np.random.default_rng(2).standard_normal((P, 2)), dtype=F64)
    H = wh.hessian_operator(cnn, CE, ds.pair(), batch_size=15)
    assert rel(H.matmat(v), wh.dense_hessian(cnn, CE, ds.pair()) @ v) < TOL
    G = wh.ggn_operator(cnn, CE, ds.pair(), batch_size=15)
    assert rel(G.matmat(v), wh.dense_ggn(cnn, CE, ds.pair()) @ v) < TOL
    # a regression loss: GGN of MSE is 2/(n*out) J^T J, compare with the dense version
    X = torch.randn(30, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    Y = torch.randn(30, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    reg = wh.mlp(3, 2, width=6, depth=1, seed=3, dtype=F64)
    mse = nn.MSELoss()
    w = torch.randn(wh.num_parameters(reg), 2, dtype=F64)
    for make, dense in ((wh.hessian_operator, wh.dense_hessian), (wh.ggn_operator, wh.dense_ggn),
                        (wh.fisher_operator, wh.dense_empirical_fisher)):
        op = make(reg, mse, (X, Y), batch_size=7)
        assert rel(op.matmat(w), dense(reg, mse, (X, Y)) @ w) < TOL


def test_float32_operator_agrees_with_float64_dense(problem, dense_h, probes):
    ds, model, _ = problem
    m32 = wh.mlp(5, 3, width=16, depth=2, activation="tanh", seed=2, dtype=torch.float32)
    m32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    H = wh.hessian_operator(m32, CE, ds.pair())  # float64 data is cast to the model's dtype
    assert H.dtype == torch.float32 and H.batches[0][0].dtype == torch.float32
    # float32 rounding through two backward passes: ~1e-6 relative; 1e-4 is a safe bound
    assert rel(H.matmat(probes.float()).double(), dense_h @ probes) < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_operator_matches_cpu(problem, dense_h, probes):
    ds, model, batches = problem
    mc = wh.mlp(5, 3, width=16, depth=2, activation="tanh", seed=2, dtype=F64).cuda()
    for make in (wh.hessian_operator, wh.ggn_operator, wh.fisher_operator):
        op = make(mc, CE, batches)  # CPU data follows the model to the GPU
        assert op.device.type == "cuda"
        got = op.matmat(probes.cuda()).cpu()
        ref = make(model, CE, batches).matmat(probes)
        assert rel(got, ref) < TOL


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu"])
def test_closed_form_two_layer_hessian_equals_torch_func(act):
    # the benchmark's 10.5k-parameter reference; both sides exact: observed ~4e-16
    from workbench.hessian.dense import dense_hessian_two_layer

    ds = wh.gaussian_mixture(90, num_classes=3, dim=5, seed=1, dtype=F64)
    model = wh.mlp(5, 3, width=7, depth=1, activation=act, seed=2, dtype=F64)
    batches = [(ds.X[i:i + 40], ds.y[i:i + 40]) for i in range(0, 90, 40)]
    assert rel(dense_hessian_two_layer(model, batches),
               wh.dense_hessian(model, CE, ds.pair())) < 1e-12
    with pytest.raises(InputFormatError, match="Sequential"):
        dense_hessian_two_layer(wh.mlp(5, 3, width=4, depth=2, seed=0, dtype=F64), ds.pair())
    with pytest.raises(InputFormatError, match="Tanh, Sigmoid and ReLU"):
        dense_hessian_two_layer(wh.mlp(5, 3, width=4, depth=1, activation="gelu", seed=0,
                                       dtype=F64), ds.pair())


def test_dense_hessian_chunked_equals_unchunked(problem, dense_h):
    ds, model, _ = problem
    assert rel(wh.dense_hessian(model, CE, ds.pair(), chunk_size=100), dense_h) < 1e-12
