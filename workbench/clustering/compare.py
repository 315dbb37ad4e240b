"""The comparison grid (datasets x algorithms, as scikit-learn's "comparing clustering
algorithms on toy datasets" page) and a factory for the estimators by name.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from workbench.clustering import datasets as _datasets
from workbench.clustering.metrics import ari

ALGORITHMS = ("k-means", "spectral", "gaussian mixture", "ppp")
GRID_DATASETS = _datasets.TOY_DATASETS
GRID_SAMPLES = 500   # points per grid cell (as scikit-learn's gallery)


def make_estimator(name: str, n_clusters: int, *, seed: int = 0, n_neighbors: int = 10,
                   affinity: str = "nearest_neighbors", assign_labels: str = "kmeans",
                   init: str = "k-means++", backend: str = "auto",
                   covariance_type: str = "full", k_max: int = 8):
    """A workbench estimator by name: "k-means", "spectral", "gaussian mixture" or "ppp"
    (Probabilistic Partitive Partitioning over k = 1..k_max, ignores ``n_clusters``)."""
    from workbench.clustering import (
        GaussianMixture,
        KMeans,
        PartitivePartitioning,
        SpectralClustering,
    )

    if name == "k-means":
        return KMeans(n_clusters, init=init, backend=backend, random_state=seed)
    if name == "spectral":
        return SpectralClustering(n_clusters, affinity=affinity, n_neighbors=n_neighbors,
                                  assign_labels=assign_labels, random_state=seed)
    if name == "gaussian mixture":
        return GaussianMixture(n_clusters, covariance_type=covariance_type, random_state=seed)
    if name == "ppp":
        return PartitivePartitioning(1, k_max, covariance_type=covariance_type, refine=True,
                                     backend=backend, random_state=seed)
    raise ValueError(f"unknown algorithm {name!r}; choose one of {ALGORITHMS}")


def grid_cell(dataset: str, algorithm: str, n_samples: int = 500, noise: float = 1.0,
              seed: int = 0) -> dict:
    """Cluster one toy dataset with one algorithm (its true k, at least 2; PPP chooses
    its own among 1..6).
    Returns {dataset, algorithm, X, labels, seconds, ari, n_clusters}. Cost: one fit."""
    d = _datasets.toy_dataset(dataset, n_samples, noise, seed)
    k = max(2, d.n_clusters)
    est = make_estimator(algorithm, k, seed=seed, k_max=6)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = np.asarray(est.fit_predict(d.X))
    sec = time.perf_counter() - t0
    score = ari(d.labels, labels) if d.labels is not None else float("nan")
    return {"dataset": dataset, "algorithm": algorithm, "X": d.X, "labels": labels,
            "seconds": sec, "ari": score, "n_clusters": int(np.unique(labels).size)}


def grid_row(dataset: str, n_samples: int = GRID_SAMPLES, noise: float = 1.0,
             seed: int = 0, algorithms=ALGORITHMS) -> list[dict]:
    """The row of one dataset in the comparison grid: every algorithm's ``grid_cell``.
    Returns the list of cells. Cost: one fit per algorithm."""
    return [grid_cell(dataset, alg, n_samples, noise, seed) for alg in algorithms]


def comparison_grid(datasets=GRID_DATASETS, algorithms=ALGORITHMS, n_samples: int = 500,
                    noise: float = 1.0, seed: int = 0, on_cell=None) -> list[dict]:
    """Every (dataset, algorithm) cell (see ``grid_cell``), row by row; ``on_cell(cell)``
    is called as each one finishes (for live display). Returns the list of cells."""
    cells = []
    for dname in datasets:
        for aname in algorithms:
            cell = grid_cell(dname, aname, n_samples, noise, seed)
            cells.append(cell)
            if on_cell is not None:
                on_cell(cell)
    return cells
