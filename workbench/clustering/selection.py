"""Choosing the number of clusters: the elbow of the k-means objective, the silhouette, the
BIC of a Gaussian mixture read off each k-means partition (as in PartitivePartitioning),
and the eigengap of the graph Laplacian. One call computes the curves for a range of k.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.clustering.kmeans import KMeans
from workbench.clustering.metrics import SILHOUETTE_SAMPLE, silhouette
from workbench.clustering.validation import check_finite_rows
from workbench.errors import RankError


def elbow_k(k_values, inertia) -> int:
    """The elbow (knee) of a decreasing curve: the k farthest below the chord joining its
    first and last points, both axes scaled to [0, 1] (the "kneedle" rule). Returns k.
    Cost: O(len)."""
    k = np.asarray(k_values, dtype=np.float64)
    y = np.asarray(inertia, dtype=np.float64)
    if k.size < 3:
        return int(k[0])
    kn = (k - k[0]) / (k[-1] - k[0])
    span = y[0] - y[-1]
    yn = (y - y[-1]) / span if span > 0 else np.zeros_like(y)
    below = (1.0 - kn) - yn        # the chord goes from (0, 1) to (1, 0)
    return int(k[int(np.argmax(below))])


@dataclass(frozen=True)
class KSelection:
    """The k-selection curves over ``k_values``: ``inertia`` (elbow), ``silhouette``
    (NaN at k = 1), ``bic`` (lower is better) and, when Laplacian eigenvalues were given,
    ``eigengaps`` (gap after the k-th smallest eigenvalue). ``suggested`` maps each
    criterion to its k. ``seconds``: wall time."""

    k_values: np.ndarray
    inertia: np.ndarray = field(repr=False)
    silhouette: np.ndarray = field(repr=False)
    bic: np.ndarray = field(repr=False)
    eigengaps: np.ndarray | None = field(repr=False)
    suggested: dict
    seconds: float

    def table(self) -> pd.DataFrame:
        """One row per k with every curve (long enough for the eigengap too)."""
        df = pd.DataFrame({"k": self.k_values, "inertia": self.inertia,
                           "silhouette": self.silhouette, "bic": self.bic})
        if self.eigengaps is not None:
            m = min(len(self.eigengaps), len(df))
            df["eigengap"] = np.nan
            df.loc[: m - 1, "eigengap"] = self.eigengaps[:m]
        return df


def k_selection(X, k_values=range(1, 11), *, eigenvalues=None, covariance_type="full",
                sample_size: int = SILHOUETTE_SAMPLE, max_samples: int = 20_000,
                backend: str = "auto", seed: int = 0) -> KSelection:
    """k-means for every k in ``k_values`` and the curves that choose k.

    - inertia: the k-means objective (falls with k; its elbow is suggested);
    - silhouette: on a sample of ``sample_size`` points (highest is suggested);
    - bic: of the Gaussian mixture read off each partition, on at most ``max_samples``
      points (lowest is suggested);
    - eigengap: from ``eigenvalues`` (the smallest normalized-Laplacian eigenvalues, e.g.
      ``SpectralClustering().laplacian_eigenvalues_``), see ``spectral.eigengap_k``.

    Returns KSelection. Cost: one k-means fit per k plus O(m k d^2) per BIC.
    """
    from workbench.clustering.mixture import _partition_mixture
    from workbench.clustering.spectral import eigengap_k, eigengaps

    t0 = time.perf_counter()
    check_finite_rows(X, "k_selection")
    X = np.ascontiguousarray(X, dtype=np.float64)
    ks = np.array(sorted(set(int(k) for k in k_values)))
    n = X.shape[0]
    if ks.size == 0 or ks[0] < 1 or ks[-1] > n:
        raise RankError(f"k_values must lie in [1, n_samples={n}], got {list(ks)}")
    rng = np.random.default_rng(seed)
    m = min(n, max_samples)
    sample = np.sort(rng.choice(n, m, replace=False)) if m < n else slice(None)
    Xs = X[sample]
    inertia, sil, bic = (np.full(ks.size, np.nan) for _ in range(3))
    for i, k in enumerate(ks):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            km = KMeans(int(k), backend=backend, random_state=seed).fit(X)
        inertia[i] = km.inertia_
        if k >= 2:
            sil[i] = silhouette(X, km.labels_, sample_size, seed)
        gm = _partition_mixture(Xs, km.labels_[sample], km.cluster_centers_,
                                covariance_type, 1e-6)
        bic[i] = gm.bic(Xs)
    suggested = {"elbow": elbow_k(ks, inertia), "bic": int(ks[int(np.argmin(bic))])}
    if np.isfinite(sil).any():
        suggested["silhouette"] = int(ks[int(np.nanargmax(sil))])
    gaps = None
    if eigenvalues is not None:
        gaps = eigengaps(eigenvalues)
        suggested["eigengap"] = eigengap_k(eigenvalues)
    return KSelection(ks, inertia, sil, bic, gaps, suggested, time.perf_counter() - t0)
