"""Linear operators: dense, sparse, torch tensors, callables and their compositions.

Every spectral question in the workbench is "an operator + an algorithm"::

    op = aslinearoperator(A)          # numpy / scipy.sparse / torch / callable
    op.matvec(x); op.matmat(X)         # counted in op.num_matvecs
    op.gram("AtA"); op.shift(s); op.restrict(Q); op.to_scipy()
"""

from workbench.operators.base import LinearOperator
from workbench.operators.compose import (
    AdjointOperator,
    GramOperator,
    IdentityOperator,
    ProductOperator,
    RestrictedOperator,
    ScaledOperator,
    ShiftedOperator,
    SumOperator,
)
from workbench.operators.concrete import (
    CallableOperator,
    DenseOperator,
    ScipyOperator,
    SparseOperator,
)
from workbench.operators.convert import aslinearoperator

__all__ = [
    "AdjointOperator", "CallableOperator", "DenseOperator", "GramOperator",
    "IdentityOperator", "LinearOperator", "ProductOperator", "RestrictedOperator",
    "ScaledOperator", "ScipyOperator", "ShiftedOperator", "SparseOperator", "SumOperator",
    "aslinearoperator",
]
