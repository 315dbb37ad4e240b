"""Clustering through its spectra: k-means, spectral clustering, Gaussian mixtures.

scikit-learn compatible estimators (``KMeans``, ``SpectralClustering``,
``GaussianMixture``, ``PartitivePartitioning``), the steps of spectral clustering as
functions (``affinity_graph`` -> ``spectral_embedding`` -> ``assign_labels``, for caching),
metrics and k-selection curves (``metrics``, ``k_selection``), and the datasets of the
comparison grid and the detectability demo (``datasets``).

    from workbench.clustering import KMeans, SpectralClustering, datasets
    d = datasets.toy_dataset("moons", 2000)
    sc = SpectralClustering(2).fit(d.X)        # .laplacian_eigenvalues_, .embedding_
"""

from workbench.backends.numba_support import HAVE_NUMBA
from workbench.clustering import datasets, metrics
from workbench.clustering.graph import AffinityGraph, DisconnectedGraphWarning, affinity_graph
from workbench.clustering.kmeans import KMeans
from workbench.clustering.mixture import GaussianMixture, PartitivePartitioning
from workbench.clustering.selection import KSelection, elbow_k, k_selection
from workbench.clustering.spectral import (
    SpectralClustering,
    SpectralEmbedding,
    assign_labels,
    cluster_qr,
    eigengap_k,
    eigengaps,
    spectral_embedding,
)

if HAVE_NUMBA:  # registers the k-means kernels' warm-up (the server compiles them at start)
    from workbench.clustering import _kernels  # noqa: F401

from workbench.clustering.attributed import (
    AttributedSpectralClustering,
    attributed_embedding,
    augmented_graph,
    planted_attributed_graph,
)
from workbench.clustering.attributed_run import (
    AttributedRun,
    AttributedSettings,
    read_attributed_npz,
    run_attributed,
    save_attributed_npz,
)

__all__ = [
    "AffinityGraph", "DisconnectedGraphWarning", "GaussianMixture", "KMeans", "KSelection",
    "PartitivePartitioning", "SpectralClustering", "SpectralEmbedding", "affinity_graph",
    "assign_labels", "cluster_qr", "datasets", "eigengap_k", "eigengaps", "elbow_k",
    "k_selection", "metrics", "spectral_embedding",
    "AttributedSpectralClustering", "attributed_embedding", "augmented_graph", "planted_attributed_graph",
    "AttributedRun", "AttributedSettings", "read_attributed_npz", "run_attributed",
    "save_attributed_npz",
]
