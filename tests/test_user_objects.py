"""Explorers on objects the project does not ship, as a notebook user hands them over:
a torch module of their own with a custom loss, their own points and matrices, weights
without a matrix, and input with NaNs or of the wrong shape (a message in the explorer's
alert, never a traceback). Checked against the rendered figures' data and the topic API.
Also the Cancel button (base.Explorer.cancel) on work that reports progress."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers import wait_until

from workbench.errors import Cancelled

pytestmark = pytest.mark.slow


class TwoTowers(torch.nn.Module):
    """Not a Sequential: two named layers and a skip connection."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(3, 5)
        self.head = torch.nn.Linear(5, 2)

    def forward(self, x):
        return self.head(torch.tanh(self.encoder(x))) + 0.5 * x[:, :2]


def huber_plus_l4(out, target):
    """A custom loss: smooth L1 plus a quartic term (not a torch loss module)."""
    return torch.nn.functional.smooth_l1_loss(out, target) + 0.05 * (out ** 4).mean()


def _user_model():
    torch.manual_seed(3)
    X, y = torch.randn(48, 3), torch.randn(48, 2)
    return TwoTowers(), (X, y)


SMALL = dict(k=4, num_probes=2, num_steps=20, trace_matvecs=20, layer_probes=2,
             layer_steps=12)


def test_hessian_from_model_on_a_user_module_with_a_custom_loss():
    from workbench.hessian.dense import dense_hessian
    from workbench.ui.hessian import HessianExplorer
    from workbench.viz.hessian import density_columns

    model, data = _user_model()
    ex = HessianExplorer.from_model(model, huber_plus_l4, data, **SMALL)
    ex.view()
    wait_until(lambda: ex.runs >= 1 or ex.message, timeout=300, what="the model's spectrum")
    assert ex.message == "" and not ex.busy
    run = ex.result
    # top eigenvalues against the dense Hessian (38 + 12 parameters): Lanczos converged to
    # tol 1e-6 on residuals, so 1e-4 relative on the largest ones is safe
    H = dense_hessian(model, huber_plus_l4, data).numpy()
    exact = np.linalg.eigvalsh(H)[::-1]
    np.testing.assert_allclose(run.spectrum.top_values[:2], exact[:2], rtol=1e-4)
    assert run.spectrum.num_params == H.shape[0] == 32
    # trace: XTrace with 20 products of a 32 x 32 matrix; within 5 standard errors
    assert abs(run.spectrum.trace - np.trace(H)) <= 5 * run.spectrum.trace_std + 1e-6
    # the figures hold the run's numbers: density area, top-k bars, one curve per layer
    view = run.at(ex.broadening)
    area = ex.density.source("0").data
    np.testing.assert_allclose(area["y"], density_columns(view, logy=True)["area"]["y"])
    bars = ex.top.source("0").data
    np.testing.assert_allclose(bars["eigenvalue"], view.top_values)
    assert set(ex.layer_density.names) >= {"encoder", "head"}
    assert list(ex.layer_top.source("0").data["layer"]) == ["encoder", "head"]
    assert all(len(ex.layer_density.source(n).data["density"]) > 10
               for n in ("encoder", "head"))
    # the broadening slider writes new data into the drawn figure, no new render
    renders, before = ex.density.renders, np.array(area["y"])
    ex.broadening = 2.5
    assert ex.density.renders == renders
    after = np.array(ex.density.source("0").data["y"])
    np.testing.assert_allclose(after, density_columns(run.at(2.5), logy=True)["area"]["y"])
    assert not np.allclose(after, before)
    # the download: the density shown
    table = ex.export_data()
    np.testing.assert_allclose(table["density"], run.at(2.5).density)
    np.testing.assert_allclose(table["eigenvalue"], run.at(2.5).grid)


def test_hessian_from_model_bad_loss_is_a_message():
    from workbench.ui.hessian import HessianExplorer

    model, data = _user_model()
    ex = HessianExplorer.from_model(model, lambda out, t: out.no_such_thing, data, **SMALL)
    wait_until(lambda: ex.message, timeout=120, what="the message")
    assert "loss" in ex.message and "Traceback" not in ex.message and ex._alert.visible
    wait_until(lambda: not ex.busy, timeout=60)
    assert ex.result is None


def test_cancel_stops_a_model_run_between_progress_reports():
    """Cancel beside the progress bar: the pending result is dropped, busy clears at once,
    and the work itself stops at its next progress report (Cancelled raised there)."""
    from workbench.ui.hessian import HessianExplorer

    model, data = _user_model()
    ex = HessianExplorer.from_model(model, huber_plus_l4, data, k=8, num_probes=30,
                                    num_steps=32, trace_matvecs=40)
    assert ex.busy and ex._cancel.visible
    ex._cancel.clicks += 1            # the button, as a click in the page
    assert not ex.busy and not ex._cancel.visible and "Cancelled" in ex._status.object
    wait_until(lambda: ex.future.done(), timeout=300, what="the run to stop")
    assert isinstance(ex.future.exception(), Cancelled)
    assert ex.result is None and ex.runs == 0 and ex.message == ""


def test_cancel_drops_the_result_of_work_without_progress_reports():
    from workbench.ui.base import Explorer

    class Bare(Explorer):
        def view(self):
            return None

    gate, got = threading.Event(), []
    ex = Bare()
    fut = ex.run_background(None, lambda: gate.wait(60) and 42, got.append)
    assert ex.busy
    ex.cancel()
    assert not ex.busy
    gate.set()
    wait_until(fut.done, timeout=60)
    fut2 = ex.run_background(None, lambda: 7, got.append)   # the next request is delivered
    wait_until(lambda: fut2.done() and not ex.busy, timeout=60)
    assert got == [7]


def test_clustering_from_data_on_a_users_points():
    from workbench.clustering import KMeans
    from workbench.ui.clustering import ClusteringExplorer

    rng = np.random.default_rng(5)
    centers = np.array([[0, 0, 0, 0], [6, 0, 0, 0], [0, 6, 0, 0]], float)
    y = np.repeat([0, 1, 2], 60)
    X = centers[y] + rng.normal(0, 0.7, (180, 4))
    ex = ClusteringExplorer.from_data(X, y, algorithm="k-means")
    ex.view()
    tab = ex.clusters
    wait_until(lambda: tab.shown >= 1 and not ex.busy, timeout=200, what="the clusters")
    assert ex.message == "" and ex.settings.n_clusters == 3     # k from the labels
    ref = KMeans(3, random_state=0).fit(X).labels_
    np.testing.assert_array_equal(tab.view.labels, ref)
    from bokeh.models import GlyphRenderer

    src = next(r.data_source for r in tab.points.figure.select({"type": GlyphRenderer}))
    np.testing.assert_array_equal(src.data["cluster"], ref)
    assert len(src.data["cluster"]) == 180
    assert tab.view.scores.ari > 0.99   # three well-separated blobs against their labels


@pytest.mark.parametrize("bad,text", [
    (np.where(np.arange(40)[:, None] % 7 == 0, np.nan, np.ones((40, 2))), "NaN"),
    (np.ones(40), "2-D"),
], ids=["nan", "1-D"])
def test_clustering_from_data_refuses_with_a_message(bad, text):
    from workbench.ui.clustering import ClusteringExplorer

    ex = ClusteringExplorer.from_data(bad)
    ex.view()
    assert text in ex.message and ex._alert.visible and not ex.busy
    assert ex.clusters.run is None


@pytest.mark.parametrize("bad,text", [
    (np.where(np.eye(30, 20) > 0, np.nan, 1.0), "NaN"),
    (np.arange(12.0), "2-D"),
], ids=["nan", "1-D"])
def test_lowrank_from_matrix_refuses_with_a_message(bad, text):
    from workbench.ui.lowrank import LowRankExplorer

    ex = LowRankExplorer.from_matrix(bad)
    ex.view()
    assert text in ex.message and ex._alert.visible and not ex.busy and ex.run is None


def test_eigenspectra_from_model_without_2d_weights_is_a_message():
    from workbench.ui.eigenspectra import EigenspectraExplorer

    class OnlyScales(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(16))
            self.norm = torch.nn.LayerNorm(16)

        def forward(self, x):
            return self.norm(x * self.scale)

    ex = EigenspectraExplorer.from_model(OnlyScales(), label="my norm-only model")
    ex.view()
    assert "no weight matrix" in ex.message and "my norm-only model" in ex.message
    assert ex._alert.visible and not ex.busy and ex.run is None
