"""Browsing a loaded sweep table one view at a time: what the sweep explorer shows.

    b = browse_sweep("runs/widths")        # the table, read once
    v = b.at("hessian.top_eigs", x="width", y="top_k[entry]", entry=1, color="seed")
    v.rows       # the experiment's rows, entry 1 of top_k in column "top_k[1]"
    v.plotted    # the same rows, y in column v.ycol ("top_k" for every entry)
    v.table      # the table shown beside the plot (one column per entry of top_k)

A ``SweepBrowse`` keeps what its views build per experiment (its rows, the long form of an
array output, its scalar columns, the wide table): a new entry of an array output then
costs a filter of the long form. Plain pandas; the plots are ``workbench.viz.sweep``'s.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import pandas as pd

from workbench.errors import InputFormatError, WorkbenchError
from workbench.sweep.tables import ARRAY_SUFFIX, PlotChoices, long_table, plot_choices, wide_table


class NotInSweep(InputFormatError):
    """A view names an experiment or a column the sweep table does not offer (a
    hand-edited link)."""


@dataclass(frozen=True)
class SweepView:
    """One view of a sweep table (``SweepBrowse.at``).

    experiment, x, y, entry, color, facet, kind: what was asked (y: an output column or
    ``"<array output>[entry]"``; color, facet: None for none); array: y is an array
    output, plotted one entry at a time; ycol: the plotted y column (the array output's
    name for every entry, so a new entry fits a plot drawn for another); ylabel: y's
    label (``top_k[1]``); rows: the experiment's rows at this entry, y in column ylabel;
    shown: their plotted columns (x, ylabel, color, facet) then every other scalar column;
    table: what the table beside the plot shows (``shown``, or for an array output of at
    most ``SweepBrowse.WIDE_ENTRIES`` entries every entry in a column of its own: the same
    table for every entry).
    """

    experiment: str
    x: str
    y: str
    entry: int
    color: str | None
    facet: str | None
    kind: str
    array: bool
    ycol: str
    ylabel: str
    rows: pd.DataFrame
    shown: pd.DataFrame
    table: pd.DataFrame

    @property
    def plotted(self) -> pd.DataFrame:
        """``rows`` with y in column ``ycol``: what ``workbench.viz.sweep`` draws (a copy
        of the frame's labels, not of its data)."""
        return self.rows.rename(columns={self.ylabel: self.ycol})


_MISSING = object()


def _scalars(t: pd.DataFrame) -> set:
    """Columns of `t` (not metadata '_...') whose every value is a scalar or a string."""
    return {c for c in t.columns if not str(c).startswith("_")
            and t[c].map(lambda v: not hasattr(v, "__len__") or isinstance(v, str)).all()}


class SweepBrowse:
    """A loaded sweep table browsed view by view (``at``).

    table: the sweep's table (``load_sweep``); errors: failed runs in its folder; older:
    results of earlier code versions left out; experiments: the experiments it holds,
    sorted ([""] for a table without an ``_experiment`` column). What a view builds is
    kept for the next (at most MEMO entries; safe to share between sessions' threads:
    a race only builds a value twice)."""

    #: an array output with at most this many entries is shown whole in the table
    WIDE_ENTRIES = 16
    MEMO = 16

    def __init__(self, table: pd.DataFrame, errors: int = 0):
        if table.empty:
            raise InputFormatError("the sweep table holds no results")
        self.table, self.errors = table, int(errors)
        self.older = int(table.attrs.get("older_results", 0))
        self.experiments = (sorted(table["_experiment"].unique()) if "_experiment" in table
                            else [""])
        self._kept: dict = {}
        self._lock = threading.Lock()

    def _memo(self, key: tuple, build):
        """`build()` once per `key` (the memo is emptied when it holds more than MEMO)."""
        found = self._kept.get(key, _MISSING)
        if found is _MISSING:
            found = build()
            with self._lock:
                if len(self._kept) > self.MEMO:
                    self._kept.clear()
                self._kept[key] = found
        return found

    def rows(self, experiment: str) -> pd.DataFrame:
        """The rows of `experiment` (the whole table for one without experiments),
        indexed 0..n-1. Cost: one filter, once."""
        def build():
            t = self.table
            if "_experiment" in t and experiment:
                t = t[t["_experiment"] == experiment]
            return t.reset_index(drop=True)

        return self._memo(("rows", experiment), build)

    def offer(self, experiment: str) -> PlotChoices:
        """What `experiment`'s rows offer to plot (``plot_choices`` with its defaults).
        Cost: one pass per column, once."""
        return self._memo(("offer", experiment), lambda: plot_choices(self.rows(experiment)))

    def choices(self, experiment: str, x: str = "", y: str = "", color: str | None = None,
                facet: str | None = None, first: bool = False) -> PlotChoices:
        """``plot_choices`` of `experiment`'s rows, keeping the wanted x, y, color and
        facet where they have them (`first`: the first view, coloured by default). Cost:
        one pass per column."""
        return plot_choices(self.rows(experiment), x, y, color, facet, first=first)

    def at(self, experiment: str, x: str, y: str, entry: int = 0, color: str | None = None,
           facet: str | None = None, kind: str = "points") -> SweepView:
        """The view of `experiment`: `y` (entry `entry` of an array output ``"name[entry]"``)
        against `x`, coloured by `color`, one panel per value of `facet` (None: none), drawn
        as `kind`. Raises NotInSweep naming what the table does not offer (an unknown
        experiment, or x / y / color / facet), InputFormatError when no row has the entry.
        Cost: an experiment's first view builds its rows, the long form and the wide table
        (O(rows x entries)); a later entry filters the long form and picks columns."""
        if experiment not in self.experiments:
            raise NotInSweep(f"this sweep has no experiment {experiment!r}")
        c, t = self.offer(experiment), self.rows(experiment)
        unknown = [f"{name}={value!r}" for name, value, offered in (
            ("x", x, c.xs), ("y", y, c.ys), ("color", color, [None, *c.groups]),
            ("facet", facet, [None, *c.groups])) if value not in offered]
        if unknown:
            raise NotInSweep(f"not in this sweep: {'; '.join(unknown)} (showing the "
                             "defaults)")
        array = y.endswith(ARRAY_SUFFIX)
        ycol = y[: -len(ARRAY_SUFFIX)] if array else y
        ylabel = f"{ycol}[{entry}]" if array else y
        rows = t
        if array:
            long = self._memo(("long", experiment, ycol), lambda: long_table(t, ycol, "_entry"))
            rows = long[long["_entry"] == entry].rename(columns={ycol: ylabel})
        if rows.empty:
            raise InputFormatError(f"no rows have entry {entry} of {y}")
        # the plotted columns first, then every other scalar column
        scalar = self._memo(("scalar", experiment), lambda: _scalars(t))
        keep = [c for c in dict.fromkeys([x, ylabel, color, facet, *rows.columns])
                if c is not None and (c in scalar or c == ylabel)]
        shown = table = rows[keep].reset_index(drop=True)
        if array:  # built once per view: a new entry then changes nothing in the table
            others = [c for c in keep if c != ylabel]
            wide = self._memo(("wide", experiment, tuple(others), ycol), lambda: wide_table(
                t[[*others, ycol]], ycol, x, self.WIDE_ENTRIES))
            table = shown if wide is None else wide
        return SweepView(experiment, x, y, entry, color, facet, kind, array, ycol, ylabel,
                         rows, shown, table)


def browse_sweep(folder: str | os.PathLike, example: bool = False,
                 name: str | None = None) -> SweepBrowse:
    """The sweep in `folder` ready to browse: its table (``load_sweep``) and its failed
    runs; `example`: the built-in example, computed into `folder` first where it is
    missing (``example_sweep``). `name`: what messages call the folder instead of its path
    (a served page never shows a path of the server). Raises InputFormatError for a folder
    that holds no sweep or no results yet. Cost: reads every result file once (the
    example's first time: 12 small Hessian experiments)."""
    from workbench.sweep.examples import example_sweep
    from workbench.sweep.store import SweepStore, load_sweep

    try:
        if example:
            example_sweep(folder)
        table = load_sweep(folder)
        if table.empty:
            raise InputFormatError(f"the sweep folder {str(folder)!r} holds no results yet")
        return SweepBrowse(table, len(SweepStore(folder).errors()))
    except WorkbenchError as exc:
        if name is None:
            raise
        raise InputFormatError(str(exc).replace(str(folder), name)) from None
