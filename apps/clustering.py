"""Clustering through its spectra — k-means, spectral clustering and mixtures on scikit-learn's toy sets up to a million points: the Laplacian's eigengap, the spectral embedding, a live comparison grid and the detectability threshold."""

from workbench.serve.app import serve
from workbench.ui.clustering import ClusteringExplorer

serve(ClusteringExplorer)
