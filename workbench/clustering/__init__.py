"""Clustering through its spectra: k-means, spectral clustering, Gaussian mixtures.

scikit-learn compatible estimators (``KMeans``, ``SpectralClustering``,
``GaussianMixture``, ``PartitivePartitioning``), metrics and k-selection curves, and the
datasets of the comparison grid and the detectability demo.
"""

from workbench.clustering.kmeans import KMeans

__all__ = ["KMeans"]
