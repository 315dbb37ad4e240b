"""Fine-tuning updates: the topic run (``workbench.lowrank.update_run``) against the exact
APIs and dense SVDs, LoRA uploads (good and bad), and the explorer's "Fine-tuning updates"
tab without a browser (figure sources after a slider move, a bad upload is a message)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import npy_bytes, object_npy_bytes, wait_until

from workbench.errors import WorkbenchError
from workbench.lowrank import update_spectra, weight_updates
from workbench.lowrank.update_run import (
    UpdateSettings,
    run_updates,
    updates_from,
    updates_from_upload,
)


def _lora_bytes(rng, names=("q", "v"), m=30, n=20, r=3, **extra) -> tuple[bytes, dict]:
    from safetensors.numpy import save

    arrays = {}
    for name in names:
        arrays[f"{name}.lora_A.weight"] = rng.standard_normal((r, n)).astype(np.float32)
        arrays[f"{name}.lora_B.weight"] = rng.standard_normal((m, r)).astype(np.float32)
    arrays.update(extra)
    return save(arrays), arrays


# ---------------------------------------------------------------- the topic run
def test_run_at_equals_the_exact_spectra():
    rng = np.random.default_rng(0)
    # dW of exact rank 5 with singular values 5, 4, 3, 2, 1
    U, _ = np.linalg.qr(rng.standard_normal((40, 5)))
    V, _ = np.linalg.qr(rng.standard_normal((30, 5)))
    s = np.array([5.0, 4, 3, 2, 1])
    before = {"w": rng.standard_normal((40, 30)), "b": rng.standard_normal(40)}
    after = {"w": before["w"] + (U * s) @ V.T, "b": before["b"]}
    run = updates_from(weight_updates(before, after), "toy")
    assert run.layers == ["w"]                      # 1-D biases are not updates
    v = run.at("w", rank=2, energy=0.8)
    total = (s**2).sum()
    # exact values from s; float64 SVD of a 40 x 30 matrix: 1e-12 relative is ample
    np.testing.assert_allclose(v.singular_values[:5], s, rtol=1e-12)
    assert np.all(v.singular_values[5:] < 1e-12)
    assert v.energy_at_rank == pytest.approx((25 + 16) / total, rel=1e-12)
    assert v.error_at_rank == pytest.approx(np.sqrt((9 + 4 + 1) / total), rel=1e-10)
    # smallest r with energy >= 0.8: 25+16+9 = 50/55 = 0.909 at r = 3, 41/55 = 0.745 at 2
    assert v.rank_for_energy == 3
    assert run.at("w", rank=1, energy=0.7).rank_for_energy == 2
    assert run.at("w", rank=99).rank == 30          # clipped to the number of s_i
    assert run.at("w", rank=99).error_at_rank == 0.0
    # the run's table is update_spectra's table
    table, _ = update_spectra(weight_updates(before, after), energy=0.8)
    np.testing.assert_array_equal(v.table["rank_for_energy"], table["rank_for_energy"])
    with pytest.raises(WorkbenchError, match="no layer"):
        run.at("nope", 1)


@pytest.mark.slow
def test_run_updates_of_the_shipped_mlp_equals_update_spectra():
    from workbench.eigenspectra.sources import mlp_checkpoints

    run = run_updates(UpdateSettings(before=5, after=60))
    cks = {c.epoch: c for c in mlp_checkpoints()}
    table, spectra = update_spectra(weight_updates(cks[5].weights, cks[60].weights))
    assert run.layers == list(spectra) == ["0.weight", "2.weight", "4.weight"]
    for name in run.layers:
        v = run.at(name, rank=3, energy=0.9)
        dW = cks[60].weights[name].astype(np.float64) - cks[5].weights[name]
        s = np.linalg.svd(dW, compute_uv=False)
        np.testing.assert_allclose(v.singular_values, s, rtol=1e-10, atol=1e-12)
        assert v.rank_for_energy == spectra[name].rank_for(0.9)
        assert v.error_at_rank == pytest.approx(spectra[name].error_curve[3], rel=1e-12)
    with pytest.raises(WorkbenchError, match="two different checkpoints"):
        run_updates(UpdateSettings(before=60, after=60))


def test_lora_upload_equals_the_dense_product():
    rng = np.random.default_rng(1)
    data, arrays = _lora_bytes(rng)
    run = updates_from_upload(data, "adapter.safetensors", alpha=6.0)
    assert sorted(run.layers) == ["q", "v"]
    for name in ("q", "v"):
        A = arrays[f"{name}.lora_A.weight"].astype(np.float64)
        B = arrays[f"{name}.lora_B.weight"].astype(np.float64)
        s = np.linalg.svd(6.0 / 3 * B @ A, compute_uv=False)[:3]
        v = run.at(name, rank=3)
        # QR-core route vs the dense product's SVD: both backward stable, 1e-10
        np.testing.assert_allclose(v.singular_values, s, rtol=1e-10)
        assert v.lora_rank == 3 and v.error_at_rank == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("data, name, match", [
    (b"not a file at all", "a.safetensors", "not a valid safetensors"),
    (object_npy_bytes(), "a.npy", "pickle"),
    (npy_bytes(np.ones((4, 4))), "a.npy", "no LoRA pair"),
])
def test_bad_lora_uploads_name_the_problem(data, name, match):
    with pytest.raises(WorkbenchError, match=match) as info:
        updates_from_upload(data, name)
    assert str(info.value)


def test_lora_factors_that_do_not_chain_are_refused():
    from safetensors.numpy import save

    data = save({"q.lora_A.weight": np.ones((3, 5), np.float32),
                 "q.lora_B.weight": np.ones((7, 4), np.float32)})
    with pytest.raises(WorkbenchError, match="do not chain"):
        updates_from_upload(data, "bad.safetensors")


# ---------------------------------------------------------------- the tab
pytest.importorskip("panel")


def _wait(ex, timeout: float = 300.0) -> None:
    from workbench import jobs as base

    def idle():
        return ex._pending == 0 and not base._INFLIGHT

    wait_until(idle, timeout=timeout, what="the explorer's background work")


@pytest.fixture(scope="module")
def ex():
    from workbench.ui.lowrank import LowRankExplorer

    e = LowRankExplorer(source="synthetic", decay="fast")
    _wait(e)
    return e


def _upload(tab, name, data):
    tab.upload_widget.filename = name
    tab.upload_widget.value = data


def test_tab_writes_run_at_into_its_figures(ex):
    tab = ex.updates
    rng = np.random.default_rng(2)
    data, _ = _lora_bytes(rng, m=40, n=25, r=4)
    _upload(tab, "adapter.safetensors", data)
    _wait(ex)
    assert ex.message == "" and tab.run is not None
    renders = (tab.sv.renders, tab.energy.renders, tab.error.renders)
    tab.settings.param.update(layer="v", update_rank=2, energy=0.95)     # cheap moves
    assert (tab.sv.renders, tab.energy.renders, tab.error.renders) == renders
    view = tab.run.at("v", 2, 0.95)
    kept = tab.sv.source("kept").data
    np.testing.assert_allclose(kept[list(kept)[1]], view.singular_values[:2])
    err = tab.error.source("optimum").data
    np.testing.assert_allclose(err[list(err)[1]], view.error_curve)
    at = tab.energy.source("at r").data
    assert list(at[list(at)[1]]) == [pytest.approx(view.energy_at_rank)]
    assert [sp.location for sp in tab.energy.spans("width")] == [0.95]
    assert {sp.location for sp in tab.energy.spans("height")} == {2, view.rank_for_energy}
    assert {sp.location for sp in tab.sv.spans("height")} == \
        {2.5, view.rank_for_energy + 0.5}
    assert f"rank **{view.rank_for_energy}**" in tab.status.object


def test_tab_bad_upload_is_a_message_and_the_view_stays(ex):
    tab = ex.updates
    if tab.run is None:
        _upload(tab, "adapter.safetensors", _lora_bytes(np.random.default_rng(3))[0])
        _wait(ex)
    shown = tab.run
    ex.clear_error()
    _upload(tab, "weights.npy", npy_bytes(np.ones((5, 5))))
    _wait(ex)
    assert "no LoRA pair" in ex.message
    assert tab.run is shown and tab._upload[1] == "adapter.safetensors"   # not kept
    tab.settings.update_rank = 1                 # the sliders still draw
    kept = tab.sv.source("kept").data
    assert len(kept[list(kept)[0]]) == 1


@pytest.mark.slow
def test_tab_on_the_shipped_checkpoints(ex):
    tab = ex.updates
    tab.settings.param.update(before=0, after=60)
    tab.use_checkpoints()                          # after the uploads of the tests above
    _wait(ex)
    assert ex.message == ""
    assert tab.run.label.startswith("digits MLP") and tab.layer_widget.options == \
        ["0.weight", "2.weight", "4.weight"]
    tab.layer_widget.value = "2.weight"
    tab.settings.update_rank = 5
    view = run_updates(UpdateSettings(before=0, after=60)).at("2.weight", 5, tab.settings.energy)
    kept = tab.sv.source("kept").data
    np.testing.assert_allclose(kept[list(kept)[1]], view.singular_values[:5], rtol=1e-12)


def test_a_safetensors_header_length_starting_like_a_pickle_is_read():
    """A header of 0x128 bytes: the file starts with b"(" (protocol-0 pickle's MARK)."""
    import json

    from helpers import raw_safetensors

    from workbench.io import read_upload

    payload = np.arange(6, dtype="<f4").tobytes()
    header = {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "__metadata__": {"p": ""}}
    header["__metadata__"]["p"] = "x" * (0x128 - len(json.dumps(header).encode()))
    data = raw_safetensors(header, payload)
    assert data[:1] == b"("
    np.testing.assert_array_equal(read_upload(data, "w.safetensors")["w"],
                                  np.arange(6.0).reshape(2, 3))


def _fuzz_files():
    import pickle

    from helpers import npz_bytes, raw_safetensors, zip_claiming

    rng = np.random.default_rng(18)
    good = npy_bytes(np.arange(1200.0).reshape(40, 30) / 7)
    return [("random-bytes.npy", rng.bytes(3000)), ("truncated.npy", good[:len(good) // 2]),
            ("bomb.npz", zip_claiming(100 * 10**9)),
            ("lying.safetensors", raw_safetensors(
                {"w": {"dtype": "F32", "shape": [40, 30], "data_offsets": [0, 480000]}},
                np.ones((40, 30), np.float32).tobytes())),
            ("complex.npy", npy_bytes(np.ones((40, 30)) * (1 + 2j))),
            ("pickled.npy", pickle.dumps({"w": np.ones((40, 30))})),
            ("five-d.npz", npz_bytes(five=np.ones((2, 2, 2, 2, 2)))),
            ("huge.npy", npy_bytes(np.full((40, 30), 1e308))),
            ("empty.safetensors", b"")]


@pytest.mark.parametrize("name, data", _fuzz_files(), ids=[n for n, _ in _fuzz_files()])
def test_fuzzed_adapter_and_graph_files_are_refused_with_a_message(name, data):
    """The fuzz files of the browser test, through both new upload readers."""
    from workbench.clustering.attributed_run import read_attributed_npz

    for read in (updates_from_upload, read_attributed_npz):
        with pytest.raises(WorkbenchError) as info:
            read(data, name)
        assert str(info.value) and "Traceback" not in str(info.value)
