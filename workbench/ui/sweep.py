"""Sweep explorer: load a saved sweep folder and browse it (choose x, y, colour, facet).

The table comes from ``workbench.sweep.browse.browse_sweep`` (Parquet files written by
``run_sweep``), each view from its ``SweepBrowse.at``; the plot from
``workbench.viz.sweep.sweep_plot``. With no folder given the explorer shows the built-in
example (top Hessian eigenvalue vs width, coloured by seed), computing it once in the
background if it is not on disk yet. Array outputs (e.g. the top-k eigenvalues) are plotted
one entry at a time, chosen with the "entry" slider.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pandas as pd
import panel as pn
import param

from workbench.errors import InputFormatError, WorkbenchError
from workbench.paths import is_sweep_folder, under_root
from workbench.sweep.browse import NotInSweep, SweepBrowse, SweepView
from workbench.sweep.settings import BrowseSettings
from workbench.ui.base import WIDE, Explorer, col, control, text
from workbench.ui.live import LiveFigure, hold
from workbench.ui.session import later, while_session_lives
from workbench.viz import sweep as vz


class SweepExplorer(Explorer, BrowseSettings):
    """Browse a saved sweep: y against x, coloured and faceted by parameters (the
    settings are ``BrowseSettings``' in ``workbench.sweep.settings``)."""

    title = "Sweep explorer"
    description = ("Browse a saved parameter sweep: an output against a parameter, coloured "
                   "by another (e.g. top Hessian eigenvalue vs width, coloured by seed).")
    url_params = ("folder", "experiment", *BrowseSettings.VIEW)

    reload = param.Event(label="Reload folder",
                         doc="Read the folder again (results of a running sweep)")
    loaded = param.Integer(default=0, precedence=-1, doc="Counts tables shown (for tests)")

    def __init__(self, root: str | os.PathLike | None = None, **params):
        """`root`: the server's sweeps root (``apps/sweep.py`` passes
        ``workbench.paths.sweeps_root()``): the folder box and ``?folder=`` then take only
        names of sweep folders under it (``workbench.paths.under_root``), and the page
        never shows a server path. None (a notebook): any path the user gives."""
        super().__init__(**params)
        self._root = None if root is None else Path(root)
        self._browse: SweepBrowse | None = None   # the loaded table
        self._view: SweepView | None = None       # the view shown
        self._where = ""                          # what the page calls the folder
        self._table_gen = 0
        # rendered to Bokeh once per view; a new entry only writes into its sources
        self._plot = LiveFigure("wb-sweep-plot", min_height=380)
        # what the rendered plot shows: (view, its layers); None: rendered anew on any change
        self._live: tuple | None = None
        self._info = text()
        self._tabulator = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, pagination="local",
                                               page_size=10, height=320, show_index=False, **WIDE)
        self._entry_widget = control(self.param.entry, fast=True)
        hint = ("a folder under the server's sweeps root, e.g. widths" if self._root
                is not None else "e.g. runs/widths")
        self._folder_input = control(self.param.folder,
                                     placeholder=f"{hint} (empty: the example)")
        self.param.watch(self.guarded(self._load), ["folder", "reload"])
        self.param.watch(self.guarded(self._on_experiment), ["experiment"])
        self.param.watch(self.guarded(self._refresh), list(self.VIEW))
        self.guarded(self._load)()

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, **params) -> SweepExplorer:
        """The explorer on a sweep folder of yours (any path: in a notebook there is no
        sweeps root), e.g. ``SweepExplorer.from_folder("runs/widths")``. Returns the
        explorer; the table loads in the background (``loaded`` counts tables shown)."""
        return cls(folder=str(Path(folder).expanduser()), **params)

    # ------------------------------------------------------------------ data
    def _path(self) -> Path | None:
        """The folder to load: None for the example (an empty box); in a notebook the path
        as given; on a served page the resolved sweep folder the name gives under the
        sweeps root, else OutsideRootError (one message, whatever the reason)."""
        name = self.folder.strip()
        if not name:
            return None
        if self._root is None:
            return Path(name).expanduser()
        return under_root(self._root, name, accept=is_sweep_folder)

    def _load(self, *events) -> None:
        """Load the folder's table in the background (the example's when the box is
        empty; read anew, past the cache, for the reload button's `events`); a bad name
        raises, and the guarded caller shows the message."""
        from workbench.sweep.browse import browse_sweep
        from workbench.sweep.examples import example_folder
        from workbench.sweep.store import SweepStore

        try:
            path = self._path()  # raises for a name outside the sweeps root (a message)
            if path is not None and not path.is_dir():  # (a notebook's path: the user's own)
                raise InputFormatError(f"sweep folder {str(path)!r} does not exist")
        except WorkbenchError:
            # a table still on its way (the example, asked for before a link's ?folder=
            # was applied) must not replace the message
            self.supersede("load")
            raise
        target = path if path is not None else example_folder()
        # what the page calls the folder: on a served page never a path of the server
        shown = str(target) if self._root is None else (
            self.folder.strip() if path is not None else "the example")
        name = None if self._root is None else shown  # (a notebook's messages: its path)
        label = ("Computing the example sweep (12 Hessian experiments)…" if path is None
                 else "Loading the sweep…")
        self.run_background(("sweep", str(target), SweepStore(target).stamp()),
                            lambda: browse_sweep(target, example=path is None, name=name),
                            while_session_lives(lambda b: self._set_table(b, shown)),
                            channel="load", label=label,
                            use_cache=not any(e.name == "reload" for e in events))

    def _set_table(self, browse: SweepBrowse, where: str) -> None:
        self._browse, self._where = browse, where  # (before the objects: their watcher reads it)
        self.param.experiment.objects = list(browse.experiments)
        if self.experiment not in browse.experiments:
            self.experiment = browse.experiments[0]  # its watcher shows the new table, once
        else:
            self._on_experiment()

    def _on_experiment(self, *_events) -> None:
        b = self._browse
        if b is None:
            return
        if self.experiment not in b.experiments:  # a hand-edited link: the first instead
            asked, self.experiment = self.experiment, b.experiments[0]  # (its watcher draws it)
            raise InputFormatError(f"this sweep has no experiment {asked!r}: showing "
                                   f"{self.experiment!r}")
        self.offer(b.choices(self.experiment, **self.wanted(), first=self.loaded == 0))
        self._info.object = vz.sweep_info(b, self.experiment, self._where)
        self._refresh()
        self.loaded += 1

    # ------------------------------------------------------------------ view
    def _refresh(self, *_events) -> None:
        """Show the current view: written into the rendered plot when only the entry
        changed (the table follows once the entry rests), else rendered anew."""
        b = self._browse
        if b is None or not self.x or not self.y:
            return
        try:
            v = b.at(self.experiment, **self.wanted(), entry=self.entry, kind=self.kind)
        except NotInSweep:  # a hand-edited link: the table's own choices instead
            self._on_experiment()
            raise
        self._view = v
        written = self._plot_view(v)
        self._entry_widget.disabled = not v.array
        self._table_gen += 1
        if written:  # a new entry: the table once it has rested (at once in a notebook)
            later(partial(self._show_table, self._table_gen), self.TABLE_DELAY_MS)
        else:  # a new figure: the table with it
            self._show_table(self._table_gen)

    #: a new column (top_k[1] after top_k[0]) rebuilds the Tabulator in the browser, which
    #: would delay the plot's redraw of every entry step: the table waits for the entry to
    #: rest this long
    TABLE_DELAY_MS = 200

    def _show_table(self, gen: int) -> None:
        """Show the view's table, unless a newer view (`_table_gen` past `gen`) waits."""
        if gen == self._table_gen and self._tabulator.value is not self._view.table:
            self._tabulator.value = self._view.table

    def _plot_view(self, v: SweepView) -> bool:
        """Write view `v` into the rendered plot when only its data changed (a new entry of
        an array output: no new figure, the browser redraws only the glyphs), else render
        it anew (a new table, x, colour groups, facet, kind or axis scale); the axes fit
        the data (the reset tool returns to this fit). Returns True when it was written."""
        logx, logy = self.logx, self.logy
        shown = (self._browse, v.experiment, v.x, v.ycol, v.color, v.facet, v.kind, logx, logy)
        layers = None if v.facet else vz.sweep_layers(v.plotted, v.x, v.ycol, v.color, v.kind)
        live = None if layers is None else (shown, [(la.element, la.label) for la in layers])
        with hold():  # one message to the browser: one redraw
            written = live is not None and live == self._live and self._plot.write_layers(
                [vz.layer_columns(layer) for layer in layers])
            if written:
                self._plot.set_axis_label("y", v.ylabel)
            else:
                self._plot.render(lambda: vz.sweep_plot(
                    v.plotted, v.x, v.ycol, color=v.color, facet=v.facet, kind=v.kind,
                    logx=logx, logy=logy, ylabel=v.ylabel), key=(v.y, v.entry, *shown, v.ylabel))
            if layers is not None:
                self._plot.write_columns(vz.sweep_limits(layers, logx, logy))
        self._live = live  # (None: a faceted plot, rendered anew on any change)
        return written

    def export_data(self) -> pd.DataFrame | None:
        return None if self._view is None else self._view.shown

    def controls(self) -> list:
        p = self.param
        return [self._folder_input, control(p.experiment), control(p.y), self._entry_widget,
                control(p.x), control(p.color), control(p.facet),
                control(p.kind, widget=pn.widgets.RadioButtonGroup),
                pn.Row(control(p.logx), control(p.logy)),
                control(p.reload, button_type="primary")]

    def view(self):
        return col(self._info, self._plot, self._tabulator)
