"""``aslinearoperator``: turn what the user has into an engine operator, validating it."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.backends import arrays as ba
from workbench.errors import NonFiniteError, ShapeError
from workbench.operators.base import LinearOperator
from workbench.operators.concrete import (
    CallableOperator,
    DenseOperator,
    ScipyOperator,
    SparseOperator,
)


def _is_symmetric_dense(A, tol: float = 1e-12) -> bool:
    if A.shape[0] != A.shape[1]:
        return False
    if ba.is_torch(A):
        if A.is_sparse:
            return False
        scale = float(A.abs().max()) if A.numel() else 0.0
        return bool((A - A.T).abs().max() <= tol * max(scale, 1.0) * 10) if A.numel() else True
    if A.size == 0:
        return True
    scale = float(np.abs(A).max())
    return bool(np.abs(A - A.T).max() <= tol * max(scale, 1.0) * 10)


def aslinearoperator(A: Any, *, symmetric: bool | None = None, shape=None, dtype=None,
                     backend: str = "numpy", device=None, name: str | None = None,
                     check_finite: bool = True) -> LinearOperator:
    """Make an engine operator from a numpy array, scipy sparse matrix, torch tensor,
    scipy LinearOperator, an engine operator (returned as is), or a callable.

    Parameters
    ----------
    A : the matrix or the function ``x -> A @ x`` (a callable needs ``shape``; it receives
        1-D vectors, or use :class:`CallableOperator` to give a block ``matmat``).
    symmetric : declare symmetry. ``None`` checks dense inputs (O(n^2)) and assumes False
        for callables and sparse inputs.
    shape, dtype, backend, device : for callables only.
    check_finite : reject dense or sparse inputs that contain NaN or inf.

    Raises
    ------
    ShapeError for arrays that are not 2-D, NonFiniteError for NaN/inf entries, TypeError
    for objects that cannot act as operators.
    """
    if isinstance(A, LinearOperator):
        return A

    import scipy.sparse as sp
    from scipy.sparse.linalg import LinearOperator as SciPyLO

    if sp.issparse(A):
        if A.ndim != 2:
            raise ShapeError(f"expected a 2-D sparse matrix, got {A.ndim}-D")
        if A.dtype.kind == "c":
            raise TypeError("complex operators are not supported")
        if A.dtype.kind not in "f":
            A = A.astype(np.float64)
        if check_finite and not np.isfinite(A.data).all():
            raise NonFiniteError("sparse matrix contains NaN or inf entries")
        if symmetric is None:
            symmetric = A.shape[0] == A.shape[1] and abs(A - A.T).max() == 0
        return SparseOperator(A, symmetric=symmetric, name=name)

    if isinstance(A, SciPyLO):
        return ScipyOperator(A, symmetric=bool(symmetric), name=name)

    if ba.is_torch(A):
        if A.ndim != 2:
            raise ShapeError(f"expected a 2-D tensor, got shape {tuple(A.shape)}")
        if A.is_complex():
            raise TypeError("complex operators are not supported")
        if not A.is_floating_point():
            A = A.double()
        if check_finite and not A.is_sparse and not ba.all_finite(A):
            raise NonFiniteError("tensor contains NaN or inf entries")
        if symmetric is None:
            symmetric = _is_symmetric_dense(A)
        return DenseOperator(A, symmetric=symmetric, name=name)

    if isinstance(A, np.ndarray | np.matrix | list | tuple):
        A = np.asarray(A)
        if A.ndim != 2:
            raise ShapeError(f"expected a 2-D array, got shape {A.shape}")
        if A.dtype.kind == "c":
            raise TypeError("complex operators are not supported")
        if A.dtype.kind != "f":
            if A.dtype.kind not in "biu":
                raise TypeError(f"cannot use an array of dtype {A.dtype} as an operator")
            A = A.astype(np.float64)
        if check_finite and not np.isfinite(A).all():
            raise NonFiniteError(f"array of shape {A.shape} contains NaN or inf entries")
        if symmetric is None:
            symmetric = _is_symmetric_dense(A)
        return DenseOperator(A, symmetric=symmetric, name=name)

    if callable(A):
        if shape is None:
            raise ShapeError("a callable operator needs shape=(m, n)")
        if dtype is None:
            if backend == "torch":
                import torch

                dtype = torch.float64
            else:
                dtype = np.float64
        return CallableOperator(shape, matvec=A, dtype=dtype, backend=backend, device=device,
                                symmetric=bool(symmetric), name=name)

    raise TypeError(f"cannot make a linear operator from {type(A).__name__}")
