"""Attributed graphs: the topic run (``workbench.clustering.attributed_run``) against the
exact APIs and a dense SVD, the ``.npz`` graph format (good and bad files), and the
clustering explorer's "Attributed graph" tab without a browser."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import npy_bytes, npz_bytes, object_npy_bytes, wait_until

from workbench.clustering import AttributedSpectralClustering, planted_attributed_graph
from workbench.clustering.attributed_run import (
    AttributedSettings,
    attribute_clustering,
    attributed_npz_bytes,
    read_attributed_npz,
    run_attributed,
    run_uploaded_graph,
)
from workbench.clustering.metrics import ari
from workbench.errors import WorkbenchError


def _small(n=300, k=3, seed=0):
    g = planted_attributed_graph(n, k, 8.0, signal=6.0, n_attributes=60,
                                 attribute_purity=0.5, seed=seed)
    return g.arrays()


def test_attribute_clustering_is_the_dense_coclustering_svd():
    _, X, _ = _small()
    labels, emb = attribute_clustering(X, 3)
    Xd = X.toarray()
    r, c = Xd.sum(1), Xd.sum(0)
    d1 = np.where(r > 0, 1 / np.sqrt(np.where(r > 0, r, 1)), 0.0)
    Xn = d1[:, None] * Xd / np.sqrt(np.where(c > 0, c, 1))[None, :]
    U, s, _ = np.linalg.svd(Xn, full_matrices=False)
    # ARPACK to its default tolerance (machine precision) on a 300 x 60 matrix: 1e-8
    np.testing.assert_allclose(emb.eigenvalues, 1 - s[:3], atol=1e-8)
    assert s[0] == pytest.approx(1.0, abs=1e-12)          # the trivial singular value
    # the same subspace: maps = D1^-1/2 U (columns up to sign); s_2 > s_3 > s_4 here
    assert s[2] - s[3] > 1e-3
    for j in range(3):
        ref = d1 * U[:, j]
        cos = abs(ref @ emb.maps[:, j]) / np.linalg.norm(ref) / np.linalg.norm(emb.maps[:, j])
        assert cos == pytest.approx(1.0, abs=1e-8)
    assert labels.shape == (300,) and set(np.unique(labels)) <= {0, 1, 2}


def test_run_equals_the_exact_api_and_attributes_help():
    s = AttributedSettings(att_n=500, att_k=3, structure=1.2, purity=0.4)
    run = run_attributed(s)
    from workbench.clustering.datasets import sbm_threshold

    g = planted_attributed_graph(500, 3, 8.0, signal=1.2 * sbm_threshold(3, 8.0),
                                 attribute_purity=0.4, seed=0)
    A, X, y = g.arrays()
    np.testing.assert_array_equal(run.truth, y)
    for method, w in (("attributed", 1.0), ("structure", 0.0)):
        labels = AttributedSpectralClustering(3, attribute_weight=w).fit(A, X).labels_
        np.testing.assert_array_equal(run.labels[method], labels)
        assert run.ari[method] == ari(y, labels)
    np.testing.assert_array_equal(run.labels["attributes"], attribute_clustering(X, 3)[0])
    # the planted case of the tab: edges and attributes together beat either alone
    assert run.ari["attributed"] > max(run.ari["structure"], run.ari["attributes"]) + 0.1
    v = run.at("structure", "truth")
    np.testing.assert_array_equal(v.labels, y)
    np.testing.assert_array_equal(v.xy, run.embeddings["structure"].maps[:, 1:3])
    assert list(run.table()["ARI"]) == [run.ari[m] for m in run.labels]


def test_npz_round_trip_and_run():
    A, X, y = _small()
    data = attributed_npz_bytes(A, X, y)
    A2, X2, y2 = read_attributed_npz(data, "g.npz")
    assert (A2 != A).nnz == 0 and (X2 != X).nnz == 0
    np.testing.assert_array_equal(y2, y)
    run = run_uploaded_graph(data, "g.npz", 3)
    assert run.n_vertices == 300 and run.ari["attributed"] > 0.5
    dense = npz_bytes(adjacency=A.toarray(), attributes=X.toarray())
    A3, X3, y3 = read_attributed_npz(dense, "dense.npz")
    assert (A3 != A).nnz == 0 and y3 is None
    assert run_uploaded_graph(dense, "dense.npz", 3).ari["attributed"] is None


def _members(A, X, y=None, **change):
    buf = {}
    for prefix, M in (("adjacency", A), ("attributes", X)):
        buf[f"{prefix}_indptr"] = M.indptr.astype(np.int64)
        buf[f"{prefix}_indices"] = M.indices.astype(np.int64)
        buf[f"{prefix}_data"] = M.data
    buf["attributes_shape"] = np.array(X.shape)
    if y is not None:
        buf["labels"] = y
    buf.update(change)
    return npz_bytes(**{k: v for k, v in buf.items() if v is not None})


def _bad_files():
    A, X, y = _small(60, 2)
    skew = sp.csr_matrix(A.toarray() + np.triu(np.ones((60, 60)), 1))
    return [
        (object_npy_bytes(), "pickle"),
        (npy_bytes(np.eye(4)), "an attributed graph needs"),
        (_members(A, X, adjacency_data=None), "lacks"),
        (_members(A, X, adjacency_indptr=A.indptr[:-1].astype(np.int64)), "attributes_shape"),
        (_members(A, X, adjacency_indices=A.indices.astype(np.int64) + 100), "indices"),
        (_members(A, X, attributes_shape=np.array([61, X.shape[1]])), "attributes_shape"),
        (_members(A, X, labels=np.zeros(5, dtype=np.int64)), "labels"),
        (_members(skew, X), "not symmetric"),
        (_members(A, X, adjacency_data=-A.data), "negative"),
        (b"PK\x03\x04 broken zip", "not a valid .npz"),
    ]


@pytest.mark.parametrize("i", range(10))
def test_bad_graph_files_name_the_problem(i):
    data, match = _bad_files()[i]
    with pytest.raises(WorkbenchError, match=match) as info:
        read_attributed_npz(data, "g.npz")
    assert len(str(info.value)) > 10


# ---------------------------------------------------------------- the tab
pytest.importorskip("panel")


def _wait(ex, timeout: float = 300.0) -> None:
    from workbench import jobs as base

    wait_until(lambda: ex._pending == 0 and not base._INFLIGHT, timeout=timeout,
               what="the explorer's background work")


@pytest.fixture(scope="module")
def ex():
    from workbench.ui.clustering import ClusteringExplorer

    e = ClusteringExplorer(dataset="blobs", n_samples=500)
    e.view()
    _wait(e)
    e.attributed.settings.param.update(att_n=500, att_k=3)
    e.attributed.request()
    _wait(e)
    return e


def test_tab_writes_the_view_into_the_scatter(ex):
    tab = ex.attributed
    assert ex.message == "" and tab.run is not None
    run = tab.run
    np.testing.assert_array_equal(
        tab.run.labels["attributed"],
        run_attributed(AttributedSettings(att_n=500, att_k=3)).labels["attributed"])
    renders = tab.scatter.renders
    tab.param.update(method="structure", color="truth")      # cheap: no new render
    assert tab.scatter.renders == renders
    src = tab.scatter.source(tab.scatter.names[0]).data
    view = run.at("structure", "truth")
    np.testing.assert_array_equal(src["x"], view.xy[:, 0])
    np.testing.assert_array_equal(src["cluster"], run.truth)
    assert "planted groups" in tab.scatter.figure.title.text
    assert f"{run.ari['attributed']:.3f}" in tab.info.object
    tab.param.update(method="attributed", color="clusters")
    src = tab.scatter.source(tab.scatter.names[0]).data
    np.testing.assert_array_equal(src["cluster"], run.labels["attributed"])


def test_tab_costly_slider_recomputes(ex):
    tab = ex.attributed
    tab.settings.purity = 0.6
    _wait(ex)
    assert ex.message == ""
    assert tab.run.key == AttributedSettings(att_n=500, att_k=3, purity=0.6).key()


def test_tab_bad_upload_is_a_message(ex):
    tab = ex.attributed
    shown = tab.run
    ex.clear_error()
    tab.upload_widget.filename = "graph.npz"
    tab.upload_widget.value = npy_bytes(np.eye(4))
    _wait(ex)
    assert "an attributed graph needs" in ex.message
    assert tab.run is shown
    A, X, y = _small(200, 3)
    tab.upload_widget.filename = "good.npz"
    tab.upload_widget.value = attributed_npz_bytes(A, X, y)
    _wait(ex)
    assert tab.run.n_vertices == 200 and "good.npz" in tab.info.object
