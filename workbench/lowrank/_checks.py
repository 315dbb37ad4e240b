"""Input validation shared by the low-rank methods: every bad input becomes a
:class:`~workbench.errors.WorkbenchError` whose message names the problem."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.backends import arrays as ba
from workbench.errors import NonFiniteError, RankError, ShapeError, WorkbenchError


class NotPSDError(WorkbenchError):
    """A matrix that must be symmetric positive semi-definite (a kernel) is not."""


def as_matrix(A: Any, what: str = "matrix", allow_torch: bool = True):
    """Return `A` as a 2-D float numpy array (or torch tensor when `allow_torch`), after
    checking its shape and that every entry is finite. Costs one pass over A."""
    import scipy.sparse as sps

    if sps.issparse(A):
        A = A.toarray()
    if ba.is_torch(A):
        if not allow_torch:
            A = ba.to_numpy(A)
        else:
            if A.ndim != 2:
                raise ShapeError(f"{what} must be 2-D, got shape {tuple(A.shape)}")
            if min(A.shape) == 0:
                raise ShapeError(f"{what} is empty (shape {tuple(A.shape)})")
            if not A.is_floating_point():
                A = A.double()
            if not ba.all_finite(A):
                raise NonFiniteError(f"{what} of shape {tuple(A.shape)} contains NaN or inf")
            return A
    A = np.asarray(A)
    if A.ndim != 2:
        raise ShapeError(f"{what} must be 2-D, got shape {A.shape}")
    if min(A.shape) == 0:
        raise ShapeError(f"{what} is empty (shape {A.shape})")
    if A.dtype.kind not in "fiub":
        raise ShapeError(f"{what} must be real numbers, got dtype {A.dtype}")
    if A.dtype.kind != "f":
        A = A.astype(np.float64)
    if not np.isfinite(A).all():
        bad = int((~np.isfinite(A)).sum())
        raise NonFiniteError(f"{what} of shape {A.shape} contains {bad} NaN or inf entries")
    return A


def check_rank(rank: Any, shape: tuple[int, int], what: str = "rank") -> int:
    """Validate 1 <= rank <= min(m, n); returns it as int."""
    try:
        r = int(rank)
    except (TypeError, ValueError):
        raise RankError(f"{what} must be an integer, got {rank!r}") from None
    if r != rank:
        raise RankError(f"{what} must be an integer, got {rank!r}")
    if not 1 <= r <= min(shape):
        raise RankError(f"{what} must be between 1 and min(m, n) = {min(shape)} for a "
                        f"{shape[0]}x{shape[1]} matrix, got {r}")
    return r


def check_square_symmetric(K, what: str = "kernel matrix", rtol: float = 1e-8) -> None:
    """Raise ShapeError / NotPSDError unless K is square and symmetric."""
    if K.shape[0] != K.shape[1]:
        raise ShapeError(f"{what} must be square, got shape {tuple(K.shape)}")
    Kn = ba.to_numpy(K)
    scale = float(np.abs(Kn).max()) or 1.0
    asym = float(np.abs(Kn - Kn.T).max())
    if asym > rtol * scale * 10:
        raise NotPSDError(f"{what} is not symmetric (max |K - K^T| = {asym:.3g}); "
                          "Nyström needs a symmetric positive semi-definite matrix")
    d = np.diag(Kn)
    if (d < -rtol * scale).any():
        i = int(np.argmin(d))
        raise NotPSDError(f"{what} is not positive semi-definite: diagonal entry {i} is "
                          f"{d[i]:.3g} < 0")


def numpy_f64(A) -> np.ndarray:
    """A numpy float64 copy (or view) of a numpy array / torch tensor."""
    return np.asarray(ba.to_numpy(A), dtype=np.float64)
