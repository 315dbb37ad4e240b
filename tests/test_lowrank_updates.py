"""Weight-update and LoRA spectra against dense SVDs."""

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from workbench.errors import InputFormatError, ShapeError
from workbench.lowrank.updates import lora_deltas, update_spectra, weight_updates


def test_weight_updates_of_two_checkpoints(tmp_path):
    rng = np.random.default_rng(0)
    before = {"a.weight": rng.standard_normal((20, 12)).astype(np.float32),
              "a.bias": np.zeros(20, np.float32),
              "conv.weight": rng.standard_normal((4, 3, 2, 2)).astype(np.float32)}
    low = rng.standard_normal((20, 3)) @ rng.standard_normal((3, 12))  # a rank-3 update
    after = {"a.weight": (before["a.weight"] + low).astype(np.float32),
             "a.bias": np.ones(20, np.float32),
             "conv.weight": before["conv.weight"] * 2}
    save_file(before, str(tmp_path / "b.safetensors"))
    save_file(after, str(tmp_path / "a.safetensors"))
    d = weight_updates(tmp_path / "b.safetensors", tmp_path / "a.safetensors")
    assert set(d) == {"a.weight", "conv.weight"} and d["conv.weight"].shape == (4, 12)
    table, spectra = update_spectra(d, energy=0.99)
    s = spectra["a.weight"]
    exact = np.linalg.svd(d["a.weight"], compute_uv=False)
    assert np.allclose(s.singular_values, exact)
    # rank 3 keeps everything up to float32 storage round-off (~1e-7 relative)
    assert s.rank_for(0.99) <= 3 and s.error_curve[3] < 1e-5
    assert s.error_curve[0] == pytest.approx(1.0)
    assert np.allclose(s.error_curve[1:], [np.sqrt((exact[r:] ** 2).sum() / (exact**2).sum())
                                           for r in range(1, len(exact) + 1)], atol=1e-12)
    row = table.set_index("layer").loc["a.weight"]
    assert row["rank_for_energy"] == s.rank_for(0.99)
    assert row["stable_rank"] == pytest.approx((exact**2).sum() / exact[0] ** 2)
    p = exact**2 / (exact**2).sum()
    p = p[p > 0]
    assert row["effective_rank"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    m1 = torch.nn.Linear(12, 20)
    m2 = torch.nn.Linear(12, 20)
    assert set(weight_updates(m1, m2)) == {"weight"}


def test_lora_pairs_are_not_multiplied_out_but_agree_with_the_product():
    rng = np.random.default_rng(1)
    sd = {"layer.0.q.lora_A.weight": rng.standard_normal((4, 30)),
          "layer.0.q.lora_B.weight": rng.standard_normal((25, 4)),
          "layer.0.q.base_layer.weight": rng.standard_normal((25, 30))}
    pairs = lora_deltas(sd, alpha=8)
    _, spectra = update_spectra(pairs)
    dW = (8 / 4) * sd["layer.0.q.lora_B.weight"] @ sd["layer.0.q.lora_A.weight"]
    exact = np.linalg.svd(dW, compute_uv=False)[:4]
    s = spectra["layer.0.q"]
    assert s.lora_rank == 4 and s.shape == (25, 30)
    assert np.allclose(s.singular_values, exact, rtol=1e-10)


def test_bad_input_is_named():
    with pytest.raises(InputFormatError, match="no LoRA pair"):
        lora_deltas({"w": np.ones((3, 3))})
    with pytest.raises(ShapeError, match="do not chain"):
        lora_deltas({"x.lora_A.weight": np.ones((2, 5)), "x.lora_B.weight": np.ones((4, 3))})
    with pytest.raises(ShapeError, match="share no weight"):
        weight_updates({"w": np.ones((3, 3))}, {"w": np.ones((3, 4))})
    with pytest.raises(InputFormatError, match="energy"):
        update_spectra({"w": np.ones((3, 3))}, energy=0)
