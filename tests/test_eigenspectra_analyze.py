"""analyze(): WeightWatcher's columns on fixed inputs, every input kind, conv layouts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import workbench.eigenspectra as es
from workbench.errors import ShapeError


def _fixed_matrix():
    i, j = np.meshgrid(np.arange(50), np.arange(20), indexing="ij")
    return np.sin(0.37 * i * j + 0.1 * i + 1.0) + 0.02 * i


def test_weightwatcher_reference_row():
    # Reference: WeightWatcher 0.7.7 analyze() of nn.Linear(20, 50) holding this weight in
    # (default options). WeightWatcher reads torch weights as float32 (`.float().numpy()`)
    # then computes in float64, so the input here is the float32-rounded matrix. Tolerance
    # 1e-9: our ESD comes from eigvalsh(W^T W), theirs from an SVD; they agree to ~1e-13.
    df = es.analyze({"fc.weight": _fixed_matrix().astype(np.float32)})
    r = df.iloc[0]
    ref = {"alpha": 2.7748200257938307, "alpha_weighted": 6.992218654224211,
           "log_alpha_norm": 7.0020154355804705, "log_norm": 2.8962434266938137,
           "log_spectral_norm": 2.519881862328657, "spectral_norm": 331.0410587691787,
           "stable_rank": 2.3788199078628316, "entropy": 0.7566199328116266,
           "xmin": 21.50304676058299, "xmax": 331.0410587691787, "D": 0.15279069533675682,
           "sigma": 0.5123464098276034, "Q": 2.5}
    for k, v in ref.items():
        assert r[k] == pytest.approx(v, rel=1e-9, abs=1e-9), k
    assert (r["N"], r["M"], r["num_evals"], r["num_pl_spikes"]) == (50, 20, 20, 12)
    assert r["warning"] == "" and r["status"] == "success"


def test_formulas_by_hand():
    W = np.random.default_rng(0).normal(size=(120, 40))
    r = es.analyze(W).iloc[0]
    sv = np.linalg.svd(W, compute_uv=False)
    ev = sv**2
    assert r["log_norm"] == pytest.approx(np.log10(ev.sum()), rel=1e-12)
    assert r["spectral_norm"] == pytest.approx(ev.max(), rel=1e-12)
    assert r["stable_rank"] == pytest.approx(ev.sum() / ev.max(), rel=1e-12)
    assert r["log_alpha_norm"] == pytest.approx(np.log10(np.sum(ev ** r["alpha"])), rel=1e-10)
    assert r["alpha_weighted"] == pytest.approx(r["alpha"] * np.log10(ev.max()), rel=1e-12)
    p = ev / ev.sum() + 1e-10
    assert r["entropy"] == pytest.approx(-np.sum(p * np.log(p)) / np.log(40), rel=1e-9)


def test_gram_eigenvalues_match_svd():
    W = np.random.default_rng(1).normal(size=(300, 64)) * np.linspace(0.1, 3, 64)
    ev = es.gram_eigenvalues(W)
    sv = np.linalg.svd(W, compute_uv=False)
    # float64 Gram: absolute error ~ eps * ||W||^2 for every eigenvalue
    np.testing.assert_allclose(ev, np.sort(sv**2), rtol=1e-10, atol=1e-12 * sv.max() ** 2)
    np.testing.assert_allclose(es.gram_eigenvalues(W.T), ev, rtol=1e-10, atol=1e-9)


def _conv_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU(), torch.nn.Conv1d(16, 24, 5),
        torch.nn.ConvTranspose2d(16, 8, 3), torch.nn.Linear(32, 20),
        torch.nn.Embedding(100, 16), torch.nn.MultiheadAttention(16, 2),
        torch.nn.LayerNorm(16),
    )


def test_torch_module_every_layer_kind():
    df = es.analyze(_conv_model())
    kinds = dict(zip(df["name"], df["layer_type"]))
    assert kinds["0.weight"] == "conv2d" and kinds["2.weight"] == "conv1d"
    assert kinds["3.weight"] == "conv2d"  # transposed conv, IOHW
    assert kinds["4.weight"] == "dense" and kinds["5.weight"] == "embedding"
    assert {"6.in_proj_weight[q]", "6.in_proj_weight[k]", "6.in_proj_weight[v]",
            "6.out_proj.weight"} <= set(df["name"])
    conv = df.set_index("name").loc["0.weight"]
    assert (conv["N"], conv["M"], conv["rf"], conv["num_evals"]) == (16, 3, 9, 27)
    skipped = es.skipped_table(df)
    assert {"0.bias", "7.weight", "7.bias"} <= set(skipped["name"])
    assert skipped["reason"].str.len().min() > 0
    assert np.isfinite(df["alpha"]).all() or (df.loc[~np.isfinite(df["alpha"]), "reason"]
                                              .str.len() > 0).all()


@pytest.mark.parametrize("layout,perm", [("OIHW", (0, 1, 2, 3)), ("HWIO", (2, 3, 1, 0)),
                                         ("IOHW", (1, 0, 2, 3)), ("OHWI", (0, 2, 3, 1))])
def test_conv_every_channel_order_same_spectrum(layout, perm):
    rng = np.random.default_rng(0)
    W = rng.normal(size=(32, 12, 3, 3))  # OIHW
    ref = es.analyze({"conv": W}, conv_layout="OIHW").iloc[0]
    arr = np.transpose(W, perm)
    row = es.analyze({"conv": arr}, conv_layout=layout).iloc[0]
    assert row["rf"] == 9 and row["num_evals"] == 9 * 12
    assert row["alpha"] == pytest.approx(ref["alpha"], rel=1e-10)
    assert row["log_norm"] == pytest.approx(ref["log_norm"], rel=1e-12)
    # the pooled eigenvalues are those of each kernel position's 32 x 12 slice
    direct = np.sort(np.concatenate([np.linalg.svd(W[:, :, a, b], compute_uv=False) ** 2
                                     for a in range(3) for b in range(3)]))
    specs, _ = es.spectra({"conv": arr}, conv_layout=layout)
    np.testing.assert_allclose(specs[0].evals, direct, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape,layout", [
    ((64, 3, 7, 7), "OIHW"), ((7, 7, 3, 64), "HWIO"), ((64, 7, 7, 3), "OHWI"),
    ((40, 16, 5), "OIW"), ((5, 16, 40), "WIO"), ((40, 5, 16), "OWI"),
    ((192, 160, 1, 7), "OIHW"), ((1, 7, 160, 192), "HWIO"), ((8, 4, 3, 3, 3), "OIHWD"),
    ((3, 3, 3, 4, 8), "HWDIO"), ((64, 32, 1, 1), "OIHW"), ((64, 1, 1, 32), "OHWI")])
def test_conv_auto_layout(shape, layout):
    # auto must find the channel axes of every common order, and give exactly the
    # spectrum of the explicit layout
    W = np.random.default_rng(2).normal(size=shape)
    auto = es.analyze({"c": W}, min_evals=1).iloc[0]
    explicit = es.analyze({"c": W}, conv_layout=layout, min_evals=1).iloc[0]
    spatial = int(np.prod([n for n, c in zip(shape, layout) if c not in "OI"]))
    assert auto["rf"] == spatial
    assert auto["log_norm"] == explicit["log_norm"]
    assert auto["spectral_norm"] == explicit["spectral_norm"]


def test_conv_slices_mode_and_bad_layout():
    W = np.random.default_rng(3).normal(size=(32, 16, 2, 2))
    df = es.analyze({"c": W}, conv_mode="slices", conv_layout="OIHW")
    assert list(df["name"]) == ["c[0,0]", "c[0,1]", "c[1,0]", "c[1,1]"]
    assert (df["num_evals"] == 16).all()
    with pytest.raises(ShapeError, match="layout"):
        es.conv_slices(W, "OIH")
    df = es.analyze({"c": W}, conv_layout="OIXY")  # any spatial letters
    assert df.iloc[0]["rf"] == 4
    bad = es.analyze({"c": W, "d": np.ones((20, 20))}, conv_layout="OOHW")
    assert "c" in set(es.skipped_table(bad)["name"])


def test_inputs_single_matrix_dict_file(tmp_path):
    from safetensors.numpy import save_file

    W = np.random.default_rng(4).normal(size=(64, 32)).astype(np.float32)
    a = es.analyze(W)
    save_file({"w": W}, tmp_path / "m.safetensors")
    b = es.analyze(tmp_path / "m.safetensors")
    c = es.analyze(str(tmp_path))
    d = es.analyze({"w": torch.from_numpy(W)})
    for other in (b, c, d):
        assert other.iloc[0]["alpha"] == pytest.approx(a.iloc[0]["alpha"], rel=1e-12)


def test_mp_fit_and_randomize_columns():
    rng = np.random.default_rng(5)
    W = rng.normal(size=(400, 100)) / 20
    W_trap = W.copy()
    W_trap[3, 7] = 5.0  # one huge entry: a correlation trap survives shuffling
    df = es.analyze({"noise": W, "trap": W_trap}, mp_fit=True, randomize=True)
    r = df.set_index("name")
    assert r.loc["noise", "num_spikes"] == 0 and r.loc["noise", "num_traps"] == 0
    assert r.loc["trap", "num_traps"] >= 1
    for col in ("lambda_plus", "mp_softrank", "sigma_mp", "rand_distance", "ww_softrank"):
        assert np.isfinite(r[col]).all()
    assert r.loc["noise", "sigma_mp"] == pytest.approx(1 / 20, rel=0.05)


def test_farms_switch():
    rng = np.random.default_rng(6)
    W = rng.standard_t(3, size=(600, 150))
    base = es.analyze({"w": W}).iloc[0]
    farms = es.analyze({"w": W}, farms=True, farms_size=50).iloc[0]
    assert bool(farms["farms"]) and farms["farms_num_evals"] > 150
    assert np.isfinite(farms["alpha"]) and farms["alpha"] != base["alpha"]
    # norm metrics stay those of the full matrix
    assert farms["log_norm"] == pytest.approx(base["log_norm"])
    ev, nb = es.farms_eigenvalues(W, size=50, max_blocks=1000)
    # 50x50 windows, 50% overlap: 23 row starts x 5 column starts
    assert nb == 23 * 5 and ev.size == nb * 50


def test_fit_modes_finite_or_reason():
    W = np.random.default_rng(7).standard_t(4, size=(200, 60))
    for kw in ({"fit": "truncated_power_law"}, {"fix_fingers": "clip_xmax"},
               {"finite_size": True}):
        r = es.analyze(W, **kw).iloc[0]
        assert np.isfinite(r["alpha"]) or r["reason"], kw
    tiny = es.analyze(np.eye(8) * 1e-6, min_evals=2).iloc[0]
    assert tiny["status"] == "failed" and tiny["reason"] and tiny["warning"] == "fit failed"


def test_layer_filter_and_summary():
    mats = {f"l{i}.weight": np.random.default_rng(i).normal(size=(50, 30)) for i in range(3)}
    df = es.analyze(mats, layers=r"l[12]")
    assert list(df["name"]) == ["l1.weight", "l2.weight"]
    s = es.summary(df)
    assert s["alpha"] == pytest.approx(df["alpha"].mean())
    assert isinstance(es.skipped_table(df), pd.DataFrame)


def test_activation_metrics():
    rng = np.random.default_rng(8)
    iso = rng.normal(size=(500, 20))
    rank1 = np.outer(rng.normal(size=500), rng.normal(size=20))
    assert es.matrix_entropy(iso) > 0.95
    assert es.matrix_entropy(rank1) == pytest.approx(0.0, abs=1e-9)
    # nuclear norm: exact value from the SVD of the row-normalized matrix
    Zn = iso / np.linalg.norm(iso, axis=1, keepdims=True)
    exact = np.linalg.svd(Zn, compute_uv=False).sum() / 500
    assert es.matrix_nuclear_norm(iso, exact=True) == pytest.approx(exact, rel=1e-12)
    # the L2-column approximation tracks it for isotropic data (within 5%)
    assert es.matrix_nuclear_norm(iso) == pytest.approx(exact, rel=0.05)
    with pytest.raises(ShapeError):
        es.matrix_entropy(np.ones(5))


@pytest.mark.slow
def test_trained_checkpoints_alphas_move():
    cks = es.train_digits_mlp(epochs=15, checkpoints=(0, 15))
    a0 = es.analyze(cks[0].weights)["alpha"].to_numpy()
    a1 = es.analyze(cks[-1].weights)["alpha"].to_numpy()
    assert cks[-1].test_accuracy > 0.9
    # training makes the ESDs heavier-tailed: mean alpha drops
    assert a1.mean() < a0.mean()
