"""Input checks shared by the clustering estimators; errors name the problem."""

from __future__ import annotations

import numpy as np

from workbench.errors import NonFiniteError, RankError


def check_finite_rows(X, what: str) -> None:
    """Raise NonFiniteError naming the first bad row when a numeric X has NaN or inf.
    Non-array input is left to scikit-learn's validation. Cost: one pass over X."""
    try:
        A = np.asarray(X)
    except Exception:  # noqa: BLE001 - ragged or odd input: scikit-learn reports it
        return
    if A.dtype.kind not in "fc" or A.ndim != 2:
        return
    with np.errstate(all="ignore"):
        if np.isfinite(A.sum()):     # one fast reduction; the row scan only when needed
            return
    bad = ~np.isfinite(A).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise NonFiniteError(
            f"{what}: input X contains NaN or inf in {rows.size} row(s) (first: row "
            f"{rows[0]}); remove or impute them first")


def check_n_clusters(k, n: int) -> None:
    """Raise RankError unless 1 <= k <= n."""
    if k < 1 or k > n:
        raise RankError(f"n_clusters={k} is out of range: need 1 <= n_clusters <= n_samples="
                        f"{n}")


def as_rng(random_state) -> np.random.Generator:
    """numpy Generator from an int, None, a Generator or a legacy RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    return np.random.default_rng(random_state)
