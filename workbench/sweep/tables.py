"""Helpers on sweep tables: which columns are parameters, outputs, scalars; long format for
array outputs (e.g. one row per eigenvalue index)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.errors import InputFormatError
from workbench.sweep.store import param_columns


def output_columns(df: pd.DataFrame) -> list[str]:
    """Columns that are neither parameters nor metadata ('_...')."""
    params = set(param_columns(df))
    return [c for c in df.columns if c not in params and not str(c).startswith("_")]


def _is_array_column(s: pd.Series) -> bool:
    return s.dtype == object and s.map(lambda v: isinstance(v, (list, np.ndarray))).any()


def scalar_columns(df: pd.DataFrame, numeric: bool = False) -> list[str]:
    """Parameter and output columns holding scalars (numeric only if ``numeric``)."""
    cols = [c for c in df.columns if not str(c).startswith("_") and not _is_array_column(df[c])]
    if numeric:
        cols = [c for c in cols if pd.api.types.is_numeric_dtype(df[c])
                and not pd.api.types.is_bool_dtype(df[c])]
    return cols


def array_columns(df: pd.DataFrame) -> list[str]:
    """Output columns holding 1-d arrays (lists), e.g. the top-k eigenvalues."""
    return [c for c in df.columns if not str(c).startswith("_") and _is_array_column(df[c])]


def long_table(df: pd.DataFrame, column: str, index_name: str = "index") -> pd.DataFrame:
    """Explode the array column ``column`` into one row per entry, with its position in
    ``index_name`` (0-based) and the value (float) in ``column``. Other columns repeat."""
    if column not in df.columns:
        raise InputFormatError(f"the sweep table has no column {column!r}")
    if index_name in df.columns:
        raise InputFormatError(f"column {index_name!r} already exists; pick another index_name")
    out = df.copy()
    out[index_name] = out[column].map(lambda v: list(range(len(v))) if v is not None else [])
    out = out.explode([column, index_name], ignore_index=True)
    out = out.dropna(subset=[index_name])
    out[index_name] = out[index_name].astype(int)
    out[column] = out[column].astype(float)
    return out.reset_index(drop=True)
