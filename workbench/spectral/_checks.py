"""Input validation shared by the engine's algorithms."""

from __future__ import annotations

import numbers

import numpy as np

from workbench.errors import RankError, WorkbenchError
from workbench.operators import DenseOperator, LinearOperator, SparseOperator, aslinearoperator

WHICH = ("LA", "SA", "LM", "BE")


ASYMMETRY_TOL = 1e-8  # relative; rounding in a computed symmetric matrix is ~1e-15


def asymmetry(A) -> float:
    """max |A - A^T| / max |A| of a dense (numpy / torch) or scipy sparse square matrix
    (0 for the zero matrix). Cost O(n^2) dense, O(nnz) sparse."""
    import scipy.sparse as sps

    from workbench.backends import arrays as ba

    if sps.issparse(A):
        A = sps.csr_array(A)
        scale = abs(A).max() if A.nnz else 0.0
        diff = abs(A - A.T).max() if A.nnz else 0.0
    elif ba.is_torch(A):
        if A.is_sparse:
            A = A.to_dense()
        scale = float(A.abs().max()) if A.numel() else 0.0
        diff = float((A - A.T).abs().max()) if A.numel() else 0.0
    else:
        A = np.asarray(A)
        scale = float(np.abs(A).max()) if A.size else 0.0
        diff = float(np.abs(A - A.T).max()) if A.size else 0.0
    return float(diff) / float(scale) if scale > 0 else 0.0


def as_square_operator(A, what: str, symmetric: bool = False) -> LinearOperator:
    """`A` as an engine operator; ShapeError unless it is square and non-empty.

    With ``symmetric=True`` (algorithms for symmetric operators) a matrix given as such
    (numpy, torch or scipy sparse, not yet an operator) must also be symmetric to
    ``ASYMMETRY_TOL`` relative: a ShapeError says so instead of returning a meaningless
    spectrum. Operators and callables are trusted (their symmetry cannot be checked
    without products)."""
    from workbench.errors import ShapeError

    op = aslinearoperator(A)
    op.require_square(what)
    if op.shape[0] == 0:
        raise ShapeError(f"{what} needs a non-empty operator, got shape {op.shape}")
    if symmetric and not op.symmetric and op is not A \
            and isinstance(op, DenseOperator | SparseOperator):
        rel = asymmetry(op.A)
        if rel > ASYMMETRY_TOL:
            raise ShapeError(
                f"{what} needs a symmetric matrix, but this {op.shape[0]}x{op.shape[1]} "
                f"matrix differs from its transpose by up to {rel:.2g} of its largest entry; "
                "symmetrize it ((A + A.T) / 2) or use randomized_svd for singular values")
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
