"""The linear operator every algorithm of the engine runs on.

An operator knows its shape, dtype and backend ("numpy" or "torch", with a device), applies
itself to a vector (``matvec``) or to a block of vectors (``matmat``), and counts how many
vectors it has been applied to (``num_matvecs``): the cost currency of the engine.

Outputs are checked for NaN/inf on every application (an O(n) reduction, negligible next to
the product itself) so a broken operator fails at once with ``NonFiniteError`` instead of
producing a plausible-looking wrong spectrum.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from workbench.backends import arrays as ba
from workbench.errors import NonFiniteError, ShapeError


class LinearOperator:
    """Abstract linear operator of shape (m, n) on one backend.

    Subclasses implement ``_matmat(X)`` (X of shape (n, b)) and, where the adjoint is
    available, ``_rmatmat(Y)`` (Y of shape (m, b)).

    Attributes
    ----------
    shape : (m, n)
    dtype : numpy dtype or torch dtype of the operator's outputs
    backend : "numpy" or "torch"
    device : torch device (None for numpy)
    symmetric : True when the operator is known to be symmetric (Hermitian), else False
    """

    def __init__(self, shape, dtype, backend: str = "numpy", device: Any = None,
                 symmetric: bool = False, name: str | None = None):
        if len(shape) != 2 or min(shape) < 0:
            raise ShapeError(f"operator shape must be (m, n) with m, n >= 0, got {shape}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype) if backend == "numpy" else dtype
        self.backend = backend
        self.device = device
        self.symmetric = bool(symmetric)
        self.name = name or type(self).__name__
        self._count = 0
        self._count_lock = threading.Lock()

    # ------------------------------------------------------------------ counting
    @property
    def num_matvecs(self) -> int:
        """Number of vectors this operator (or its adjoint) has been applied to."""
        return self._count

    def reset_counter(self) -> None:
        with self._count_lock:
            self._count = 0

    def _add(self, k: int) -> None:
        with self._count_lock:
            self._count += k

    # ------------------------------------------------------------------ application
    def _matmat(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _rmatmat(self, Y):
        if self.symmetric:
            return self._matmat(Y)
        raise NotImplementedError(f"{self.name} has no adjoint (rmatmat)")

    def _check_out(self, Y, what: str, rows: int, cols: int):
        if getattr(Y, "ndim", None) != 2 or tuple(Y.shape) != (rows, cols):
            raise ShapeError(f"{self.name}.{what} returned shape "
                             f"{tuple(getattr(Y, 'shape', ()))}, expected ({rows}, {cols})")
        if not ba.all_finite(Y):
            raise NonFiniteError(f"{self.name}.{what} produced NaN or inf values")
        return Y

    def matmat(self, X):
        """Apply to a block X of shape (n, b); returns (m, b). Costs b matvecs."""
        if X.ndim != 2 or X.shape[0] != self.shape[1]:
            raise ShapeError(f"{self.name}: matmat expects shape ({self.shape[1]}, b), "
                             f"got {tuple(X.shape)}")
        self._add(X.shape[1])
        return self._check_out(self._matmat(X), "matmat", self.shape[0], X.shape[1])

    def matvec(self, x):
        """Apply to a vector x of shape (n,); returns (m,). Costs 1 matvec."""
        if x.ndim != 1 or x.shape[0] != self.shape[1]:
            raise ShapeError(f"{self.name}: matvec expects shape ({self.shape[1]},), "
                             f"got {tuple(x.shape)}")
        return self.matmat(x[:, None])[:, 0]

    def rmatmat(self, Y):
        """Apply the adjoint to a block Y of shape (m, b); returns (n, b). Costs b matvecs."""
        if Y.ndim != 2 or Y.shape[0] != self.shape[0]:
            raise ShapeError(f"{self.name}: rmatmat expects shape ({self.shape[0]}, b), "
                             f"got {tuple(Y.shape)}")
        self._add(Y.shape[1])
        return self._check_out(self._rmatmat(Y), "rmatmat", self.shape[1], Y.shape[1])

    def rmatvec(self, y):
        """Apply the adjoint to a vector y of shape (m,). Costs 1 matvec."""
        if y.ndim != 1 or y.shape[0] != self.shape[0]:
            raise ShapeError(f"{self.name}: rmatvec expects shape ({self.shape[0]},), "
                             f"got {tuple(y.shape)}")
        return self.rmatmat(y[:, None])[:, 0]

    def __matmul__(self, X):
        if isinstance(X, LinearOperator):
            from workbench.operators.compose import ProductOperator

            return ProductOperator(self, X)
        return self.matvec(X) if X.ndim == 1 else self.matmat(X)

    # ------------------------------------------------------------------ helpers
    @property
    def is_square(self) -> bool:
        return self.shape[0] == self.shape[1]

    def require_square(self, what: str = "this algorithm") -> None:
        """Raise ShapeError unless the operator is square."""
        if not self.is_square:
            raise ShapeError(f"{what} needs a square operator, got shape {self.shape}")

    def new_block(self, a: np.ndarray):
        """Convert a numpy block to this operator's backend, dtype and device."""
        return ba.convert(a, self.backend, self.dtype, self.device)

    def random_block(self, k: int, rng: np.random.Generator, dist: str = "gaussian",
                     side: str = "right"):
        """k random vectors (columns) the operator can be applied to (side="right") or
        its adjoint can (side="left"), drawn by numpy from `rng`."""
        n = self.shape[1] if side == "right" else self.shape[0]
        return ba.random_block(n, k, rng, self.backend, self.dtype, self.device, dist)

    def to_dense(self) -> np.ndarray:
        """The operator as a dense numpy array. Costs n matvecs (use on small cases)."""
        eye = np.eye(self.shape[1])
        return ba.to_numpy(self.matmat(self.new_block(eye)))

    # ------------------------------------------------------------------ algebra
    @property
    def T(self) -> LinearOperator:
        from workbench.operators.compose import AdjointOperator

        return self if self.symmetric else AdjointOperator(self)

    def __add__(self, other):
        from workbench.operators.compose import SumOperator

        return SumOperator(self, _as_op(other, self))

    def __sub__(self, other):
        from workbench.operators.compose import ScaledOperator, SumOperator

        return SumOperator(self, ScaledOperator(_as_op(other, self), -1.0))

    def __mul__(self, alpha):
        from workbench.operators.compose import ScaledOperator

        if not np.isscalar(alpha):
            raise TypeError("operators can be multiplied by scalars only; use @ for products")
        return ScaledOperator(self, float(alpha))

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def shift(self, sigma: float) -> LinearOperator:
        """A - sigma I (square operators only)."""
        from workbench.operators.compose import ShiftedOperator

        return ShiftedOperator(self, sigma)

    def gram(self, side: str = "AtA") -> LinearOperator:
        """A^T A (side="AtA", n x n) or A A^T (side="AAt", m x m): symmetric PSD operators
        whose eigenvalues are the squared singular values of A."""
        from workbench.operators.compose import GramOperator

        return GramOperator(self, side)

    def restrict(self, Q) -> LinearOperator:
        """Q^T A Q for a basis Q (n x r, orthonormal columns): A restricted to span(Q)."""
        from workbench.operators.compose import RestrictedOperator

        return RestrictedOperator(self, Q)

    def to_scipy(self):
        """A scipy.sparse.linalg.LinearOperator view (numpy float vectors in and out)."""
        from scipy.sparse.linalg import LinearOperator as SciPyLO

        def mm(X):
            X = np.asarray(X, dtype=float)
            X2 = X.reshape(self.shape[1], -1)
            Y = ba.to_numpy(self.matmat(self.new_block(X2)))
            return Y.reshape(self.shape[0], *X.shape[1:]) if X.ndim == 1 else Y

        def rmm(Y):
            Y = np.asarray(Y, dtype=float)
            Y2 = Y.reshape(self.shape[0], -1)
            X = ba.to_numpy(self.rmatmat(self.new_block(Y2)))
            return X.reshape(self.shape[1], *Y.shape[1:]) if Y.ndim == 1 else X

        return SciPyLO(shape=self.shape, matvec=mm, rmatvec=rmm, matmat=mm, rmatmat=rmm,
                       dtype=ba.numpy_dtype(self.dtype))

    def __repr__(self) -> str:
        dev = f", device={self.device}" if self.device is not None else ""
        sym = ", symmetric" if self.symmetric else ""
        return (f"<{self.name} {self.shape[0]}x{self.shape[1]} {self.backend} "
                f"{self.dtype}{dev}{sym}>")


def _as_op(other, ref: LinearOperator) -> LinearOperator:
    from workbench.operators.convert import aslinearoperator

    op = aslinearoperator(other)
    if op.shape != ref.shape:
        raise ShapeError(f"cannot combine operators of shapes {ref.shape} and {op.shape}")
    if op.backend != ref.backend:
        raise ShapeError(f"cannot combine a {ref.backend} operator with a {op.backend} one")
    return op
