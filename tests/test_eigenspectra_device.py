"""analyze(..., device=...): the batched, streamed device path against the per-layer host
path (same eigenvalues to float64 rounding, same alphas), run on CPU tensors (the same code
runs on CUDA), with the memory budget of each batch checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench.eigenspectra as es
from workbench.eigenspectra import esd as esd_mod
from workbench.eigenspectra.layers import extract_layers

torch = pytest.importorskip("torch")


def _heavy_tailed(shape, seed):
    # Student-t entries (3 degrees of freedom): a heavy-tailed ESD like trained weights
    return np.random.default_rng(seed).standard_t(3, size=shape) / 10


def _matrices():
    mats = {f"block{i}.mlp.up.weight": _heavy_tailed((96, 40), i) for i in range(5)}
    mats.update({f"block{i}.mlp.down.weight": _heavy_tailed((40, 96), 10 + i)
                 for i in range(3)})                    # transposed shape: same batch
    mats["head.weight"] = _heavy_tailed((64, 30), 99)    # a shape of its own
    return mats


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.Linear(32, 20),
                               torch.nn.Linear(32, 20), torch.nn.MultiheadAttention(16, 2))


COLUMNS = ["alpha", "xmin", "D", "log_norm", "spectral_norm", "stable_rank", "entropy",
           "log_alpha_norm", "num_pl_spikes"]


@pytest.mark.parametrize("source", ["numpy", "torch_dict", "module"])
def test_batched_path_matches_per_layer_path(source, monkeypatch):
    if source == "module":
        obj = _model()
    else:
        mats = _matrices()
        obj = ({k: torch.from_numpy(v) for k, v in mats.items()} if source == "torch_dict"
               else mats)
    host = es.analyze(obj)
    # a budget that fits 3 of the (96 x 40) matrices: several batches per shape
    budget = 3 * esd_mod._batch_bytes(96, 40)
    seen = []
    orig = torch.linalg.eigvalsh

    def spy(G, *a, **kw):
        seen.append(G.shape)
        return orig(G, *a, **kw)

    monkeypatch.setattr(torch.linalg, "eigvalsh", spy)
    dev = es.analyze(obj, device="cpu", batched=True, max_batch_bytes=budget)
    monkeypatch.undo()
    assert list(dev["name"]) == list(host["name"])
    # same eigenvalues to float64 rounding (~1e-15 relative): the fits see the same data
    pd.testing.assert_frame_equal(dev[COLUMNS], host[COLUMNS], rtol=1e-9, atol=1e-12)
    assert seen, "the batched path ran"
    for shape in seen:                     # every batch within the budget
        B, M, _ = shape
        N = {40: 96, 30: 64}.get(M)
        if N is not None:
            assert B * esd_mod._batch_bytes(N, M) <= budget
    if source == "numpy":
        assert len(seen) == 4              # 8 matrices of (96, 40) in 3 + 3 + 2, and head


def test_torch_weights_stay_tensors_on_the_device_path():
    layers, _ = extract_layers(_model(), keep_torch=True)
    assert layers and all(isinstance(W, torch.Tensor) for lm in layers for W in lm.mats)
    layers, _ = extract_layers(_model())
    assert all(isinstance(W, np.ndarray) for lm in layers for W in lm.mats)


def test_batched_eigenvalues_match_svd():
    mats = [[_heavy_tailed((80, 30), s)] for s in range(4)] + [[_heavy_tailed((30, 50), 7)]]
    evs = esd_mod.batched_gram_eigenvalues(mats, "cpu", max_bytes=1)   # one matrix per batch
    for (W,), ev in zip(mats, evs, strict=True):
        sv = np.linalg.svd(W, compute_uv=False)
        np.testing.assert_allclose(ev, np.sort(sv**2), rtol=1e-10, atol=1e-12 * sv.max()**2)
