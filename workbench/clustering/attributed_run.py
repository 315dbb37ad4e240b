"""The topic run behind the "Attributed graph" tab: one attributed graph (planted, or read
from an uploaded ``.npz``) clustered three ways, computed once, and cheap views.

    run = run_attributed(AttributedSettings(structure=1.2, purity=0.4))
    run.ari                      # {"attributed": .., "structure": .., "attributes": ..}
    view = run.at(method="attributed", color="truth")    # embedding + labels to draw

The three clusterings of the n graph vertices into k groups:

- ``attributed``: :class:`AttributedSpectralClustering` (augmented graph, LOBPCG + pyamg)
  with ``attribute_weight``;
- ``structure``: the same with attribute weight 0 (edges only);
- ``attributes``: :func:`attribute_clustering`, spectral co-clustering of the
  vertex-attribute bipartite graph alone (no edges).

The graph file format (``.npz``, written by :func:`save_attributed_npz`, read by
:func:`read_attributed_npz` through :func:`workbench.io.read_upload`; no pickles): the
n x n adjacency and the n x a attribute matrix in CSR form,

    adjacency_indptr (n + 1,)  adjacency_indices (nnz,)  adjacency_data (nnz,)
    attributes_indptr (n + 1,) attributes_indices (nnz,) attributes_data (nnz,)
    attributes_shape (2,) = (n, a)                       labels (n,)  optional, integers

(the same members as ``scipy.sparse.save_npz`` with a prefix; ``adjacency`` (n x n) and
``attributes`` (n x a) as dense arrays are accepted too, for small graphs).
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field

import numpy as np
import param
import scipy.sparse as sp

from workbench.clustering.attributed import (
    AttributedSpectralClustering,
    _check,
    planted_attributed_graph,
)
from workbench.clustering.spectral import SpectralEmbedding, assign_labels
from workbench.errors import InputFormatError, RankError, ShapeError
from workbench.io import UPLOAD_MAX_BYTES

__all__ = ["ATTRIBUTED_METHODS", "AttributedRun", "AttributedSettings", "AttributedView",
           "attributed_npz_bytes", "run_uploaded_graph",
           "UPLOAD_MAX_VERTICES", "upload_key", "attribute_clustering", "read_attributed_npz",
           "run_attributed", "save_attributed_npz"]

ATTRIBUTED_METHODS = {"attributed": "edges + attributes",
                      "structure": "edges only", "attributes": "attributes only"}
UPLOAD_MAX_VERTICES = 200_000


class AttributedSettings(param.Parameterized):
    """The planted attributed graph and the clustering (every field costly: a new graph
    and three clusterings)."""

    att_n = param.Selector(default=1000, objects=[500, 1000, 2000, 5000],
                           doc="Vertices n", label="Vertices")
    att_k = param.Integer(default=4, bounds=(2, 8), doc="Planted groups k",
                          label="Groups k")
    structure = param.Number(default=1.2, bounds=(0.0, 3.0), step=0.1,
                             doc="Edge signal a - b, in multiples of the detectability "
                                 "threshold k sqrt(mean degree)",
                             label="Edge signal (× detectability threshold)")
    purity = param.Number(default=0.4, bounds=(0.0, 1.0), step=0.05,
                          doc="Attribute signal: fraction of a vertex's attributes drawn "
                              "from its own group's", label="Attribute signal (purity)")
    attribute_weight = param.Number(default=1.0, bounds=(0.0, 5.0), step=0.1,
                                    doc="Weight of an attribute edge against a graph edge",
                                    label="Attribute weight")
    att_seed = param.Integer(default=0, bounds=(0, 99), doc="Seed", label="Seed")

    def copy(self) -> AttributedSettings:
        return type(self)(**{k: v for k, v in self.param.values().items() if k != "name"})

    def key(self) -> tuple:
        return ("attributed", int(self.att_n), int(self.att_k), round(float(self.structure), 3),
                round(float(self.purity), 3), round(float(self.attribute_weight), 3),
                int(self.att_seed))


@dataclass(frozen=True)
class AttributedView:
    """What the scatter draws: the embedding's two coordinates (eigenvectors 2 and 3),
    the labels it is coloured by, and the numbers."""

    method: str
    color: str                      # "clusters" or "truth"
    xy: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    ari: float | None               # of this method's clusters (None without truth)


@dataclass(frozen=True)
class AttributedRun:
    """An attributed graph clustered three ways: ``labels`` and ``embeddings`` by method
    (``ATTRIBUTED_METHODS``), ``truth`` (None when the graph has none), ``ari`` by method
    (None values without truth), ``seconds`` by method, the graph's sizes and its name."""

    labels: dict = field(repr=False)
    embeddings: dict = field(repr=False)
    truth: np.ndarray | None = field(repr=False)
    ari: dict
    seconds: dict
    n_vertices: int
    n_attributes: int
    n_edges: int
    n_clusters: int
    name: str
    key: tuple

    def at(self, method: str = "attributed", color: str = "clusters") -> AttributedView:
        """The embedding of `method` coloured by its clusters or by the truth. Cost: O(n)
        (a column copy), no new clustering."""
        if method not in self.labels:
            raise InputFormatError(f"unknown method {method!r}: choose one of "
                                   f"{list(ATTRIBUTED_METHODS)}")
        maps = self.embeddings[method].maps
        j = min(2, maps.shape[1] - 1)
        xy = np.column_stack([maps[:, min(1, j)], maps[:, j]])
        if color == "truth" and self.truth is None:
            color = "clusters"
        labels = self.truth if color == "truth" else self.labels[method]
        return AttributedView(method, color, xy, np.asarray(labels), self.ari[method])

    def table(self):
        """One row a method: ARI against the truth and seconds (pandas)."""
        import pandas as pd

        return pd.DataFrame([{"method": ATTRIBUTED_METHODS[m], "ARI": self.ari[m],
                              "seconds": self.seconds[m]} for m in ATTRIBUTED_METHODS])


def attribute_clustering(attributes, n_clusters: int, seed: int = 0):
    """Spectral co-clustering of the vertex-attribute bipartite graph alone (Dhillon 2001):
    the top `n_clusters` left singular vectors of D1^-1/2 X D2^-1/2 (D1, D2: row and
    column sums), scaled by D1^-1/2 (vertices without attributes: zero rows), then k-means.
    Equals the Laplacian embedding of the bipartite graph on the vertex side (eigenvalues
    1 - s). Returns (labels, SpectralEmbedding). Cost: a sparse truncated SVD (ARPACK),
    O(nnz(X) k) per step, and k-means."""
    t0 = time.perf_counter()
    X = sp.csr_matrix(attributes, dtype=np.float64)
    k = int(n_clusters)
    r1 = np.asarray(X.sum(axis=1)).ravel()
    c1 = np.asarray(X.sum(axis=0)).ravel()
    d1 = np.divide(1.0, np.sqrt(r1), out=np.zeros_like(r1), where=r1 > 0)
    d2 = np.divide(1.0, np.sqrt(c1), out=np.zeros_like(c1), where=c1 > 0)
    Xn = sp.diags(d1) @ X @ sp.diags(d2)
    if not 1 <= k <= min(X.shape):
        raise RankError(f"n_clusters={k} needs at least {k} vertices and attributes; the "
                        f"attribute matrix is {X.shape[0]} x {X.shape[1]}")
    if k < min(X.shape) - 1 and min(X.shape) > 50:
        from scipy.sparse.linalg import svds

        U, s, _ = svds(Xn, k=k, random_state=seed)
        order = np.argsort(s)[::-1]
        U, s = U[:, order], s[order]
    else:
        U, s, _ = np.linalg.svd(Xn.toarray(), full_matrices=False)
        U, s = U[:, :k], s[:k]
    maps = U * d1[:, None]
    # a sign per column (largest entry positive), as the other embeddings
    maps *= np.where(maps[np.abs(maps).argmax(axis=0), range(k)] < 0, -1.0, 1.0)
    emb = SpectralEmbedding(1.0 - s, maps, 1, 0, True, time.perf_counter() - t0)
    return assign_labels(emb, k, "kmeans", seed=seed), emb


def _cluster3(A, X, k: int, weight: float, seed: int):
    from workbench.clustering.metrics import ari  # noqa: F401 - imported by the caller too

    out, secs = {}, {}
    for method, w in (("attributed", weight), ("structure", 0.0)):
        t0 = time.perf_counter()
        model = AttributedSpectralClustering(k, attribute_weight=w, seed=seed).fit(A, X)
        out[method] = (model.labels_, model.embedding_)
        secs[method] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["attributes"] = attribute_clustering(X, k, seed)
    secs["attributes"] = time.perf_counter() - t0
    return out, secs


def _run(A, X, truth, k: int, weight: float, seed: int, name: str, key) -> AttributedRun:
    from workbench.clustering.metrics import ari

    A, X = _check(A, X)
    n = A.shape[0]
    if not 2 <= k < n:
        raise RankError(f"k={k} groups is out of range for a graph of {n} vertices")
    out, secs = _cluster3(A, X, k, weight, seed)
    labels = {m: np.asarray(v[0]) for m, v in out.items()}
    embs = {m: v[1] for m, v in out.items()}
    scores = {m: (ari(truth, lab) if truth is not None else None)
              for m, lab in labels.items()}
    edges = int((A.nnz - A.diagonal().astype(bool).sum()) // 2)
    return AttributedRun(labels, embs, truth, scores, secs, n, X.shape[1], edges, k, name,
                         key)


def run_attributed(settings: AttributedSettings | None = None) -> AttributedRun:
    """The planted attributed graph of `settings` clustered three ways. Cost: the graph
    O(n (c + attributes)), two AMG-LOBPCG embeddings and one sparse SVD (about a second for
    n = 1000 on one core), three k-means."""
    from workbench.clustering.datasets import sbm_threshold

    s = settings or AttributedSettings()
    n, k, degree = int(s.att_n), int(s.att_k), 8.0
    g = planted_attributed_graph(n, k, degree, signal=float(s.structure) * sbm_threshold(k, degree),
                                 attribute_purity=float(s.purity), seed=int(s.att_seed))
    A, X, y = g.arrays()
    return _run(A, X, y, k, float(s.attribute_weight), int(s.att_seed),
                f"planted: {n:,} vertices, {k} groups", s.key())


# ------------------------------------------------------------------ the .npz format
def save_attributed_npz(file, adjacency, attributes, labels=None) -> None:
    """Write an attributed graph in the format of the module docstring (`file`: a path or
    a binary file object). Cost: O(nnz)."""
    A, X = _check(adjacency, attributes)
    members = {}
    for prefix, M in (("adjacency", A), ("attributes", X)):
        members[f"{prefix}_indptr"] = M.indptr.astype(np.int64)
        members[f"{prefix}_indices"] = M.indices.astype(np.int64)
        members[f"{prefix}_data"] = M.data
    members["attributes_shape"] = np.array(X.shape, dtype=np.int64)
    if labels is not None:
        members["labels"] = np.asarray(labels, dtype=np.int64)
    np.savez_compressed(file, **members)


def _csr(arrays: dict, prefix: str, shape: tuple[int, int], what: str) -> sp.csr_matrix:
    names = [f"{prefix}_{p}" for p in ("indptr", "indices", "data")]
    missing = [m for m in names if m not in arrays]
    if missing:
        raise InputFormatError(f"{what}: the file lacks {missing}")
    indptr, indices, data = (np.asarray(arrays[m]).ravel() for m in names)
    n, m = shape
    if indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        raise InputFormatError(f"{what}: {names[0]} and {names[1]} must hold integers")
    if len(indptr) != n + 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0) \
            or indptr[-1] != len(indices) or len(indices) != len(data):
        raise InputFormatError(
            f"{what}: not a valid CSR matrix (need {names[0]} of length {n + 1}, starting at "
            f"0, non-decreasing, ending at len({names[1]}) = len({names[2]}); got lengths "
            f"{len(indptr)}, {len(indices)}, {len(data)})")
    if len(indices) and (indices.min() < 0 or indices.max() >= m):
        raise InputFormatError(f"{what}: column indices must be in 0..{m - 1}")
    return sp.csr_matrix((data.astype(np.float64), indices, indptr), shape=(n, m))


def read_attributed_npz(data, filename: str | None = None, *,
                        max_bytes: int = UPLOAD_MAX_BYTES,
                        max_vertices: int = UPLOAD_MAX_VERTICES):
    """(adjacency CSR, attributes CSR, labels or None) of an uploaded graph file (format:
    the module docstring), read through :func:`workbench.io.read_upload` (pickles, damaged
    files, NaN/inf refused there). Every other problem — missing members, a broken CSR,
    shapes that disagree, a non-symmetric or negative adjacency, too many vertices — raises
    a WorkbenchError naming it. Cost: one read and O(nnz) checks."""
    from workbench.io import read_upload

    what = filename or "the uploaded graph"
    arrays = read_upload(data, filename, max_bytes=max_bytes)
    if "adjacency" in arrays and "attributes" in arrays:                 # dense, small
        A, X = arrays["adjacency"], arrays["attributes"]
        if A.ndim != 2 or X.ndim != 2:
            raise ShapeError(f"{what}: adjacency and attributes must be matrices, got "
                             f"shapes {A.shape} and {X.shape}")
        n = A.shape[0]
    else:
        if "adjacency_indptr" not in arrays:
            raise InputFormatError(
                f"{what} holds {sorted(arrays)[:6]}; an attributed graph needs "
                "adjacency_indptr / _indices / _data, attributes_indptr / _indices / _data "
                "and attributes_shape (or dense 'adjacency' and 'attributes')")
        n = len(np.ravel(arrays["adjacency_indptr"])) - 1
        shape = np.ravel(arrays.get("attributes_shape", np.zeros(0)))
        if shape.size != 2 or int(shape[0]) != n or shape[1] < 1:
            raise ShapeError(f"{what}: attributes_shape must be (n, a) with n = {n} "
                             f"vertices; got {shape.tolist()}")
        if n > max_vertices:
            raise ShapeError(f"{what} has {n:,} vertices; the dashboard takes at most "
                             f"{max_vertices:,} (use the API for larger graphs)")
        A = _csr(arrays, "adjacency", (n, n), what)
        X = _csr(arrays, "attributes", (n, int(shape[1])), what)
    if n > max_vertices:
        raise ShapeError(f"{what} has {n:,} vertices; the dashboard takes at most "
                         f"{max_vertices:,}")
    labels = arrays.get("labels")
    if labels is not None:
        labels = np.ravel(labels)
        if len(labels) != n or labels.dtype.kind not in "iu":
            raise ShapeError(f"{what}: labels must be {n} integers (one per vertex), got "
                             f"{len(labels)} of dtype {labels.dtype}")
    try:
        A, X = _check(A, X)
    except (InputFormatError, ShapeError) as exc:
        raise type(exc)(f"{what}: {exc}") from None
    return A, X, labels


def run_uploaded_graph(data, filename: str | None, n_clusters: int,
                       attribute_weight: float = 1.0, seed: int = 0) -> AttributedRun:
    """An AttributedRun of an uploaded graph (:func:`read_attributed_npz`), k groups (ARI
    only when the file has ``labels``). Cost: as :func:`run_attributed`."""
    A, X, labels = read_attributed_npz(data, filename)
    return _run(A, X, labels, int(n_clusters), float(attribute_weight), int(seed),
                f"{filename or 'uploaded graph'}: {A.shape[0]:,} vertices",
                upload_key(data, n_clusters, attribute_weight, seed))


def upload_key(data, n_clusters: int, attribute_weight: float = 1.0, seed: int = 0) -> tuple:
    """The key of ``run_uploaded_graph(data, _, n_clusters, attribute_weight, seed)``: a
    digest of the file's bytes and the settings. Cost: one SHA-1 of `data`."""
    digest = hashlib.sha1(bytes(data)).hexdigest()[:16]
    return ("attributed-upload", digest, int(n_clusters), float(attribute_weight), int(seed))


def attributed_npz_bytes(adjacency, attributes, labels=None) -> bytes:
    """The bytes of :func:`save_attributed_npz` (for tests and notebooks)."""
    buf = io.BytesIO()
    save_attributed_npz(buf, adjacency, attributes, labels)
    return buf.getvalue()
