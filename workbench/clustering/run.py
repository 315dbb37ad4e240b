"""Clustering runs: the costly part of a clustering view done once (data, its 2-D drawing
coordinates, the graph and its Laplacian embedding), then the labels of any k as a cheap
view. What the clustering dashboard and notebook show.

    run = run_clustering(ClusteringSettings(dataset="moons", n_samples=1500))
    view = run.at(k=3)                 # labels + scores; computed once per (k, assign)
    view.labels, view.scores.ari, run.graph.embedding.eigenvalues

Costs: the data O(n d) (principal components for d > 2: O(n d^2)); for spectral
clustering the kNN graph (O(n log n) with a tree) and shift-invert Lanczos on the sparse
Laplacian (one sparse LU, a few dozen solves). ``at(k)`` the first time: k-means on the
n x k embedding (O(n k^2) per iteration, 4 restarts; "cluster_qr": one pivoted QR) or,
for the other algorithms, one fit; then a lookup. Scores (ARI, NMI, a silhouette sampled
on 2,000 points: O(2000^2 d)) are computed once per view as well.

Data and graphs are kept in a small in-process LRU (``BIG``, 12 entries: a million points
and their embedding weigh ~150 MB) with the runs themselves, so that runs of other
algorithms, the k-selection curves and the side embedding share them, and every caller of
``run_clustering`` with the same settings gets the same run (its views labelled once).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np

from workbench.clustering import datasets as cds
from workbench.clustering.settings import K_MAX, N_EIGS, ClusteringSettings

SCORE_SAMPLE = 2000        # the silhouette of a view on a sample of this many points
SELECTION_SAMPLE = 20_000  # k-selection curves on a random sample of this many points
QUICK_LABELS = 20_000      # spectral labels of up to this many points: quick (k-means on n x k)


class LRU:
    """A small thread-safe least-recently-used memo: ``get(key, fn)`` returns the stored
    value or computes ``fn()`` (outside the lock) and stores it."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, fn: Callable):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = fn()
        with self._lock:
            value = self._data.setdefault(key, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


BIG = LRU(maxsize=12)


@dataclass(frozen=True)
class ClusterData:
    """A dataset and the 2-D coordinates it is drawn at (``datasets.plane``)."""

    key: tuple
    dataset: cds.Dataset = field(repr=False)
    plane: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        return self.dataset.n


@dataclass(frozen=True)
class GraphEmbedding:
    """The affinity graph's Laplacian embedding (N_EIGS eigenpairs) with its costs."""

    key: tuple
    embedding: object = field(repr=False)   # clustering.spectral.SpectralEmbedding
    graph_seconds: float
    embed_seconds: float
    nnz: int
    components: int
    matvecs: int

    @property
    def eigenvalues(self) -> np.ndarray:
        return self.embedding.eigenvalues

    @property
    def maps(self) -> np.ndarray:
        return self.embedding.maps

    def eigengap(self) -> int:
        return self.embedding.eigengap()


@dataclass(frozen=True)
class ClusteringView:
    """The clustering for one k: ``labels`` (int8 up to 127 clusters), the seconds the
    labelling (spectral) or the fit took, ``scores`` (``metrics.ClusterScores``; None when
    asked for without), and ``info`` (k-means: n_iter, init_s; PPP: k_chosen)."""

    k: int
    algorithm: str
    assign: str
    labels: np.ndarray = field(repr=False)
    seconds: float
    scores: object = None
    info: dict = field(default_factory=dict)


def load_points(settings: ClusteringSettings) -> ClusterData:
    """The settings' dataset and its drawing plane (cached in BIG). Cost: O(n d) (+ the
    principal components of a d > 2 dataset, O(n d^2))."""
    key = settings.data_key()
    _, name, n, noise, seed = key

    def build():
        data = cds.load(name, n or 1500, noise, seed)
        return ClusterData(key, data, cds.plane(data))
    return BIG.get(key, build)


def laplacian_embedding(data: ClusterData, affinity: str, n_neighbors: int) -> GraphEmbedding:
    """The `affinity` graph of the data (`n_neighbors` neighbours) and the N_EIGS smallest
    eigenpairs of its normalized Laplacian (cached in BIG). Cost: the kNN graph
    (O(n log n)) and shift-invert Lanczos (one sparse LU, a few dozen solves)."""
    from workbench.clustering.graph import affinity_graph
    from workbench.clustering.spectral import spectral_embedding

    key = ("graph", data.key, affinity, int(n_neighbors))
    X = data.dataset.X

    def build():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = affinity_graph(X, affinity, n_neighbors=min(int(n_neighbors), len(X) - 1))
        emb = spectral_embedding(g, min(N_EIGS, len(X) - 1))
        return GraphEmbedding(key, emb, g.seconds, emb.seconds, g.nnz, g.n_components,
                              emb.num_matvecs)
    return BIG.get(key, build)


@dataclass(frozen=True)
class ClusteringRun:
    """Data (+ graph and embedding for spectral clustering) computed once; ``at(k)`` the
    labels of any k. The views are memoized on the run (each k labelled once, thread-safe;
    the run is shared by every session that asks for the same settings)."""

    key: tuple
    data: ClusterData
    graph: GraphEmbedding | None
    method: tuple               # ClusteringSettings.method_key(): algorithm and its parameters
    seconds: float
    _views: dict = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def algorithm(self) -> str:
        return self.method[0]

    @property
    def k_max(self) -> int:
        """The largest k the run can label (the embedding's columns bound spectral's)."""
        if self.graph is not None:
            return min(K_MAX, self.graph.maps.shape[1])
        return K_MAX

    def clamp(self, k: int) -> int:
        return int(min(max(1, int(k)), self.k_max))

    def _memo_key(self, k: int, assign: str) -> tuple:
        return (self.clamp(k), assign if self.algorithm == "spectral" else None)

    def has(self, k: int, assign: str = "kmeans", scores: bool = True) -> bool:
        """Whether ``at(k, assign)`` is a lookup (with scores when `scores`)."""
        view = self._views.get(self._memo_key(k, assign))
        return view is not None and (view.scores is not None or not scores)

    def quick(self, k: int, assign: str = "kmeans") -> bool:
        """Whether ``at(k, assign, scores=False)`` is quick enough for a slider's callback:
        a lookup, or spectral labels of at most QUICK_LABELS points."""
        return self.has(k, assign, scores=False) or (
            self.algorithm == "spectral" and self.data.n <= QUICK_LABELS)

    def shows(self, view: ClusteringView, k: int, assign: str = "kmeans") -> bool:
        """Whether `view` is this run's clustering for `k` (clamped) and `assign` (spectral
        only): its algorithm, its k, one label per point. O(1)."""
        return (view.algorithm == self.algorithm and view.k == self.clamp(k)
                and len(view.labels) == self.data.n
                and (self.algorithm != "spectral" or view.assign == assign))

    def unlabelled(self, k0: int, assign: str = "kmeans") -> list[int]:
        """The k's (1..k_max) not yet labelled and scored with `assign`, nearest `k0` first
        (the smaller of two as near)."""
        todo = sorted(range(1, self.k_max + 1), key=lambda k: (abs(k - k0), k))
        return [k for k in todo if not self.has(k, assign)]

    def at(self, k: int, assign: str = "kmeans", scores: bool = True) -> ClusteringView:
        """The clustering into k clusters (clamped to 1..k_max); `assign` ("kmeans" or
        "cluster_qr") is how spectral clustering labels its embedding (ignored by the
        other algorithms). Cost: the first call per (k, assign) labels or fits (see the
        module docstring), the first with `scores` scores; later calls look up."""
        key = self._memo_key(k, assign)
        view = self._views.get(key)
        if view is None:
            view = self._label(key[0], assign)
        if scores and view.scores is None:
            from dataclasses import replace

            from workbench.clustering.metrics import score

            d = self.data.dataset
            view = replace(view, scores=score(d.X, view.labels, d.labels,
                                              sample_size=SCORE_SAMPLE))
        with self._lock:
            old = self._views.get(key)
            if old is None or (old.scores is None and view.scores is not None):
                self._views[key] = view
            else:
                view = old
        return view

    def table(self, view: ClusteringView):
        """The points of the data with `view`'s labels, as a DataFrame: x, y (the data's
        first two columns; y 0 for 1-D data), cluster, true_label (when the data has
        labels). Cost: O(n)."""
        import pandas as pd

        X, truth = self.data.dataset.X, self.data.dataset.labels
        cols = {"x": X[:, 0], "y": X[:, 1] if X.shape[1] > 1 else 0.0, "cluster": view.labels}
        if truth is not None:
            cols["true_label"] = truth
        return pd.DataFrame(cols)

    def _label(self, k: int, assign: str) -> ClusteringView:
        from workbench.clustering.compare import make_estimator
        from workbench.clustering.spectral import assign_labels

        t0 = time.perf_counter()
        info: dict = {}
        if self.algorithm == "spectral":
            labels = assign_labels(self.graph.embedding, k, assign, seed=0)
        else:
            alg, *params = self.method
            opts = dict(zip(("init", "backend") if alg == "k-means" else
                            ("covariance_type", "backend"), params, strict=False))
            est = make_estimator(alg, k, k_max=K_MAX, **opts)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                labels = est.fit_predict(self.data.dataset.X)
            if alg == "ppp":
                info["k_chosen"] = int(est.n_clusters_)
            if alg == "k-means":
                info.update(n_iter=int(est.n_iter_), init_s=float(est.init_seconds_))
        labels = np.asarray(labels).astype(np.int8 if k <= 127 else np.int32)
        return ClusteringView(k, self.algorithm, assign, labels, time.perf_counter() - t0,
                              info=info)


def run_clustering(settings: ClusteringSettings) -> ClusteringRun:
    """Check the settings, load the data and, for spectral clustering, build the graph and
    its Laplacian embedding. The run is kept in BIG by ``settings.run_key()``: every caller
    in this process with the same settings gets the same run, and so shares its labelled
    views. Returns ClusteringRun (``run.at(k)``). Cost: see the module docstring."""
    settings.validate()
    key = settings.run_key()
    affinity, n_neighbors, method = settings.affinity, settings.n_neighbors, \
        settings.method_key()

    def build():
        t0 = time.perf_counter()
        data = load_points(settings)
        graph = (laplacian_embedding(data, affinity, n_neighbors)
                 if method[0] == "spectral" else None)
        return ClusteringRun(key, data, graph, method, time.perf_counter() - t0)
    return BIG.get(key, build)


def side_embedding(settings: ClusteringSettings) -> GraphEmbedding:
    """The Laplacian embedding shown beside another algorithm's run (up to
    EMBED_SIDE_LIMIT points; ``settings.shows_spectrum()``). Cost: as
    ``laplacian_embedding`` (a lookup when a spectral run built it)."""
    return laplacian_embedding(load_points(settings), settings.affinity, settings.n_neighbors)


def choose_k(data: ClusterData, graph: GraphEmbedding | None = None, seed: int = 0):
    """The k-selection curves (elbow, silhouette, BIC; eigengap when `graph` is given) for
    k = 1..K_MAX, on a random sample of SELECTION_SAMPLE points above that size. Returns
    ``selection.KSelection``. Cost: one k-means fit per k on the sample."""
    from workbench.clustering.selection import k_selection

    X = data.dataset.X
    if len(X) > SELECTION_SAMPLE:
        X = X[np.random.default_rng(seed).choice(len(X), SELECTION_SAMPLE, replace=False)]
    eig = None if graph is None else graph.eigenvalues
    return k_selection(X, range(1, K_MAX + 1), eigenvalues=eig, seed=seed)


def warm_cache(dataset: str = "moons", n_samples: int = 1500, noise: float = 1.0,
               seed: int = 0, affinity: str = "nearest_neighbors", n_neighbors: int = 10,
               assign: str = "kmeans") -> ClusteringRun:
    """Compute, in this process, the spectral clustering run of these settings and the
    labels and scores of every k, so that a server opens that view at once (a million
    points before a class: about a minute for the embedding and ~15 s of labelling on 2
    cores). The explorer gets the same run from ``run_clustering``. Returns the run."""
    s = ClusteringSettings(dataset=dataset, n_samples=n_samples, noise=noise, seed=seed,
                           affinity=affinity, n_neighbors=n_neighbors, assign=assign,
                           algorithm="spectral")
    run = run_clustering(s)
    for k in range(1, run.k_max + 1):
        run.at(k, assign)
    return run
