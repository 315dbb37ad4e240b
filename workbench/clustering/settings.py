"""Settings of the clustering views, declared once: the explorer builds its widgets from
them (and syncs them to the URL), notebooks pass them to ``run_clustering``.

    s = ClusteringSettings(dataset="circles", n_samples=1500, n_clusters=2)
    run = run_clustering(s)                    # workbench.clustering.run
    s.data_key(), s.graph_key(), s.run_key()   # hashable keys of what each stage computes

``DetectabilitySettings`` holds the two-cluster Gaussian mixture's parameters of the
detectability demo. No Panel here: these are plain ``param`` classes.
"""

from __future__ import annotations

import param

from workbench.clustering.compare import ALGORITHMS
from workbench.clustering.datasets import TOY_DATASETS, USER_DATASETS
from workbench.errors import RankError

DATASETS = (*TOY_DATASETS, "digits", "two_gaussians")
SIZES = (500, 1500, 5000, 20_000, 100_000, 300_000, 1_000_000)
DIGITS_SIZE = 1797          # scikit-learn's bundled digits (fixed size)
K_MAX = 10                  # the largest k offered (the k slider's upper bound)
N_EIGS = 12                 # Laplacian eigenpairs kept: k up to 10 plus the gap after it
SPECTRAL_LIMIT = 1_000_000  # spectral clustering up to this many points (shift-invert LU)
DENSE_RBF_LIMIT = 20_000    # affinity "rbf" forms a dense n x n matrix up to this many points
PPP_LIMIT = 200_000         # PPP fits k-means and a mixture for every k
EMBED_SIDE_LIMIT = 100_000  # with another algorithm, the Laplacian is computed up to here
DET_SIZES = (500, 1000, 2000, 4000)
DET_RATIOS = (0.1, 0.25, 0.5, 1.0, 2.0)


class _DatasetChoice:
    """``copy`` and ``use_dataset`` for a settings class with a ``dataset`` selector that a
    user's data can join."""

    def copy(self):
        """A copy with the same values (what a background run computes from, so that later
        changes do not reach it)."""
        values = {k: v for k, v in self.param.values().items() if k != "name"}
        out = type(self)(**{k: v for k, v in values.items() if k != "dataset"})
        out.use_dataset(values["dataset"])
        return out

    def use_dataset(self, name: str) -> None:
        """Choose dataset `name`, also a user's (``datasets.user_dataset``), which joins
        this settings object's choices."""
        if name not in self.param.dataset.objects:
            self.param.dataset.objects = [*self.param.dataset.objects, name]
        self.dataset = name


class ClusteringSettings(_DatasetChoice, param.Parameterized):
    """What a clustering view shows: the data (dataset, n_samples, noise, seed), the
    algorithm and its parameters, and the number of clusters k (the one cheap parameter:
    ``run.at(k)``)."""

    n_clusters = param.Integer(default=2, bounds=(1, K_MAX), doc="Number of clusters k",
                               label="Number of clusters k")
    dataset = param.Selector(default="moons", objects=list(DATASETS), doc="Dataset",
                           label="Dataset")
    n_samples = param.Selector(default=1500, objects=list(SIZES), doc="Number of points",
                             label="Points")
    noise = param.Number(default=1.0, bounds=(0.0, 3.0), step=0.1,
                         doc="Noise, as a multiple of scikit-learn's gallery",
                         label="Noise (x scikit-learn's gallery)")
    seed = param.Integer(default=0, bounds=(0, 99), doc="Random seed of the data",
                         label="Seed")
    algorithm = param.Selector(default="spectral", objects=list(ALGORITHMS), doc="Algorithm",
                               label="Algorithm")
    affinity = param.Selector(default="nearest_neighbors",
                              objects=["nearest_neighbors", "knn_rbf", "rbf"],
                              doc="Graph of spectral clustering", label="Graph")
    n_neighbors = param.Integer(default=10, bounds=(3, 50), doc="Neighbours in the kNN graph",
                                label="Neighbours")
    assign = param.Selector(default="kmeans", objects=["kmeans", "cluster_qr"],
                            doc="Labels from the embedding",
                            label="Labels from the embedding")
    init = param.Selector(default="k-means++", objects=["k-means++", "k-means||", "random"],
                          doc="k-means seeding", label="k-means seeding")
    backend = param.Selector(default="auto", objects=["auto", "numba", "numpy", "torch"],
                             doc="k-means backend", label="k-means backend")
    covariance = param.Selector(default="full", objects=["full", "tied", "diag", "spherical"],
                                doc="Mixture covariance", label="Mixture covariance")

    # parameter groups: what each stage of a run depends on
    DATA = ("dataset", "n_samples", "noise", "seed")
    GRAPH = ("affinity", "n_neighbors")
    METHOD = ("algorithm", "init", "backend", "covariance")
    CHEAP = ("n_clusters", "assign")

    @property
    def n_points(self) -> int:
        """The number of points of the data set chosen (digits has its own size)."""
        if self.dataset in USER_DATASETS:
            return USER_DATASETS[self.dataset].n
        return DIGITS_SIZE if self.dataset == "digits" else int(self.n_samples)

    def data_key(self) -> tuple:
        """The key of the data (and its 2-D drawing coordinates)."""
        n = None if self.dataset == "digits" or self.dataset in USER_DATASETS \
            else int(self.n_samples)
        return ("data", self.dataset, n, round(float(self.noise), 3), int(self.seed))

    def graph_key(self) -> tuple:
        """The key of the graph + Laplacian embedding of the data."""
        return ("graph", self.data_key(), self.affinity, int(self.n_neighbors))

    def method_key(self) -> tuple:
        """The algorithm and the parameters it uses (others do not change its labels)."""
        alg = self.algorithm
        if alg == "k-means":
            return (alg, self.init, self.backend)
        if alg == "ppp":
            return (alg, self.covariance, self.backend)
        if alg == "gaussian mixture":
            return (alg, self.covariance)
        return (alg,)

    def shows_spectrum(self) -> bool:
        """Whether the view has the graph's Laplacian spectrum and embedding: always for
        spectral clustering (its run computes them), up to EMBED_SIDE_LIMIT points for the
        other algorithms (``laplacian_embedding`` beside their run)."""
        return self.algorithm == "spectral" or self.n_points <= EMBED_SIDE_LIMIT

    def run_key(self) -> tuple:
        """The key of ``run_clustering(self)`` (k and the labelling method are views; the
        graph is part of the run of spectral clustering only)."""
        graph = self.graph_key() if self.algorithm == "spectral" else None
        return ("run", self.data_key(), graph, self.method_key())

    def validate(self) -> None:
        """Raise RankError for combinations that would not fit in memory or time."""
        n = self.n_points
        if self.algorithm == "spectral":
            if n > SPECTRAL_LIMIT:
                raise RankError(f"spectral clustering is limited to {SPECTRAL_LIMIT:,} points")
            if self.affinity == "rbf" and n > DENSE_RBF_LIMIT:
                raise RankError(f"affinity='rbf' forms a dense {n:,} x {n:,} matrix; above "
                                f"{DENSE_RBF_LIMIT:,} points use 'nearest_neighbors' or "
                                "'knn_rbf'")
        if self.algorithm == "ppp" and n > PPP_LIMIT:
            raise RankError(f"PPP fits k-means and a mixture for every k: limited to "
                            f"{PPP_LIMIT:,} points here")


class DetectabilitySettings(param.Parameterized):
    """The two-cluster Gaussian mixture x = y mu + z of the detectability demo."""

    signal = param.Number(default=1.2, bounds=(0.0, 3.0), step=0.05,
                          doc="Signal strength ||mu|| of the two-cluster mixture",
                          label="Signal strength ‖μ‖")
    det_n = param.Selector(default=1000, objects=list(DET_SIZES), doc="Points n",
                         label="Points n")
    det_ratio = param.Selector(default=0.5, objects=list(DET_RATIOS),
                               doc="Dimension ratio d/n", label="Dimension ratio d/n")

    def dims(self) -> tuple[int, int]:
        """(n, d): points and dimensions (d = ratio x n, at least 1)."""
        n = int(self.det_n)
        return n, max(1, int(round(float(self.det_ratio) * n)))

    def curve_key(self) -> tuple:
        return ("detect", *self.dims())

    def split_key(self) -> tuple:
        return ("split", *self.dims(), round(float(self.signal), 3))
