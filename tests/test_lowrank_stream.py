"""Streaming rows into an incremental SVD (lowrank.stream_run) and its "Streaming rows" tab:
every step against a fresh dense SVD of the rows seen."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import wait_until

from workbench.errors import RankError, ShapeError
from workbench.lowrank.stream_run import run_stream


def _decaying(rng, m=160, n=50, q=0.85):
    U = np.linalg.qr(rng.standard_normal((m, n)))[0]
    V = np.linalg.qr(rng.standard_normal((n, n)))[0]
    return (U * q ** np.arange(n)) @ V.T


def test_exactly_low_rank_rows_give_the_fresh_svd():
    """Rank 6 data kept at rank 6: the update is exact (Zha-Simon), so every step's singular
    values equal a fresh SVD's to round-off and the error ratio is 1."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((120, 6)) @ rng.standard_normal((6, 40))
    run = run_stream(A, rank=6, blocks=4)
    assert [s.rows for s in run.steps] == [30, 60, 90, 120]
    for s in run.steps:
        fresh = np.linalg.svd(A[:s.rows], compute_uv=False)[:6]
        np.testing.assert_allclose(s.sv_incremental, fresh, rtol=1e-10)
        np.testing.assert_allclose(s.sv_fresh, fresh, rtol=1e-12)
        assert s.error_ratio == pytest.approx(1.0)


def test_truncated_updates_stay_near_the_optimum_and_never_beat_it():
    """A slowly decaying spectrum kept at rank 10: the first step is the optimum itself; later
    steps carry the truncation of earlier ones, so the ratio is >= 1 (Eckart-Young) and, for
    this decay, within a few percent; the singular values never exceed the fresh ones
    (the incremental factors span a subspace of the rows)."""
    A = _decaying(np.random.default_rng(1))
    run = run_stream(A, rank=10, blocks=5)
    c = run.curve()
    assert c["error_ratio"][0] == pytest.approx(1.0, abs=1e-9)
    assert np.all(c["error_ratio"] >= 1 - 1e-9) and c["error_ratio"].max() < 1.1
    for s in run.steps:
        seen = A[:s.rows]
        sv = np.linalg.svd(seen, compute_uv=False)
        assert s.error_optimal == pytest.approx(
            np.sqrt(np.sum(sv[10:] ** 2)) / np.linalg.norm(seen), rel=1e-10)
        assert np.all(s.sv_incremental <= s.sv_fresh * (1 + 1e-10))
    assert run.at(99) is run.steps[-1] and run.at(-3) is run.steps[0]


def test_bad_requests_name_the_problem():
    A = np.ones((10, 4))
    with pytest.raises(ShapeError, match="blocks"):
        run_stream(A, rank=2, blocks=20)
    with pytest.raises(RankError, match="rank 9"):
        run_stream(A, rank=9, blocks=2)
    with pytest.raises(ShapeError, match="2-D"):
        run_stream(np.ones(5), rank=1, blocks=1)


def test_tab_draws_the_run_and_writes_a_step_in_place():
    """Shown, the tab computes the run of the explorer's matrix; the step slider writes
    that step's singular values into the drawn figure without a new render."""
    pytest.importorskip("panel")
    from workbench.ui.lowrank import LowRankExplorer

    ex = LowRankExplorer(source="synthetic", decay="slow", rank=10)
    ex.view()
    wait_until(lambda: ex.run is not None and not ex.busy, timeout=300,
               what="the explorer's matrix")
    ex._on_tab(type("E", (), {"new": 4})())
    tab = ex.stream
    wait_until(lambda: tab.run is not None and not ex.busy, timeout=300,
               what="the streaming run")
    assert ex.message == ""
    ref = run_stream(ex.run.source.A, tab.run.rank, 8)
    np.testing.assert_allclose(tab.run.curve()["error_ratio"], ref.curve()["error_ratio"])
    renders = (tab.ratio.renders, tab.sv.renders)
    tab.step.value = 3
    assert (tab.ratio.renders, tab.sv.renders) == renders
    data = tab.sv.source("incremental").data
    np.testing.assert_allclose(data[list(data)[1]], ref.at(2).sv_incremental)
    assert [sp.location for sp in tab.ratio.spans()] == [ref.at(2).rows]
