"""Exceptions raised for bad input. All are ValueErrors, so ``except ValueError`` works too.

Each message names the problem (shape, NaN, rank out of range, ...) so that a dashboard can
show it to the user verbatim.
"""

from __future__ import annotations


class WorkbenchError(ValueError):
    """Base class of every input error raised by Spectral Workbench."""


class ShapeError(WorkbenchError):
    """An array or operator has the wrong shape (e.g. non-square where square is needed)."""


class NonFiniteError(WorkbenchError):
    """NaN or inf found in an input or in an operator's output."""


class RankError(WorkbenchError):
    """A requested rank / number of eigenpairs / clusters is out of range."""


class InputFormatError(WorkbenchError):
    """A file or object of a kind that cannot (or must not) be loaded, e.g. a pickle."""


class ConvergenceWarning(UserWarning):
    """An iterative method stopped before reaching its tolerance."""


class Cancelled(WorkbenchError):
    """A long computation was stopped at the user's request (the Cancel button beside an
    explorer's progress bar): raised between steps by the progress callback."""
