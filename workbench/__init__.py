"""Spectral Workbench: see and change the spectra inside machine learning.

Subpackages are imported lazily, so ``import workbench as wb`` is cheap and a notebook user
pays only for the layers used::

    import workbench as wb
    op = wb.operators.aslinearoperator(A)
    vals, vecs = wb.spectral.top_eigs(op, k=5)
"""

from __future__ import annotations

import importlib
import os

# OpenMP threads sleep instead of spinning between parallel regions (unless the user chose
# otherwise). Set here, before any subpackage loads torch, numba or BLAS, because OpenMP
# runtimes read it once when they load. On a busy machine (a class server, 2 cores shared
# by many sessions) spinning threads starve the ones doing work: a numba Lloyd step on
# 1000 x 500 points took 56 ms with spinning and 0.5 ms without; a small eigh 6.7 s vs 0.03 s.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from workbench.errors import WorkbenchError  # noqa: E402

__version__ = "0.1.0"

_SUBPACKAGES = (
    "backends", "operators", "spectral", "hessian", "eigenspectra", "clustering",
    "lowrank", "viz", "ui", "serve", "sweep", "io",
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
