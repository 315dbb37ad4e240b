"""Compositions of operators: sums, scaling, shifts, products, adjoints, Gram operators,
restriction to a subspace and identity. Each counts its own applications; the operators
inside count theirs.
"""

from __future__ import annotations

import numpy as np

from workbench.backends import arrays as ba
from workbench.errors import ShapeError
from workbench.operators.base import LinearOperator


def _like(op: LinearOperator, shape, symmetric: bool, name: str) -> dict:
    return dict(shape=shape, dtype=op.dtype, backend=op.backend, device=op.device,
                symmetric=symmetric, name=name)


class IdentityOperator(LinearOperator):
    """The n x n identity on a backend."""

    def __init__(self, n: int, dtype, backend: str = "numpy", device=None):
        super().__init__((n, n), dtype, backend, device, True, "Identity")

    def _matmat(self, X):
        return X


class SumOperator(LinearOperator):
    """A + B."""

    def __init__(self, A: LinearOperator, B: LinearOperator):
        super().__init__(**_like(A, A.shape, A.symmetric and B.symmetric,
                                 f"({A.name}+{B.name})"))
        self.A, self.B = A, B

    def _matmat(self, X):
        return self.A.matmat(X) + self.B.matmat(X)

    def _rmatmat(self, Y):
        return self.A.rmatmat(Y) + self.B.rmatmat(Y)


class ScaledOperator(LinearOperator):
    """alpha * A."""

    def __init__(self, A: LinearOperator, alpha: float):
        super().__init__(**_like(A, A.shape, A.symmetric, f"{alpha:g}*{A.name}"))
        self.A, self.alpha = A, float(alpha)

    def _matmat(self, X):
        return self.alpha * self.A.matmat(X)

    def _rmatmat(self, Y):
        return self.alpha * self.A.rmatmat(Y)


class ShiftedOperator(LinearOperator):
    """A - sigma I (square A)."""

    def __init__(self, A: LinearOperator, sigma: float):
        A.require_square("a shift A - sigma I")
        super().__init__(**_like(A, A.shape, A.symmetric, f"({A.name}-{sigma:g}I)"))
        self.A, self.sigma = A, float(sigma)

    def _matmat(self, X):
        return self.A.matmat(X) - self.sigma * X

    def _rmatmat(self, Y):
        return self.A.rmatmat(Y) - self.sigma * Y


class ProductOperator(LinearOperator):
    """A @ B."""

    def __init__(self, A: LinearOperator, B: LinearOperator):
        if A.shape[1] != B.shape[0]:
            raise ShapeError(f"cannot multiply operators of shapes {A.shape} and {B.shape}")
        super().__init__(**_like(A, (A.shape[0], B.shape[1]), False, f"{A.name}@{B.name}"))
        self.A, self.B = A, B

    def _matmat(self, X):
        return self.A.matmat(self.B.matmat(X))

    def _rmatmat(self, Y):
        return self.B.rmatmat(self.A.rmatmat(Y))


class AdjointOperator(LinearOperator):
    """A^T."""

    def __init__(self, A: LinearOperator):
        super().__init__(**_like(A, (A.shape[1], A.shape[0]), A.symmetric, f"{A.name}.T"))
        self.A = A

    def _matmat(self, X):
        return self.A.rmatmat(X)

    def _rmatmat(self, Y):
        return self.A.matmat(Y)


class GramOperator(LinearOperator):
    """A^T A (side="AtA") or A A^T (side="AAt"): symmetric positive semi-definite, with the
    squared singular values of A as eigenvalues. One application costs one product with A
    and one with A^T (counted on A)."""

    def __init__(self, A: LinearOperator, side: str = "AtA"):
        if side not in ("AtA", "AAt"):
            raise ValueError(f"side must be 'AtA' or 'AAt', got {side!r}")
        n = A.shape[1] if side == "AtA" else A.shape[0]
        name = f"{A.name}.T@{A.name}" if side == "AtA" else f"{A.name}@{A.name}.T"
        super().__init__(**_like(A, (n, n), True, name))
        self.A, self.side = A, side

    def _matmat(self, X):
        if self.side == "AtA":
            return self.A.rmatmat(self.A.matmat(X))
        return self.A.matmat(self.A.rmatmat(X))


class RestrictedOperator(LinearOperator):
    """Q^T A Q for Q with orthonormal columns (n x r), in A's backend."""

    def __init__(self, A: LinearOperator, Q):
        A.require_square("restriction Q^T A Q")
        if Q.ndim != 2 or Q.shape[0] != A.shape[0]:
            raise ShapeError(f"restriction basis must have shape ({A.shape[0]}, r), "
                             f"got {tuple(Q.shape)}")
        if ba.backend_of(Q) != A.backend:
            Q = A.new_block(ba.to_numpy(Q))
        elif A.backend == "torch":
            Q = Q.to(dtype=A.dtype, device=A.device)
        else:
            Q = np.asarray(Q, dtype=A.dtype)
        r = Q.shape[1]
        super().__init__(**_like(A, (r, r), A.symmetric, f"Q^T {A.name} Q"))
        self.A, self.Q = A, Q

    def _matmat(self, X):
        return self.Q.T @ self.A.matmat(self.Q @ X)

    def _rmatmat(self, Y):
        return self.Q.T @ self.A.rmatmat(self.Q @ Y)
