"""scikit-learn-compatible transformers around the low-rank methods (fit / transform /
inverse_transform, get_params / set_params, usable in a Pipeline)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from workbench.errors import RankError

SVD_METHODS = ("randomized", "krylov", "exact", "svd")


def _check_rank(rank, X) -> int:
    """1 <= rank <= min(n_samples, n_features), as a RankError naming both."""
    m, n = X.shape
    try:
        r = int(rank)
    except (TypeError, ValueError):
        raise RankError(f"rank must be an integer, got {rank!r}") from None
    if not 1 <= r <= min(m, n):
        raise RankError(f"rank must be between 1 and min(n_samples, n_features) = "
                        f"{min(m, n)} (n_samples={m}, n_features={n}), got {rank}")
    return r


def _dense(X) -> np.ndarray:
    import scipy.sparse as sps

    return X.toarray() if sps.issparse(X) else np.asarray(X, dtype=np.float64)


class LowRankSVD(TransformerMixin, BaseEstimator):
    """Project rows onto the top `rank` right singular vectors of the (uncentered)
    training matrix, like sklearn's TruncatedSVD but with the workbench methods.

    method: "randomized" (range finder + power_iters), "krylov" (block Krylov), "exact"
    (to 1e-8 by :func:`~workbench.lowrank.svd.exact_svd`), "svd" (LAPACK).
    Attributes after fit: components_ (k x n), singular_values_, result_ (LowRankResult).
    transform(X) = X V_k (m x k); inverse_transform(Z) = Z V_k^T.
    """

    def __init__(self, rank: int = 10, method: str = "randomized", oversample: int = 10,
                 power_iters: int = 2, seed: int = 0):
        self.rank = rank
        self.method = method
        self.oversample = oversample
        self.power_iters = power_iters
        self.seed = seed

    def fit(self, X, y=None):
        from workbench.lowrank import svd as S

        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=np.float64)
        _check_rank(self.rank, X)
        if self.method not in SVD_METHODS:
            raise ValueError(f"method must be one of {SVD_METHODS}, got {self.method!r}")
        if self.method in ("exact", "svd"):
            X = _dense(X)
        if self.method == "randomized":
            res = S.randomized_svd(X, self.rank, oversample=self.oversample,
                                   power_iters=self.power_iters, seed=self.seed,
                                   compute_error=False)
        elif self.method == "krylov":
            res = S.randomized_svd(X, self.rank, method="krylov",
                                   power_iters=self.power_iters, seed=self.seed,
                                   compute_error=False)
        elif self.method == "exact":
            res = S.exact_svd(X, self.rank, seed=self.seed, compute_error=False)
        elif self.method == "svd":
            res = S.truncated_svd(X, self.rank, compute_error=False)
        else:
            raise ValueError(f"method must be one of {SVD_METHODS}, got {self.method!r}")
        self.result_ = res
        self.components_ = np.asarray(res.factors["Vt"])
        self.singular_values_ = res.singular_values
        return self

    def transform(self, X):
        check_is_fitted(self, "components_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=np.float64,
                          reset=False)
        return np.asarray(X @ self.components_.T)

    def inverse_transform(self, Z):
        check_is_fitted(self, "components_")
        return np.asarray(Z, dtype=np.float64) @ self.components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class CURSelector(TransformerMixin, BaseEstimator):
    """Column subset selection as a transformer: keeps `columns` actual features of X
    (chosen by leverage scores or pivoted QR on the training matrix).

    transform(X) = X[:, columns_]; inverse_transform(Z) = Z @ (C^+ A) reconstructs all
    features from the kept ones (the CX decomposition A ~ C C^+ A of the training data).
    """

    def __init__(self, rank: int = 10, columns: int | None = None,
                 selection: str = "leverage", seed: int = 0):
        self.rank = rank
        self.columns = columns
        self.selection = selection
        self.seed = seed

    def fit(self, X, y=None):
        import scipy.linalg

        from workbench.lowrank.cur import select_columns

        X = _dense(validate_data(self, X, accept_sparse=["csr", "csc"], dtype=np.float64))
        k = _check_rank(self.rank, X)
        c = min(X.shape[1], self.columns or 2 * k)
        if c < k:
            raise RankError(f"columns ({c}) must be at least rank ({k})")
        self.columns_ = select_columns(X, c, k, self.selection, self.seed)
        C = X[:, self.columns_]
        self.interpolation_ = scipy.linalg.pinv(C) @ X
        return self

    def transform(self, X):
        check_is_fitted(self, "columns_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=np.float64,
                          reset=False)
        return X[:, self.columns_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def inverse_transform(self, Z):
        check_is_fitted(self, "columns_")
        return np.asarray(Z, dtype=np.float64) @ self.interpolation_


class MatrixCompleter(TransformerMixin, BaseEstimator):
    """Impute missing entries (NaN) of a matrix assumed low-rank: fit_transform(X) fills
    the NaNs with the completed U V^T (observed entries kept as given).

    method: "altmin" (alternating minimization) or "softimpute". result_ holds the
    CompletionResult (history, recovered flag)."""

    def __init__(self, rank: int = 5, method: str = "altmin", max_iters: int = 100,
                 seed: int = 0):
        self.rank = rank
        self.method = method
        self.max_iters = max_iters
        self.seed = seed

    def fit(self, X, y=None):
        from workbench.lowrank.completion import alternating_minimization, soft_impute

        X = np.asarray(X, dtype=np.float64)
        fn = {"altmin": alternating_minimization, "softimpute": soft_impute}.get(self.method)
        if fn is None:
            raise ValueError(f"method must be 'altmin' or 'softimpute', got {self.method!r}")
        self.result_ = fn(X, None, self.rank, max_iters=self.max_iters, seed=self.seed)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self, "result_")
        X = np.asarray(X, dtype=np.float64)
        full = self.result_.X
        if X.shape != full.shape:
            from workbench.errors import ShapeError

            raise ShapeError(f"MatrixCompleter completes the matrix it was fitted on "
                             f"({full.shape}), got {X.shape}")
        return np.where(np.isfinite(X), X, full)
