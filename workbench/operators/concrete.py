"""Concrete operators: dense numpy / torch matrices, scipy sparse matrices, callables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from workbench.backends import arrays as ba
from workbench.operators.base import LinearOperator


class DenseOperator(LinearOperator):
    """A dense numpy array or torch tensor (CPU or CUDA; torch sparse tensors too)."""

    def __init__(self, A, symmetric: bool = False, name: str | None = None):
        backend = ba.backend_of(A)
        device = A.device if backend == "torch" else None
        super().__init__(A.shape, A.dtype, backend, device, symmetric, name or "DenseOperator")
        self.A = A

    def _matmat(self, X):
        return self.A @ X

    def _rmatmat(self, Y):
        return self.A.T @ Y

    def to_dense(self) -> np.ndarray:
        A = self.A.to_dense() if ba.is_torch(self.A) and self.A.is_sparse else self.A
        return ba.to_numpy(A).astype(np.float64, copy=True)


class SparseOperator(LinearOperator):
    """A scipy.sparse matrix or array (numpy backend)."""

    def __init__(self, A, symmetric: bool = False, name: str | None = None):
        A = A.tocsr()
        super().__init__(A.shape, A.dtype, "numpy", None, symmetric, name or "SparseOperator")
        self.A = A
        self._AT = None

    def _matmat(self, X):
        return np.asarray(self.A @ X)

    def _rmatmat(self, Y):
        if self._AT is None:
            self._AT = self.A.T.tocsr()
        return np.asarray(self._AT @ Y)

    def to_dense(self) -> np.ndarray:
        return self.A.toarray().astype(np.float64)


class CallableOperator(LinearOperator):
    """An operator defined by functions.

    matvec(x) -> y, optionally matmat(X) -> Y (used when given: blocks are usually cheaper),
    and rmatvec / rmatmat for the adjoint.
    """

    def __init__(self, shape, matvec: Callable | None = None, matmat: Callable | None = None,
                 rmatvec: Callable | None = None, rmatmat: Callable | None = None,
                 dtype: Any = np.float64, backend: str = "numpy", device: Any = None,
                 symmetric: bool = False, name: str | None = None):
        if matvec is None and matmat is None:
            raise ValueError("a callable operator needs matvec or matmat")
        super().__init__(shape, dtype, backend, device, symmetric, name or "CallableOperator")
        self._mv, self._mm, self._rmv, self._rmm = matvec, matmat, rmatvec, rmatmat

    @staticmethod
    def _columns(fn, X):
        cols = [fn(X[:, j]) for j in range(X.shape[1])]
        if not cols:
            return X[:0, :0]
        if ba.is_torch(cols[0]):
            import torch

            return torch.stack(cols, dim=1)
        return np.stack([np.asarray(c) for c in cols], axis=1)

    def _matmat(self, X):
        if self._mm is not None:
            return self._mm(X)
        return self._columns(self._mv, X)

    def _rmatmat(self, Y):
        if self._rmm is not None:
            return self._rmm(Y)
        if self._rmv is not None:
            return self._columns(self._rmv, Y)
        return super()._rmatmat(Y)


class ScipyOperator(LinearOperator):
    """Wraps an existing scipy.sparse.linalg.LinearOperator (numpy backend)."""

    def __init__(self, A, symmetric: bool = False, name: str | None = None):
        dtype = A.dtype if A.dtype is not None else np.float64
        super().__init__(A.shape, dtype, "numpy", None, symmetric, name or "ScipyOperator")
        self.A = A

    def _matmat(self, X):
        return np.asarray(self.A.matmat(X))

    def _rmatmat(self, Y):
        return np.asarray(self.A.rmatmat(Y))
