"""Attributed-graph spectral clustering: AMG eigenpairs against dense eigh, and attributes
plus edges beating either alone on a planted graph."""

import numpy as np
import pytest
import scipy.sparse as sp

from workbench.clustering.attributed import (
    AttributedSpectralClustering,
    attributed_embedding,
    augmented_graph,
    planted_attributed_graph,
)
from workbench.clustering.datasets import sbm_threshold
from workbench.clustering.metrics import ari
from workbench.errors import InputFormatError, NonFiniteError, ShapeError


def test_augmented_graph_layout():
    A = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    X = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0]], dtype=float))
    g = augmented_graph(A, X, attribute_weight=0.5)
    assert list(g.params["attributes"]) == [0, 2]  # attribute 1 is carried by nobody
    W = g.W.toarray()
    assert W.shape == (5, 5) and np.allclose(W, W.T)
    assert np.allclose(W[:3, :3], A.toarray())
    assert np.allclose(W[:3, 3:], 0.5 * X.toarray()[:, [0, 2]])
    assert np.allclose(W[3:, 3:], 0)


def test_amg_eigenpairs_match_dense_eigh():
    g = planted_attributed_graph(300, 3, 10.0, n_attributes=40, attributes_per_vertex=5,
                                 attribute_purity=0.5, seed=2)
    A, X, _ = g.arrays()
    emb = attributed_embedding(A, X, 6, solver="amg", tol=1e-8, max_iter=300)
    W = augmented_graph(A, X).W.toarray()
    d = W.sum(1)
    L = np.eye(len(d)) - W / np.sqrt(d)[:, None] / np.sqrt(d)[None, :]
    vals, vecs = np.linalg.eigh(L)
    # LOBPCG stops at residual 1e-8; eigenvalue errors are ~residual^2 / gap, far below
    # 1e-7; eigenvectors of simple eigenvalues agree to ~residual / gap (gaps here > 1e-2)
    assert emb.converged
    assert np.allclose(emb.eigenvalues, vals[:6], atol=1e-7)
    n = A.shape[0]
    exact_maps = vecs[:, :6] / np.sqrt(d)[:, None]
    for j in range(1, 6):
        a, b = emb.maps[:, j], exact_maps[:n, j]
        cos = abs(a @ b) / np.linalg.norm(a) / np.linalg.norm(b)
        assert cos > 1 - 1e-6
    dense = attributed_embedding(A, X, 6, solver="dense")
    assert np.allclose(dense.eigenvalues, vals[:6], atol=1e-10)


@pytest.mark.slow
def test_edges_and_attributes_together_beat_either_alone():
    md = 12.0
    g = planted_attributed_graph(2000, 4, md, signal=1.6 * sbm_threshold(4, md),
                                 n_attributes=200, attributes_per_vertex=10,
                                 attribute_purity=0.3, seed=0)
    A, X, y = g.arrays()
    both = ari(y, AttributedSpectralClustering(4).fit(A, X).labels_)
    edges = ari(y, AttributedSpectralClustering(4, attribute_weight=0.0).fit(A, X).labels_)
    attrs = ari(y, AttributedSpectralClustering(4).fit(sp.identity(A.shape[0]), X).labels_)
    # measured: 0.87 together, 0.69 edges only, 0.16 attributes only (seed 0)
    assert both > edges + 0.1 and both > attrs + 0.1, (both, edges, attrs)


def test_bad_input_is_named():
    A = sp.identity(4, format="csr")
    with pytest.raises(ShapeError, match="rows"):
        augmented_graph(A, np.ones((3, 2)))
    with pytest.raises(ShapeError, match="square"):
        augmented_graph(np.ones((3, 4)), np.ones((3, 2)))
    with pytest.raises(InputFormatError, match="symmetric"):
        augmented_graph(np.triu(np.ones((4, 4))), np.ones((4, 2)))
    with pytest.raises(InputFormatError, match="negative"):
        augmented_graph(A, -np.ones((4, 2)))
    X = np.ones((4, 2))
    X[0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        augmented_graph(A, X)
