"""The detectability phase transition of a two-cluster Gaussian mixture: accuracy of
spectral clustering (the sign of the top singular vector, from the engine) and of k-means
against the signal strength, with the theory (``datasets.gaussian_accuracy``) and the
threshold (d/n)^(1/4) below which no method beats chance as n, d grow.

The matrices here are small (n, d of a few thousand): BLAS runs single-threaded inside
these functions; on a busy machine, BLAS threads waiting for a core made a 1000 x 500
top singular vector 60x slower.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.clustering import datasets as _datasets
from workbench.clustering.metrics import matched_accuracy


def top_singular_vector(X: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    """The top left singular vector u (n,) and singular value of X (n x d), from the
    engine: ``top_eigs`` of the Gram operator X^T X (d x d, never formed), u = X v / s.
    Cost: ~20-40 products with X and X^T (O(n d) each)."""
    from threadpoolctl import threadpool_limits

    from workbench import spectral as engine
    from workbench.operators import aslinearoperator

    with threadpool_limits(1, user_api="blas"):
        op = aslinearoperator(np.asarray(X, dtype=np.float64)).gram("AtA")
        res = engine.top_eigs(op, k=1, which="LA", tol=1e-8, seed=seed)
        v = np.asarray(res.vectors)[:, 0]
        Xv = X @ v
    s = float(np.linalg.norm(Xv))
    return Xv / s, s


@dataclass(frozen=True)
class SplitResult:
    """One spectral split: the top singular vector's entries, predicted and true labels,
    and the accuracy under the best matching."""

    projection: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    truth: np.ndarray = field(repr=False)
    accuracy: float
    signal: float
    threshold: float
    theory: float


def spectral_split(n_samples: int, n_features: int, signal: float, seed: int = 0
                   ) -> SplitResult:
    """Draw the mixture (``datasets.two_gaussians``) and split it by the sign of the top
    singular vector. Returns SplitResult. Cost: O(n d) data + the engine's products."""
    d = _datasets.two_gaussians(n_samples, n_features, signal, seed)
    u, _ = top_singular_vector(d.X, seed)
    lab = (u > 0).astype(np.int32)
    return SplitResult(u, lab, d.labels, matched_accuracy(d.labels, lab), float(signal),
                       d.params["threshold"],
                       float(_datasets.gaussian_accuracy(signal, n_samples, n_features)))


def theory_curve(n_samples: int, n_features: int, signal_max: float = 3.0,
                 points: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """The asymptotic accuracy (``datasets.gaussian_accuracy``) on `points` signals evenly
    spaced from 0 to `signal_max`: (signals, accuracy). Cost: O(points)."""
    signals = np.linspace(0.0, float(signal_max), points)
    return signals, _datasets.gaussian_accuracy(signals, n_samples, n_features)


def detectability_curve(n_samples: int = 2000, n_features: int = 1000, signals=None,
                        seed: int = 0, kmeans: bool = True) -> pd.DataFrame:
    """Accuracy against signal strength, one fresh draw per signal: columns signal,
    spectral, kmeans (k-means with k = 2 on the raw points; NaN when not asked), theory.
    Default signals: 16 values from 0.2x to 2.5x the threshold.
    Cost: per signal one draw (O(n d)), one top singular vector, one k-means."""
    from threadpoolctl import threadpool_limits

    from workbench.clustering.kmeans import KMeans

    with threadpool_limits(1, user_api="blas"):
        return _curve(n_samples, n_features, signals, seed, kmeans, KMeans)


def _curve(n_samples, n_features, signals, seed, kmeans, KMeans) -> pd.DataFrame:
    thr = _datasets.gaussian_threshold(n_samples, n_features)
    if signals is None:
        signals = np.linspace(0.2, 2.5, 16) * thr
    rows = []
    t0 = time.perf_counter()
    for i, s in enumerate(signals):
        d = _datasets.two_gaussians(n_samples, n_features, float(s), seed + i)
        u, _ = top_singular_vector(d.X, seed)
        acc = matched_accuracy(d.labels, (u > 0).astype(int))
        km = float("nan")
        if kmeans:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lab = KMeans(2, random_state=seed).fit(d.X).labels_
            km = matched_accuracy(d.labels, lab)
        rows.append({"signal": float(s), "spectral": acc, "kmeans": km,
                     "theory": float(_datasets.gaussian_accuracy(s, n_samples, n_features))})
    df = pd.DataFrame(rows)
    df.attrs.update(threshold=thr, seconds=time.perf_counter() - t0, n_samples=n_samples,
                    n_features=n_features)
    return df
