"""Sweep explorer: load a saved sweep folder and browse it (choose x, y, colour, facet).

The table comes from ``workbench.sweep.load_sweep`` (Parquet files written by
``run_sweep``); the plot from ``workbench.viz.sweep.sweep_plot``. With no folder given the
explorer shows the built-in example (top Hessian eigenvalue vs width, coloured by seed),
computing it once in the background if it is not on disk yet. Array outputs (e.g. the
top-k eigenvalues) are plotted one entry at a time, chosen with the "entry" slider.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import panel as pn
import param

from workbench.errors import InputFormatError, WorkbenchError
from workbench.paths import is_sweep_folder, under_root
from workbench.sweep.tables import ARRAY_SUFFIX
from workbench.ui.base import Explorer, undelayed
from workbench.ui.live import LiveFigure, hold
from workbench.ui.session import later, while_session_lives
from workbench.viz import sweep as vz

NONE = "(none)"


def _some(choice: str) -> str | None:
    return None if choice == NONE else choice


class SweepExplorer(Explorer):
    """Browse a saved sweep: y against x, coloured and faceted by parameters."""

    title = "Sweep explorer"
    description = ("Browse a saved parameter sweep: an output against a parameter, coloured "
                   "by another (e.g. top Hessian eigenvalue vs width, coloured by seed).")
    url_params = ("folder", "experiment", "x", "y", "entry", "color", "facet", "kind",
                  "logx", "logy")

    folder = param.String(default="", doc="Sweep folder (empty: the example); on a served "
                                          "page a name under the server's sweeps root")
    experiment = param.Selector(default="", objects=[""], check_on_set=False,
                                doc="Experiment (a folder may hold several)")
    x = param.Selector(default="", objects=[""], check_on_set=False, doc="x axis")
    y = param.Selector(default="", objects=[""], check_on_set=False, doc="y axis")
    entry = param.Integer(default=0, bounds=(0, 9),
                          doc="Entry of an array output (0 = first, e.g. the largest)")
    color = param.Selector(default=NONE, objects=[NONE], check_on_set=False,
                           doc="Colour by")
    facet = param.Selector(default=NONE, objects=[NONE], check_on_set=False,
                           doc="One panel per value of")
    kind = param.Selector(default="points", objects=["points", "lines", "mean"],
                          doc="points, points joined by colour, or mean +- sd")
    logx = param.Boolean(default=False, doc="log x")
    logy = param.Boolean(default=False, doc="log y")
    reload = param.Event(doc="Read the folder again (results of a running sweep)")
    loaded = param.Integer(default=0, precedence=-1, doc="Counts tables shown (for tests)")

    def __init__(self, root: str | os.PathLike | None = None, **params):
        """`root`: the server's sweeps root (``apps/sweep.py`` passes
        ``workbench.paths.sweeps_root()``): the folder box and ``?folder=`` then take only
        names of sweep folders under it (``workbench.paths.under_root``), and the page
        never shows a server path. None (a notebook): any path the user gives."""
        super().__init__(**params)
        self._root = None if root is None else Path(root)
        self._table: pd.DataFrame | None = None
        self._table_version = 0
        self._memo: dict = {}
        self._table_gen = 0
        self._plot_df = pd.DataFrame()
        self._table_df = self._plot_df   # what the table shows (see _table_frame)
        # rendered to Bokeh once per view; a new entry only writes into its sources
        self._plot = LiveFigure("wb-sweep-plot", min_height=380)
        # what the rendered plot shows (None: a faceted plot, rendered anew on any change)
        self._live: dict | None = None
        self._info = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._tabulator = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, pagination="local",
                                               page_size=10, sizing_mode="stretch_width",
                                               height=320, show_index=False)
        self._errors, self._where = 0, ""
        self._experiments: list = []   # the loaded table's experiments
        self._choices = None           # its PlotChoices for the experiment shown
        self._entry_widget = undelayed(pn.widgets.IntSlider.from_param(
            self.param.entry, name="Entry of an array output"))
        hint = ("a folder under the server's sweeps root, e.g. widths" if self._root
                is not None else "e.g. runs/widths")
        self._folder_input = pn.widgets.TextInput.from_param(
            self.param.folder, placeholder=f"{hint} (empty: the example)", name="Sweep folder")
        self.param.watch(self._on_folder, ["folder", "reload"])
        self.param.watch(self.guarded(self._on_experiment), ["experiment"])
        self.param.watch(self._on_view, ["x", "y", "entry", "color", "facet", "kind", "logx",
                                         "logy"])
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
        text = self.folder.strip()
        if not text:
            return None
        if self._root is None:
            return Path(text).expanduser()
        return under_root(self._root, text, accept=is_sweep_folder)

    def _load(self, use_cache: bool = True) -> None:
        """Load the folder's table in the background (the example's when the box is
        empty); a bad name raises, and the guarded caller shows the message."""
        from workbench.sweep.examples import example_folder, example_sweep
        from workbench.sweep.store import SweepStore, load_sweep

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

        def work():
            try:
                if path is None:
                    example_sweep(target)
                table = load_sweep(target)
                return table, len(SweepStore(target).errors())
            except WorkbenchError as exc:
                if self._root is None:
                    raise
                raise InputFormatError(str(exc).replace(str(target), shown)) from None

        label = ("Computing the example sweep (12 Hessian experiments)…" if path is None
                 else "Loading the sweep…")
        self.run_background(("sweep", str(target), SweepStore(target).stamp()), work,
                            while_session_lives(lambda res: self._set_table(res, shown)),
                            channel="load", label=label, use_cache=use_cache)

    def _on_folder(self, *events) -> None:
        forced = any(e.name == "reload" for e in events)
        self.guarded(self._load)(use_cache=not forced)

    def _set_table(self, result, where: str) -> None:
        table, n_errors = result
        if table.empty:
            raise InputFormatError(f"the sweep folder {where!r} holds no results yet")
        self._table = table
        self._table_version += 1
        exps = sorted(table["_experiment"].unique()) if "_experiment" in table else [""]
        self._experiments = exps  # (before the objects: the Select's watcher reads it)
        self.param.experiment.objects = list(exps)
        self._errors, self._where = n_errors, where
        if self.experiment not in exps:
            self.experiment = exps[0]  # its watcher shows the new table, once
        else:
            self._on_experiment()

    def _cached(self, what: str, build, *key):
        """`build()` once per loaded table, experiment and `key` (a new entry reuses the
        experiment's rows and the long form of its array output)."""
        full = (what, self._table_version, self.experiment, *key)
        if full not in self._memo:
            if len(self._memo) > 16:
                self._memo.clear()
            self._memo[full] = build()
        return self._memo[full]

    def _experiment_table(self) -> pd.DataFrame:
        def build():
            t = self._table
            if t is None:
                return pd.DataFrame()
            if "_experiment" in t and self.experiment:
                t = t[t["_experiment"] == self.experiment]
            return t.reset_index(drop=True)

        return self._cached("rows", build)

    def _on_experiment(self, *_events) -> None:
        from workbench.sweep.tables import plot_choices

        if self._experiments and self.experiment not in self._experiments:
            asked = self.experiment  # a hand-edited link: the first experiment instead
            self.experiment = self._experiments[0]  # (its watcher draws it)
            raise InputFormatError(f"this sweep has no experiment {asked!r}: showing "
                                   f"{self.experiment!r}")
        t = self._experiment_table()
        if t.empty:
            return
        c = plot_choices(t, self.x, self.y, _some(self.color), _some(self.facet),
                         first=self.loaded == 0)
        # the options change after the values are chosen: a Select widget whose value
        # leaves its options picks the first option at once (y = top_eig instead of the
        # array output, when the table arrived after the page was built)
        self._choices = c  # (copies below: a value set outside them joins the objects)
        self.param.x.objects, self.param.y.objects = list(c.xs), list(c.ys)
        self.param.color.objects = [NONE, *c.groups]
        self.param.facet.objects = [NONE, *c.groups]
        self.param.entry.bounds = (0, max(1, c.entries - 1))
        with param.parameterized.batch_call_watchers(self):
            self.param.update(x=c.x, y=c.y, color=c.color or NONE, facet=c.facet or NONE,
                              entry=min(self.entry, self.param.entry.bounds[1]))
        failed = f", {self._errors} failed" if self._errors else ""
        older = self._table.attrs.get("older_results", 0)
        if older:
            failed += f" ({older} older results of earlier code versions left out)"
        self._info.object = (f"**{len(t)} results** of `{self.experiment}`{failed} · "
                             f"parameters: {', '.join(c.params) or '—'} · folder "
                             f"`{self._where}`")
        self._refresh()
        self.loaded += 1

    # ------------------------------------------------------------------ view
    def _on_view(self, *_events) -> None:
        self.guarded(self._refresh)()

    def plot_table(self) -> pd.DataFrame:
        """The rows behind the plot: the chosen experiment, with an array output reduced
        to its selected entry (long format via ``workbench.sweep.long_table``)."""
        from workbench.sweep.tables import long_table

        t = self._experiment_table()
        if t.empty or not self.y:
            return pd.DataFrame()
        y = self.y
        if y.endswith(ARRAY_SUFFIX):
            col = y[: -len(ARRAY_SUFFIX)]
            long = self._cached("long", lambda: long_table(t, col, "_entry"), col)
            t = long[long["_entry"] == self.entry].rename(columns={col: self._y_label()})
        return t

    def _y_label(self) -> str:
        if self.y.endswith(ARRAY_SUFFIX):
            return f"{self.y[: -len(ARRAY_SUFFIX)]}[{self.entry}]"
        return self.y

    def _y_column(self) -> str:
        """The plotted y column's name: the same for every entry of an array output, so
        that a new entry fits the rendered plot's sources."""
        return self.y[: -len(ARRAY_SUFFIX)] if self.y.endswith(ARRAY_SUFFIX) else self.y

    def _refresh(self) -> None:
        if self._table is None or not self.x or not self.y:
            return
        c = self._choices
        unknown = [] if c is None else [
            f"{name}={value!r}" for name, value, offered in (
                ("x", self.x, c.xs), ("y", self.y, c.ys), ("color", self.color,
                [NONE, *c.groups]), ("facet", self.facet, [NONE, *c.groups]))
            if value not in offered]
        if unknown:  # a hand-edited link: the table's own choices for these instead
            self._on_experiment()
            raise InputFormatError(f"not in this sweep: {'; '.join(unknown)} (showing "
                                   "the defaults)")
        df = self.plot_table()
        ylab = self._y_label()
        color = None if self.color == NONE else self.color
        facet = None if self.facet == NONE else self.facet
        if df.empty:
            raise InputFormatError(f"no rows have entry {self.entry} of {self.y}")
        ycol = self._y_column()
        plotted = df.rename(columns={ylab: ycol})
        view = (self._table_version, self.experiment, self.x, ycol, color, facet, self.kind,
                self.logx, self.logy)
        written = self._write_plot(plotted, view, ylab)
        if not written:
            self._draw_plot(plotted, view, ylab)
        self._entry_widget.disabled = not self.y.endswith(ARRAY_SUFFIX)
        # the table's columns: the plotted ones first, then every other scalar column
        scalar = self._cached("scalar", lambda: {
            c for c in df.columns if not str(c).startswith("_")
            and df[c].map(lambda v: not hasattr(v, "__len__") or isinstance(v, str)).all()},
            self.y)
        keep = [c for c in dict.fromkeys([self.x, ylab, color, facet, *df.columns])
                if c is not None and (c in scalar or c == ylab)]
        self._plot_df = df[keep].reset_index(drop=True)
        self._table_df = self._table_frame(keep, ylab)
        if written:
            self._show_table_later()
        else:  # a new figure: the table with it
            self._table_gen += 1
            self._show_table()

    #: an array output with at most this many entries is shown whole in the table
    WIDE_ENTRIES = 16

    def _table_frame(self, keep: list, ylab: str) -> pd.DataFrame:
        """What the table shows: the plotted rows (``keep`` columns); for an array output
        of at most WIDE_ENTRIES entries, every entry in a column of its own (top_k[0],
        top_k[1], ...: ``workbench.sweep.tables.wide_table``) for every row of the
        experiment, built once per view: a new entry then changes nothing in the table
        (a Tabulator given new columns rebuilds them all, ~50-100 ms of the server's
        event loop per step: issue #18)."""
        from workbench.sweep.tables import wide_table

        if not self.y.endswith(ARRAY_SUFFIX):
            return self._plot_df
        col, others = self.y[: -len(ARRAY_SUFFIX)], [c for c in keep if c != ylab]
        wide = self._cached("wide", lambda: wide_table(
            self._experiment_table()[[*others, col]], col, self.x, self.WIDE_ENTRIES),
            tuple(others), col)
        return self._plot_df if wide is None else wide

    TABLE_DELAY_MS = 200

    def _show_table_later(self) -> None:
        """After a new entry was written into the plot: show the rows in the table once the
        entry has rested TABLE_DELAY_MS (served), or now (notebook). A new column (top_k[1]
        after top_k[0]) rebuilds the Tabulator in the browser, which would otherwise delay
        the plot's redraw of every step."""
        self._table_gen += 1
        gen = self._table_gen

        def show():
            if gen == self._table_gen:  # else a newer view is waiting its turn
                self._show_table()

        later(show, self.TABLE_DELAY_MS)

    def _show_table(self) -> None:
        if self._tabulator.value is not self._table_df:
            self._tabulator.value = self._table_df

    def _draw_plot(self, df: pd.DataFrame, view: tuple, ylab: str) -> None:
        """Render the plot anew (a new table, x, colour, facet, kind or axis scale)."""
        x, y, color, facet, kind, logx, logy = view[2:]
        self._live = None
        with hold():
            self._plot.render(lambda: vz.sweep_plot(df, x, y, color=color, facet=facet,
                                                    kind=kind, logx=logx, logy=logy,
                                                    ylabel=ylab),
                              key=(self._table, self.y, self.entry, *view[1:], ylab))
            if facet is None:
                layers = vz.sweep_layers(df, x, y, color, kind)
                self._fit_ranges(layers, logx, logy)
                self._live = {"view": view, "layers": [(la.element, la.label) for la in layers]}

    def _write_plot(self, df: pd.DataFrame, view: tuple, ylab: str) -> bool:
        """Write `df` into the rendered plot when only the data changed (a new entry of an
        array output): no new figure, so the browser redraws only the glyphs. Returns False
        when the plot must be rendered anew (another view, other colour groups)."""
        live = self._live
        if live is None or live["view"] != view:
            return False
        x, y, color, _, kind, logx, logy = view[2:]
        layers = vz.sweep_layers(df, x, y, color, kind)
        if [(la.element, la.label) for la in layers] != live["layers"]:
            return False
        with hold():  # one message to the browser: one redraw
            if not self._plot.write_layers([vz.layer_columns(layer) for layer in layers]):
                return False
            self._fit_ranges(layers, logx, logy)
            self._plot.set_axis_label("y", ylab)
        return True

    def _fit_ranges(self, layers, logx: bool, logy: bool) -> None:
        """Fit the plot's axes to the layers' data (10% padding, in log10 on a log axis);
        the reset tool returns to this fit. A categorical axis keeps its factors."""
        for axis, log in (("x", logx), ("y", logy)):
            extent = vz.layers_extent(layers, axis, log)
            if extent is not None:
                self._plot.set_range(axis, *vz.padded(*extent, log=log), reset=True)

    def export_data(self) -> pd.DataFrame | None:
        return self._plot_df

    def controls(self) -> list:
        reload_btn = pn.widgets.Button.from_param(self.param.reload, name="Reload folder",
                                                  button_type="primary")
        return [
            self._folder_input,
            pn.widgets.Select.from_param(self.param.experiment, name="Experiment"),
            pn.widgets.Select.from_param(self.param.y, name="y (output)"),
            self._entry_widget,
            pn.widgets.Select.from_param(self.param.x, name="x"),
            pn.widgets.Select.from_param(self.param.color, name="Colour by"),
            pn.widgets.Select.from_param(self.param.facet, name="Facet by"),
            pn.widgets.RadioButtonGroup.from_param(self.param.kind, name="Show"),
            pn.Row(pn.widgets.Checkbox.from_param(self.param.logx, name="log x"),
                   pn.widgets.Checkbox.from_param(self.param.logy, name="log y")),
            reload_btn,
        ]

    def view(self):
        return pn.Column(self._info, self._plot, self._tabulator, sizing_mode="stretch_width")
