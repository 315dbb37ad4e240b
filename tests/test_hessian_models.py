"""Real model families (BERT/MiniLM, GPT-2, ResNet with BatchNorm) and per-block spectra,
against dense Hessians from ``torch.func.hessian`` of the loss as a function of one
parameter block (all else fixed), built independently of the operators.

Tolerances: 1e-8 relative in float64 for autograd products (exact up to rounding, observed
~1e-14; a wrong term gives >1e-3); 1e-6 for finite-difference HVPs in float64 (central
differences: truncation + rounding ~ eps^(2/3) ~ 1e-11 relative per entry, amplified by
the conditioning of the gradient's evaluation); eigen/trace values 1e-6 relative (Lanczos
to tol 1e-10 and XTrace with 2n products are exact up to rounding on these blocks).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

import workbench.hessian as wh
from workbench.hessian import transformers as wt

F64 = torch.float64
CE = nn.CrossEntropyLoss()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from workbench.backends import limited_threads

    with limited_threads(1):
        yield


def rel(a, b):
    return float((a - b).norm() / b.norm())


def dense_block(model, loss_fn, X, y, names):
    """torch.func.hessian of the loss in the flat vector of the parameters `names`."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    flat0 = torch.cat([params[n].reshape(-1) for n in names])

    def f(flat):
        p, off = dict(params), 0
        for n in names:
            k = params[n].numel()
            p[n] = flat[off:off + k].reshape(params[n].shape)
            off += k
        return loss_fn(functional_call(model, (p, buffers), (X,)), y)

    model.eval()
    return torch.func.hessian(f)(flat0)


def probes(n, b=3, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).standard_normal((n, b)), dtype=F64)


@pytest.fixture(scope="module")
def bert():
    model = wt.tiny_bert_pair_model(vocab_size=40, hidden=8, layers=2, heads=2, seed=1)
    X, y = wt.random_pairs(12, length=6, vocab_size=40, seed=2)
    return model, X, y


def test_bert_pair_block_matches_dense_and_pooler_is_noted(bert):
    model, X, y = bert
    names = ["encoder.encoder.layer.1.attention.self.query.weight",
             "encoder.encoder.layer.1.attention.self.query.bias", "head.bias"]
    D = dense_block(model, CE, X, y, names)
    V = probes(D.shape[0])
    for hvp in ("cached", "fwd_rev", "rev_rev"):
        H = wh.hessian_operator(model, CE, (X, y), params=names, hvp=hvp, max_memory=2e5)
        assert rel(H.matmat(V), D @ V) < 1e-8, hvp
    Hfd = wh.hessian_operator(model, CE, (X, y), params=names, hvp="fd")
    assert rel(Hfd.matmat(V), D @ V) < 1e-6 and Hfd.hvp == "fd"
    full = wh.hessian_operator(model, CE, (X, y), batch_size=5)
    full.matvec(torch.zeros(full.shape[0], dtype=F64) + 1.0)
    assert any("encoder.pooler.dense.weight" in n for n in full.notes)
    assert full.plan.batch_size >= 1


def test_gpt2_block_matches_dense():
    model = wt.gpt2_lm(n_layer=1, n_embd=8, n_head=2, vocab_size=30, n_positions=16, seed=0,
                       dtype=F64)
    ids, tgt = wt.token_data(6, 7, 30, seed=1)
    out = model(ids)
    assert out.shape == (6, 6, 30)
    names = ["lm.transformer.h.0.attn.c_proj.weight", "lm.transformer.ln_f.bias"]
    D = dense_block(model, wt.next_token_loss, ids, tgt, names)
    V = probes(D.shape[0])
    H = wh.hessian_operator(model, wt.next_token_loss, (ids, tgt), params=names,
                            max_memory=1e5)
    assert rel(H.matmat(V), D @ V) < 1e-8
    # the tied output embedding is one parameter (wte) reached twice
    Hw = wh.hessian_operator(model, wt.next_token_loss, (ids, tgt),
                             params=["lm.transformer.wte.weight"])
    Dw = dense_block(model, wt.next_token_loss, ids, tgt, ["lm.transformer.wte.weight"])
    Vw = probes(Dw.shape[0], 2)
    assert rel(Hw.matmat(Vw), Dw @ Vw) < 1e-8


def test_resnet_batchnorm_eval_block_matches_dense():
    X, y = wh.models.cifar_like(10, num_classes=3, size=8, seed=0, dtype=F64)
    model = wh.models.resnet(3, widths=(4, 6), seed=0, dtype=F64, warmup=X)
    assert not model.training
    before = {n: b.clone() for n, b in model.named_buffers()}
    names = ["layer2.0.bn2.weight", "layer2.0.bn2.bias", "fc.weight"]
    D = dense_block(model, CE, X, y, names)
    V = probes(D.shape[0])
    H = wh.hessian_operator(model, CE, (X, y), params=names, max_memory=3e5)
    assert rel(H.matmat(V), D @ V) < 1e-8
    assert all(torch.equal(before[n], b) for n, b in model.named_buffers())


def test_auto_blocks_read_like_the_network(bert):
    model = bert[0]
    blocks = wh.auto_blocks(model)
    assert list(blocks) == ["encoder.embeddings", "encoder.encoder.layer.0.attention",
                            "encoder.encoder.layer.0.mlp", "encoder.encoder.layer.1.attention",
                            "encoder.encoder.layer.1.mlp", "encoder.pooler", "head"]
    assert "encoder.encoder.layer.0.output.LayerNorm.weight" in \
        blocks["encoder.encoder.layer.0.mlp"]
    g = wh.auto_blocks(wt.gpt2_lm(n_layer=2, n_embd=8, n_head=2, vocab_size=20))
    assert list(g) == ["lm.transformer.wte", "lm.transformer.wpe", "lm.transformer.h.0.attention",
                       "lm.transformer.h.0.mlp", "lm.transformer.h.1.attention",
                       "lm.transformer.h.1.mlp", "lm.transformer.ln_f"]
    assert "lm.transformer.h.0.ln_1.weight" in g["lm.transformer.h.0.attention"]
    r = wh.auto_blocks(wh.models.resnet(3, widths=(4, 6)))
    assert list(r) == ["stem", "layer1", "layer2", "fc"]
    assert list(wh.auto_blocks(wh.mlp(3, 2, width=4, depth=1))) == ["0", "2"]


def test_block_spectra_match_dense_blocks():
    ds = wh.gaussian_mixture(60, num_classes=3, dim=4, seed=0, dtype=F64)
    model = wh.mlp(4, 3, width=5, depth=2, seed=0, dtype=F64)
    D = wh.dense_hessian(model, CE, ds.pair()).numpy()
    table = wh.block_spectra(model, CE, ds.pair(), k=2, tol=1e-10, trace_matvecs=200,
                             num_probes=2, num_steps=40)
    assert list(table["block"]) == ["0", "2", "4"]
    start = 0
    for _, row in table.iterrows():
        n = row["num_params"]
        B = D[start:start + n, start:start + n]
        start += n
        lam = np.linalg.eigvalsh(B)
        assert row["top_eigenvalue"] == pytest.approx(lam[-1], rel=1e-6)
        assert np.allclose(row["top_values"], lam[::-1][:2], rtol=1e-6, atol=1e-9)
        assert row["trace"] == pytest.approx(np.trace(B), rel=1e-6)
        lo, hi = row["density"].bounds  # SLQ with n steps: exact extreme Ritz values
        assert lo >= lam[0] - 1e-6 * abs(lam).max() and hi <= lam[-1] + 1e-6 * abs(lam).max()
    assert start == D.shape[0]


def test_block_spectra_of_a_transformer_agree_with_the_restricted_full_operator(bert):
    model, X, y = bert
    block = "encoder.encoder.layer.1.attention"
    names = wh.auto_blocks(model)[block]
    table = wh.block_spectra(model, CE, (X, y), blocks={block: names,
                                                        "encoder.pooler": ["encoder.pooler"]},
                             k=1, tol=1e-10, trace_matvecs=12, num_probes=1, num_steps=5)
    full = wh.hessian_operator(model, CE, (X, y))
    lay = full.layout
    idx = [i for n, a, b in lay.offsets() if n in names for i in range(a, b)]
    E = torch.zeros(full.shape[0], len(idx), dtype=F64)
    E[idx, torch.arange(len(idx))] = 1.0
    restricted = full.restrict(E)
    from workbench import spectral as sp

    top = sp.top_eigs(restricted, k=1, tol=1e-10).values[0]
    row = table.set_index("block").loc[block]
    assert row["top_eigenvalue"] == pytest.approx(top, rel=1e-6)
    pooler = table.set_index("block").loc["encoder.pooler"]
    assert pooler["trace"] == 0.0 and "not reached" in pooler["note"]


@pytest.mark.slow
def test_pretrained_minilm_sdpa_switches_to_eager_and_matches():
    pairs = wt.sentence_pairs()
    assert len(pairs) == 64 and sum(p["label"] for p in pairs[:32]) == 16
    model, loss, (X, y) = wt.minilm_pair_task(3, attn_implementation="sdpa")
    block = ["head.weight", "head.bias"]
    Ha = wh.hessian_operator(model, loss, (X, y), params=block)
    V = torch.as_tensor(np.random.default_rng(0).standard_normal((Ha.shape[0], 2)),
                        dtype=torch.float32)
    out = Ha.matmat(V)
    assert Ha.attention == "eager" and any("eager" in n for n in Ha.notes)
    assert model.encoder.config._attn_implementation == "sdpa"  # restored
    eager, loss, (X, y) = wt.minilm_pair_task(3, attn_implementation="eager")
    D = dense_block(eager, loss, X, y, block)
    # float32 model: 1e-4 relative covers float32 rounding of the 6-layer forward
    assert rel(out.double(), D.double() @ V.double()) < 1e-4
