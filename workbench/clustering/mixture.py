"""Gaussian mixtures (scikit-learn's, with the workbench's input checks) and Probabilistic
Partitive Partitioning: k-means partitions validated by a Gaussian mixture, choosing k.

PPP: for every k in a range, partition the data with k-means; read the partition as a
Gaussian mixture (weights = cluster fractions, means = centers, covariances = the
clusters' covariances) and score it by its likelihood penalized for the number of
parameters (BIC). The k with the lowest BIC is chosen; its k-means partition gives the
labels (optionally refined by EM started from it). k-means alone cannot choose k: its
objective always falls as k grows; the mixture's likelihood pays for every extra cluster.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.mixture import GaussianMixture as _SkGaussianMixture
from sklearn.utils.validation import check_is_fitted, validate_data

from workbench.clustering.kmeans import KMeans
from workbench.clustering.validation import as_rng, check_finite_rows, check_n_clusters
from workbench.errors import RankError

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class GaussianMixture(_SkGaussianMixture):
    """scikit-learn's ``GaussianMixture`` (same parameters, same results) with the
    workbench's input errors (NaN rows -> NonFiniteError, n_components > n -> RankError)
    and ``labels_`` (the most likely component of every training point) after ``fit``.

    Cost of ``fit``: per EM iteration O(n k d^2) for full covariances.
    """

    def fit(self, X, y=None):
        """Fit by EM (scikit-learn) and set ``labels_``. Returns self."""
        self.fit_predict(X, y)
        return self

    def fit_predict(self, X, y=None):
        """Fit by EM and return ``labels_`` (scikit-learn's fit_predict, checked input)."""
        check_finite_rows(X, "GaussianMixture")
        shape = getattr(X, "shape", None)
        if (shape is not None and len(shape) == 2
                and isinstance(self.n_components, (int, np.integer))):
            check_n_clusters(int(self.n_components), shape[0])
        self.labels_ = np.asarray(super().fit_predict(X, y), dtype=np.int32)
        return self.labels_


def _partition_mixture(X: np.ndarray, labels: np.ndarray, centers: np.ndarray,
                       covariance_type: str, reg: float) -> _SkGaussianMixture:
    """A fitted-looking sklearn GaussianMixture whose parameters are read off a hard
    partition (no EM). Cost: O(n d^2)."""
    from sklearn.mixture._gaussian_mixture import (
        _compute_precision_cholesky,
        _estimate_gaussian_parameters,
    )

    k = centers.shape[0]
    resp = np.zeros((X.shape[0], k))
    resp[np.arange(X.shape[0]), labels] = 1.0
    weights, means, covs = _estimate_gaussian_parameters(X, resp, reg, covariance_type)
    gm = _SkGaussianMixture(k, covariance_type=covariance_type, reg_covar=reg)
    gm.weights_ = weights / weights.sum()
    gm.means_ = means
    gm.covariances_ = covs
    gm.precisions_cholesky_ = _compute_precision_cholesky(covs, covariance_type)
    gm.converged_, gm.n_iter_, gm.lower_bound_ = True, 0, -np.inf
    gm.n_features_in_ = X.shape[1]
    return gm


class PartitivePartitioning(ClusterMixin, BaseEstimator):
    """Probabilistic Partitive Partitioning: k-means for every k in ``k_range``, each
    partition scored as a Gaussian mixture by BIC; the best k is kept.

    Parameters
    ----------
    k_min, k_max : range of k tried (inclusive).
    covariance_type : of the mixture read off each partition ("full", "tied", "diag",
        "spherical").
    refine : run EM (scikit-learn's GaussianMixture) from each partition before scoring;
        the labels are then the mixture's. Default False: score the partition itself.
    n_init : k-means restarts per k.
    reg_covar : added to the covariance diagonals (as scikit-learn).
    max_samples : the BIC is computed on a random subsample of this many points when n
        is larger (the k-means partitions use all points).
    backend, random_state : passed to ``KMeans``.

    Attributes: ``n_clusters_`` (chosen k), ``labels_``, ``k_values_``, ``bic_`` (one per
    k, lower is better), ``inertia_`` (k-means objective per k), ``kmeans_`` (the chosen
    KMeans), ``mixture_`` (its mixture), ``fit_seconds_``.

    Cost of ``fit``: sum over k of a k-means fit plus O(m k d^2) for the mixture (m = the
    BIC sample size), times the EM iterations when ``refine``.
    """

    def __init__(self, k_min=1, k_max=10, *, covariance_type="full", refine=False, n_init=1,
                 reg_covar=1e-6, max_samples=50_000, backend="auto", random_state=None):
        self.k_min = k_min
        self.k_max = k_max
        self.covariance_type = covariance_type
        self.refine = refine
        self.n_init = n_init
        self.reg_covar = reg_covar
        self.max_samples = max_samples
        self.backend = backend
        self.random_state = random_state

    def fit(self, X, y=None):
        """Choose k and cluster X. Returns self."""
        t0 = time.perf_counter()
        check_finite_rows(X, "PartitivePartitioning")
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=1)
        n = X.shape[0]
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got "
                             f"{self.covariance_type!r}")
        k_min, k_max = int(self.k_min), min(int(self.k_max), n)
        if not 1 <= k_min <= k_max:
            raise RankError(f"need 1 <= k_min <= k_max (<= n_samples={n}); got k_min="
                            f"{self.k_min}, k_max={self.k_max}")
        rng = as_rng(self.random_state)
        m = min(n, int(self.max_samples))
        sample = np.sort(rng.choice(n, m, replace=False)) if m < n else slice(None)
        Xs = X[sample]
        ks = np.arange(k_min, k_max + 1)
        bic = np.full(ks.size, np.inf)
        inertia = np.full(ks.size, np.nan)
        fits = []
        for i, k in enumerate(ks):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                km = KMeans(int(k), n_init=self.n_init, backend=self.backend,
                            random_state=int(rng.integers(2**31 - 1))).fit(X)
                gm = _partition_mixture(Xs, km.labels_[sample], km.cluster_centers_,
                                        self.covariance_type, self.reg_covar)
                if self.refine:
                    gm = _SkGaussianMixture(int(k), covariance_type=self.covariance_type,
                                            reg_covar=self.reg_covar, weights_init=gm.weights_,
                                            means_init=gm.means_,
                                            precisions_init=_precisions(gm),
                                            random_state=int(rng.integers(2**31 - 1)))
                    gm.fit(Xs)
            inertia[i] = km.inertia_
            bic[i] = gm.bic(Xs)
            fits.append((km, gm))
        best = int(np.argmin(bic))
        km, gm = fits[best]
        self.k_values_ = ks
        self.bic_ = bic
        self.inertia_ = inertia
        self.n_clusters_ = int(ks[best])
        self.kmeans_ = km
        self.mixture_ = gm
        self.labels_ = (gm.predict(X).astype(np.int32) if self.refine
                        else np.asarray(km.labels_, dtype=np.int32))
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def predict(self, X):
        """Cluster of new points: nearest k-means center (or most likely mixture component
        when ``refine``). Cost: O(n k d) (O(n k d^2) with refine)."""
        check_is_fitted(self)
        if self.refine:
            check_finite_rows(X, "PartitivePartitioning")
            X = validate_data(self, X, dtype=np.float64, reset=False)
            return self.mixture_.predict(X).astype(np.int32)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.kmeans_.predict(X)

    def fit_predict(self, X, y=None):
        """fit(X) and return ``labels_``."""
        return self.fit(X).labels_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _precisions(gm: _SkGaussianMixture) -> np.ndarray:
    """Precision matrices of a mixture from its Cholesky factors (per covariance type)."""
    pc = gm.precisions_cholesky_
    if gm.covariance_type == "full":
        return np.einsum("kij,klj->kil", pc, pc)
    if gm.covariance_type == "tied":
        return pc @ pc.T
    return pc**2
