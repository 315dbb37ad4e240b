"""Input validation shared by the engine's algorithms."""

from __future__ import annotations

import numbers

import numpy as np

from workbench.errors import RankError, WorkbenchError
from workbench.operators import LinearOperator, aslinearoperator

WHICH = ("LA", "SA", "LM", "BE")


def as_square_operator(A, what: str) -> LinearOperator:
    """`A` as an engine operator; ShapeError unless it is square and non-empty."""
    op = aslinearoperator(A)
    op.require_square(what)
    if op.shape[0] == 0:
        from workbench.errors import ShapeError

        raise ShapeError(f"{what} needs a non-empty operator, got shape {op.shape}")
    return op


def check_rank(k, n: int, name: str = "k", what: str = "eigenpairs") -> int:
    """`k` as an int in [1, n]; RankError otherwise."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise RankError(f"{name} must be an integer, got {k!r}")
    k = int(k)
    if k < 1 or k > n:
        raise RankError(f"{name}={k} {what} requested from an operator of dimension {n}; "
                        f"{name} must be between 1 and {n}")
    return k


def check_positive_int(x, name: str, minimum: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or int(x) < minimum:
        raise WorkbenchError(f"{name} must be an integer >= {minimum}, got {x!r}")
    return int(x)


def check_which(which: str) -> str:
    w = str(which).upper()
    if w not in WHICH:
        raise WorkbenchError(f"which={which!r} is not one of {WHICH} (largest algebraic, "
                             "smallest algebraic, largest magnitude, both ends)")
    return w


def select(theta: np.ndarray, k: int, which: str) -> np.ndarray:
    """Indices of the `k` wanted values among `theta` (any order), ordered as `which`
    reports them: LA descending, SA ascending, LM descending |theta|, BE ascending."""
    k = min(k, len(theta))
    order = np.argsort(theta, kind="stable")
    if which == "LA":
        return order[::-1][:k]
    if which == "SA":
        return order[:k]
    if which == "LM":
        return np.argsort(-np.abs(theta), kind="stable")[:k]
    k_hi = (k + 1) // 2
    k_lo = k - k_hi
    idx = np.concatenate([order[:k_lo], order[len(order) - k_hi:]])
    return idx[np.argsort(theta[idx], kind="stable")]
