"""Clustering quality: agreement with true labels (ARI, NMI, accuracy under the best
matching), silhouette (sampled for large n), inertia, and one call that scores a result.

Wrappers of ``sklearn.metrics`` where it has the metric; the silhouette is O(n^2) so it is
computed on a random sample of at most ``sample_size`` points above that size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from workbench.errors import ShapeError

SILHOUETTE_SAMPLE = 5000


def _same_length(a, b, what: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ShapeError(f"{what}: label arrays have different lengths {a.size} and {b.size}")
    return a, b


def ari(labels_true, labels_pred) -> float:
    """Adjusted Rand index (1 = identical partitions, ~0 = chance). Cost: O(n)."""
    from sklearn.metrics import adjusted_rand_score

    a, b = _same_length(labels_true, labels_pred, "ari")
    return float(adjusted_rand_score(a, b))


def nmi(labels_true, labels_pred) -> float:
    """Normalized mutual information (arithmetic normalization, as scikit-learn). O(n)."""
    from sklearn.metrics import normalized_mutual_info_score

    a, b = _same_length(labels_true, labels_pred, "nmi")
    return float(normalized_mutual_info_score(a, b))


def matched_accuracy(labels_true, labels_pred) -> float:
    """Fraction of points labelled correctly under the best one-to-one matching of
    predicted to true clusters (Hungarian algorithm on the contingency table). 0.5 is
    chance for two balanced clusters. Cost: O(n + k^3)."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics.cluster import contingency_matrix

    a, b = _same_length(labels_true, labels_pred, "matched_accuracy")
    if a.size == 0:
        return float("nan")
    C = contingency_matrix(a, b)
    r, c = linear_sum_assignment(-C)
    return float(C[r, c].sum() / a.size)


def silhouette(X, labels, sample_size: int | None = SILHOUETTE_SAMPLE, seed: int = 0) -> float:
    """Mean silhouette coefficient in [-1, 1]; computed on a random sample of
    ``sample_size`` points when n is larger (None: all points, O(n^2) memory in blocks).
    NaN when there are fewer than 2 or more than n - 1 distinct labels.
    Cost: O(m^2 d) with m = min(n, sample_size)."""
    from sklearn.metrics import silhouette_score

    X = np.asarray(X)
    labels = np.asarray(labels).ravel()
    if X.shape[0] != labels.size:
        raise ShapeError(f"silhouette: X has {X.shape[0]} rows but {labels.size} labels")
    n = labels.size
    if sample_size is not None and n > sample_size:
        idx = np.random.default_rng(seed).choice(n, sample_size, replace=False)
        X, labels = X[idx], labels[idx]
    k = np.unique(labels).size
    if not 2 <= k <= labels.size - 1:
        return float("nan")
    return float(silhouette_score(X, labels))


def inertia(X, labels, centers=None) -> float:
    """Sum of squared distances of points to their cluster's center (the k-means
    objective); centers default to the cluster means. Cost: O(n d)."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels).ravel()
    if X.shape[0] != labels.size:
        raise ShapeError(f"inertia: X has {X.shape[0]} rows but {labels.size} labels")
    uniq, inv = np.unique(labels, return_inverse=True)
    if centers is None:
        counts = np.bincount(inv, minlength=uniq.size).astype(np.float64)
        sums = np.zeros((uniq.size, X.shape[1]))
        np.add.at(sums, inv, X)
        C = sums / counts[:, None]
    else:
        C = np.asarray(centers, dtype=np.float64)[uniq]
    return float(((X - C[inv]) ** 2).sum())


@dataclass(frozen=True)
class ClusterScores:
    """Scores of one clustering: agreement with the truth (NaN without it), silhouette
    (on at most ``SILHOUETTE_SAMPLE`` points), inertia, and the number of clusters found."""

    ari: float
    nmi: float
    accuracy: float
    silhouette: float
    inertia: float
    n_clusters: int

    def as_dict(self) -> dict:
        return asdict(self)


def score(X, labels, truth=None, sample_size: int | None = SILHOUETTE_SAMPLE,
          seed: int = 0) -> ClusterScores:
    """All metrics of a clustering. Returns ClusterScores. Cost: O(n d) + the sampled
    silhouette O(m^2 d)."""
    labels = np.asarray(labels).ravel()
    if truth is None:
        a = b = c = float("nan")
    else:
        a, b, c = ari(truth, labels), nmi(truth, labels), matched_accuracy(truth, labels)
    return ClusterScores(a, b, c, silhouette(X, labels, sample_size, seed),
                         inertia(X, labels), int(np.unique(labels).size))
