"""Spectral Workbench: see and change the spectra inside machine learning.

Subpackages are imported lazily, so ``import workbench as wb`` is cheap and a notebook user
pays only for the layers used::

    import workbench as wb
    op = wb.operators.aslinearoperator(A)
    vals, vecs = wb.spectral.top_eigs(op, k=5)
"""

from __future__ import annotations

import importlib

from workbench.errors import WorkbenchError

__version__ = "0.1.0"

_SUBPACKAGES = (
    "backends", "operators", "spectral", "hessian", "eigenspectra", "clustering",
    "lowrank", "viz", "ui", "sweep", "io",
)

__all__ = ["WorkbenchError", "__version__", *_SUBPACKAGES]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"workbench.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBPACKAGES))
