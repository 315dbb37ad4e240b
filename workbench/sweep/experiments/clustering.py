"""Clustering experiment for sweeps: how well does k-means recover blobs as noise grows?

One task = ``sklearn.datasets.make_blobs`` (``num_samples`` points, ``num_clusters`` centres
in ``dim`` dimensions, cluster standard deviation ``noise``) -> ``workbench.clustering.KMeans``
with the true k -> scores against the planted labels. Sweeping ``noise`` shows the quality
fall from perfect recovery (ARI 1) to chance (ARI 0).
"""

from __future__ import annotations

from workbench.errors import RankError


def quality(noise: float = 1.0, num_samples: int = 2000, num_clusters: int = 4,
            dim: int = 2, center_box: float = 10.0, seed: int = 0, data_seed: int = 0,
            backend: str = "auto", n_init: int = 1) -> dict:
    """k-means on Gaussian blobs with cluster standard deviation ``noise``.

    The data come from ``make_blobs(num_samples, dim, centers=num_clusters,
    cluster_std=noise, center_box=(-center_box, center_box), random_state=data_seed)``;
    ``KMeans(num_clusters, backend=backend, n_init=n_init, random_state=seed)`` clusters
    them. Returns ari and nmi (against the planted labels), inertia (of the fit),
    planted_inertia (sum of squared distances to the planted clusters' means: the fit is
    at least this good when it recovers them), n_iter and fit_seconds. Costs
    k-means++ seeding plus n_iter passes of 2 n k d flops."""
    import numpy as np
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from workbench.clustering import KMeans

    if num_clusters < 1 or num_clusters > num_samples:
        raise RankError(f"num_clusters={num_clusters} must be between 1 and num_samples="
                        f"{num_samples}")
    X, y = make_blobs(n_samples=num_samples, n_features=dim, centers=num_clusters,
                      cluster_std=noise, center_box=(-center_box, center_box),
                      random_state=data_seed)
    km = KMeans(n_clusters=num_clusters, backend=backend, n_init=n_init,
                random_state=seed).fit(X)
    planted = sum(float(((X[y == c] - X[y == c].mean(axis=0)) ** 2).sum())
                  for c in np.unique(y))
    return dict(ari=float(adjusted_rand_score(y, km.labels_)),
                nmi=float(normalized_mutual_info_score(y, km.labels_)),
                inertia=float(km.inertia_), planted_inertia=planted,
                n_iter=int(km.n_iter_), fit_seconds=float(km.fit_seconds_))
