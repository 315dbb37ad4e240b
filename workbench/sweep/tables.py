"""Helpers on sweep tables: which columns are parameters, outputs, scalars; long format for
array outputs (e.g. one row per eigenvalue index); what a table offers to plot."""

from __future__ import annotations

from dataclasses import dataclass

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


def wide_table(df: pd.DataFrame, column: str, after: str | None = None,
               max_entries: int | None = None) -> pd.DataFrame | None:
    """``df`` with the array column ``column`` spread into one float column per entry,
    named ``column[0]``, ``column[1]``, ... (NaN where a row's array is shorter), placed
    after the column ``after`` (first when None or absent); ``column`` itself left out.
    Returns None when the longest array has no entries or more than ``max_entries``.
    Cost: O(rows x entries)."""
    if column not in df.columns:
        raise InputFormatError(f"the sweep table has no column {column!r}")
    arrays = [np.empty(0) if v is None else np.asarray(v, dtype=float).ravel()
              for v in df[column]]
    n = max((len(a) for a in arrays), default=0)
    if n == 0 or (max_entries is not None and n > max_entries):
        return None
    values = np.full((len(arrays), n), np.nan)
    for i, a in enumerate(arrays):
        values[i, :len(a)] = a
    out = df.drop(columns=[column]).reset_index(drop=True)
    at = out.columns.get_loc(after) + 1 if after in out.columns else 0
    for i in range(n):
        out.insert(at + i, f"{column}[{i}]", values[:, i])
    return out


ARRAY_SUFFIX = "[entry]"  # y choices naming an array output, plotted one entry at a time


@dataclass(frozen=True)
class PlotChoices:
    """What a sweep table offers to plot and what to show.

    xs: scalar columns (parameters first); ys: numeric outputs, then array outputs as
    ``"<name>[entry]"``; groups: scalar columns with 2 to 12 distinct values (colour and
    facet choices); params: the parameter columns; entries: the longest array output's
    length (1 without one); x, y, color, facet: the values to show (None: no colour /
    facet)."""

    xs: list
    ys: list
    groups: list
    params: list
    entries: int
    x: str
    y: str
    color: str | None
    facet: str | None


def plot_choices(t: pd.DataFrame, x: str = "", y: str = "", color: str | None = None,
                 facet: str | None = None, first: bool = False) -> PlotChoices:
    """The choices `t` offers, keeping the wanted x, y, color and facet where the table has
    them: else x is the first varying parameter, y the first array output (its entries
    then walk through a spectrum or per-layer values), colour the next varying parameter
    (also on the `first` table when no colour was chosen), facet none. Cost: one pass
    per column."""
    params = param_columns(t)
    outputs, scalars = output_columns(t), scalar_columns(t)
    numeric, arrays = scalar_columns(t, numeric=True), array_columns(t)
    varying = [c for c in params if t[c].nunique() > 1]
    xs = [c for c in scalars if c in params] + [c for c in scalars if c not in params]
    ys = [c for c in numeric if c in outputs] + [f"{c}{ARRAY_SUFFIX}" for c in arrays]
    groups = [c for c in scalars if 1 < t[c].nunique() <= 12]
    x = x if x in xs else (varying[0] if varying else (xs[0] if xs else ""))
    y = y if y in ys else ((f"{arrays[0]}{ARRAY_SUFFIX}" if arrays else ys[0]) if ys else "")
    if (color is not None and color not in groups) or (first and color is None):
        others = [c for c in varying if c != x and c in groups]
        color = others[0] if others else None
    facet = facet if facet in groups else None
    longest = max((int(t[c].map(len).max()) for c in arrays), default=1)
    return PlotChoices(xs, ys, groups, params, longest, x, y, color, facet)
