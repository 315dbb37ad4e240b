"""Sweep explorer logic (no browser) and the sweep plot: columns offered, array entries,
colour/facet, errors shown as messages. The served page is covered by test_apps_browser."""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.document import Document
from bokeh.models import GridPlot
from helpers import wait_until

from workbench.errors import InputFormatError
from workbench.sweep import Grid, load_sweep, run_sweep
from workbench.sweep.experiments.demo import random_top_eig
from workbench.ui.sweep import SweepExplorer
from workbench.viz.sweep import sweep_plot


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep")
    run_sweep("demo.random_top_eig", Grid.product(n=[10, 20, 40], seed=[0, 1], k=[3]), path,
              scheduler="serial", progress=False)
    return path


def _explorer(folder, **kw):
    ex = SweepExplorer(folder=str(folder), **kw)
    # shown and settled: the worker thread that delivered the table has finished drawing
    # (`loaded` counts a drawn table; `busy` drops only after the delivery returned), so
    # nothing it does can overwrite a change the test makes next
    wait_until(lambda: (ex.loaded and not ex.busy) or ex.message)
    return ex


def test_explorer_offers_columns_and_plots_array_entries(folder):
    ex = _explorer(folder)
    assert ex.message == ""
    assert ex.experiment == "demo.random_top_eig"
    assert ex.x == "n" and ex.color == "seed"  # first varying parameter, then the next
    assert set(ex.param.y.objects) == {"top", "trace", "spectral_gap", "top_k[entry]"}
    assert ex.param.entry.bounds == (0, 2)
    ex.y = "top_k[entry]"
    ex.entry = 1
    df = ex._view.rows
    assert len(df) == 6
    for row in df.to_dict("records"):  # entry 1 = the second largest eigenvalue
        assert row["top_k[1]"] == random_top_eig(n=row["n"], seed=row["seed"], k=3)["top_k"][1]
    # the plot shows it: one source per seed (colour), points (n, top_k[1] of that run)
    sources = ex._plot.layers
    assert len(sources) == 2
    for seed, src in enumerate(sources):
        for n, value in zip(src.data["n"], src.data["top_k"], strict=True):
            assert value == random_top_eig(n=int(n), seed=seed, k=3)["top_k"][1]
    assert ex._plot.figure.yaxis[0].axis_label == "top_k[1]"
    assert list(ex.export_data().columns[:3]) == ["n", "top_k[1]", "seed"]
    ex.facet = "seed"
    assert isinstance(ex._plot.figure, GridPlot) and len(ex._plot.figure.children) == 2
    assert ex._live is None  # a faceted plot is rendered anew on every change
    ex.entry = 2
    assert isinstance(ex._plot.figure, GridPlot) and ex.message == ""


def _assert_plot_is_current(ex):
    """The rendered plot holds what a full render of the current view would draw, and
    its axes show all of it."""
    from workbench.ui.live import LiveFigure

    df, ylab, ycol = ex._view.rows, ex._view.ylabel, ex._view.ycol
    color = None if ex.color == "(none)" else ex.color
    fresh = LiveFigure().render(sweep_plot(df.rename(columns={ylab: ycol}), ex.x, ycol,
                                           color=color, kind=ex.kind, logy=ex.logy,
                                           ylabel=ylab)).layers
    live = ex._plot.layers
    assert len(live) == len(fresh)
    lo, hi = np.inf, -np.inf
    for src, ref in zip(live, fresh, strict=True):
        assert set(src.data) == set(ref.data)
        for key, values in ref.data.items():
            np.testing.assert_array_equal(np.asarray(src.data[key]), np.asarray(values))
        for key in ("lower", "upper", "mean", ycol):
            if key in ref.data:
                lo, hi = min(lo, np.min(ref.data[key])), max(hi, np.max(ref.data[key]))
    fig = ex._plot.figure
    assert fig.y_range.start < lo and fig.y_range.end > hi  # nothing drawn off the axes
    assert fig.yaxis[0].axis_label == ylab


@pytest.mark.parametrize("kind", ["points", "lines", "mean"])
def test_new_entry_writes_into_the_rendered_plot(folder, kind):
    ex = _explorer(folder, y="top_k[entry]", kind=kind, logy=kind == "lines")
    _assert_plot_is_current(ex)
    fig, sources = ex._plot.figure, list(ex._plot.layers)
    for entry in (1, 2, 0):
        ex.entry = entry
        assert ex._plot.figure is fig and ex._plot.layers == sources  # no new figure
        _assert_plot_is_current(ex)
        assert f"top_k[{entry}]" in ex.export_data().columns
        assert f"top_k[{entry}]" in ex._tabulator.value.columns
    ex.kind = "points" if kind != "points" else "mean"  # another view: rendered anew
    assert ex._plot.figure is not fig
    _assert_plot_is_current(ex)


def test_new_entry_is_cheap_for_the_table_and_the_figure(folder):
    """An entry step (the cheap slider, issue #18) writes into the drawn figure (no render)
    and leaves the table as it is: it shows every entry of the array output, in columns
    that match the plotted data."""
    ex = _explorer(folder, y="top_k[entry]")
    table, renders = ex._tabulator.value, ex._plot.renders
    assert [c for c in table.columns if c.startswith("top_k")] == [
        "top_k[0]", "top_k[1]", "top_k[2]"]
    for entry in (1, 2, 0, 2):
        ex.entry = entry
        assert ex._tabulator.value is table and ex._plot.renders == renders
        plotted = ex.export_data()
        for seed, src in enumerate(ex._plot.layers):  # one layer per seed (colour)
            for n, value in zip(src.data["n"], src.data["top_k"], strict=True):
                row = table[(table["n"] == n) & (table["seed"] == seed)]
                assert row[f"top_k[{entry}]"].item() == value
                assert value == random_top_eig(n=int(n), seed=int(seed), k=3)["top_k"][entry]
        assert len(plotted) == len(table)


def test_page_built_before_the_table_arrives(tmp_path):
    """The rendered widgets exist before the (background) table does, as on a served page:
    the array output is still the default y, so the entry slider walks it (a Select whose
    value leaves its options picks the first one: y was top, the slider off)."""
    path = tmp_path / "sweep"
    ex = SweepExplorer(folder=str(path))  # not there yet: a message, no table
    ex.__panel__().get_root(Document())  # rendered Select widgets for x, y, colour, facet
    run_sweep("demo.random_top_eig", Grid.product(n=[10, 20], seed=[0, 1], k=[3]), path,
              scheduler="serial", progress=False)
    ex.folder = str(path) + "/"  # (a changed value, the same folder): the table arrives now
    wait_until(lambda: ex.loaded and not ex.busy)
    assert (ex.x, ex.y, ex.color) == ("n", "top_k[entry]", "seed")
    assert not ex._entry_widget.disabled and ex.message == ""


def test_explorer_url_values_survive_loading(folder):
    ex = _explorer(folder, x="seed", y="trace", color="n", kind="mean")
    assert (ex.x, ex.y, ex.color, ex.kind) == ("seed", "trace", "n", "mean")
    assert ex._entry_widget.disabled  # scalar y: the entry slider is off


def test_explorer_bad_folder_is_a_message(tmp_path):
    ex = SweepExplorer(folder=str(tmp_path / "missing"))
    assert "does not exist" in ex.message
    ex2 = SweepExplorer(folder=str(tmp_path))
    wait_until(lambda: ex2.message != "")
    assert "not a sweep folder" in ex2.message and "Traceback" not in ex2.message


def test_served_explorer_takes_only_names_under_the_sweeps_root(folder, tmp_path):
    """With a sweeps root (a served page: apps/sweep.py passes it) the folder box and the
    ?folder= parameter take names under the root; an outside path, `..`, an absolute path
    or a missing folder all get the one message, which names no server path."""
    from workbench.paths import NOT_UNDER_ROOT

    root = folder.parent
    ex = _explorer(folder.name, root=root)
    assert ex.message == "" and ex.loaded == 1
    assert f"folder `{folder.name}`" in ex._info.object and str(root) not in ex._info.object
    for name in (str(folder), f"../{root.name}/{folder.name}", "../../etc", "/etc",
                 "missing", str(tmp_path / "missing")):
        ex.folder = name
        assert ex.message == NOT_UNDER_ROOT, name
        assert ex.loaded == 1  # the table shown stays
    ex.folder = folder.name
    wait_until(lambda: ex.loaded == 2 and not ex.busy)
    assert ex.message == ""
    # a link's parameter goes the same way (the page restores it after building)
    ex2 = SweepExplorer(root=root, folder="../" + root.name)
    assert ex2.message == NOT_UNDER_ROOT


def test_a_refused_name_is_not_replaced_by_a_late_table(tmp_path, monkeypatch):
    """A table asked for before a bad name (a link's ?folder= is applied after the page
    started loading its first table) arrives after the message: it must not clear it."""
    import threading

    import workbench.sweep.store as store
    from workbench.paths import NOT_UNDER_ROOT

    run_sweep("demo.random_top_eig", Grid.product(n=[10], seed=[0, 1], k=[3]),
              tmp_path / "late", scheduler="serial", progress=False)
    gate, real = threading.Event(), store.load_sweep

    def held(*args, **kw):
        gate.wait(60)
        return real(*args, **kw)

    monkeypatch.setattr(store, "load_sweep", held)
    ex = SweepExplorer(root=tmp_path, folder="late")  # its table is on its way
    assert ex.busy
    ex.folder = "../elsewhere"
    assert ex.message == NOT_UNDER_ROOT
    gate.set()
    wait_until(lambda: not ex.busy)  # the late table was delivered (and dropped)
    assert ex.message == NOT_UNDER_ROOT and ex.loaded == 0


def test_from_folder_opens_any_path_in_a_notebook(folder):
    ex = SweepExplorer.from_folder(folder)
    wait_until(lambda: (ex.loaded and not ex.busy) or ex.message)
    assert ex.message == "" and ex.experiment == "demo.random_top_eig"
    assert str(folder) in ex._info.object  # the user's own path, as given


def test_plot_choices_of_a_table(folder):
    from workbench.sweep.tables import plot_choices

    t = load_sweep(folder)
    c = plot_choices(t, first=True)
    assert c.params == ["n", "seed", "k"] and c.xs[:3] == ["n", "seed", "k"]
    assert set(c.ys) == {"top", "trace", "spectral_gap", "top_k[entry]"}
    # 2 to 12 distinct values (6 runs: the outputs too); k takes one: nothing to colour by
    assert {"n", "seed"} <= set(c.groups) and "k" not in c.groups
    assert c.entries == 3  # k = 3 eigenvalues per run
    # defaults: the first varying parameter, the array output, the next varying parameter
    assert (c.x, c.y, c.color, c.facet) == ("n", "top_k[entry]", "seed", None)
    assert plot_choices(t).color is None  # a later table keeps "no colour"
    kept = plot_choices(t, "seed", "trace", "n", "seed")
    assert (kept.x, kept.y, kept.color, kept.facet) == ("seed", "trace", "n", "seed")
    gone = plot_choices(t, "nope", "nope", "k", "nope")  # not in this table: defaults
    assert (gone.x, gone.y, gone.facet) == ("n", "top_k[entry]", None)
    assert gone.color == "seed"


def test_sweep_plot_mean_and_errors(folder):
    df = load_sweep(folder)
    plot = sweep_plot(df, "n", "top", kind="mean")
    curve = plot.Curve.I
    np.testing.assert_allclose(curve.dimension_values("mean"),
                               df.groupby("n")["top"].mean().to_numpy())
    with pytest.raises(InputFormatError, match="no column"):
        sweep_plot(df, "n", "nope")
    with pytest.raises(InputFormatError, match="not numeric"):
        sweep_plot(df, "n", "top_k")


@pytest.mark.slow
def test_example_sweep_default_view(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SWEEP_EXAMPLE_DIR", str(tmp_path / "example"))
    ex = SweepExplorer()
    wait_until(lambda: (ex.loaded and not ex.busy) or ex.message, timeout=120)
    assert ex.message == ""
    assert (ex.experiment, ex.x, ex.color) == ("hessian.top_eigs", "width", "seed")
    assert (ex.y, ex.entry) == ("top_k[entry]", 0)  # the array output, so entry walks it
    df = ex._view.rows
    assert len(df) == 12 and set(df["width"]) == {4, 8, 16, 32}
    # top_k[0] is the top eigenvalue, which top_eigs reports separately
    np.testing.assert_array_equal(df["top_k[0]"], df["top_eig"])
    ex.entry = 1  # the second eigenvalue: below the first in every run
    df1 = ex._view.rows
    assert (df1["top_k[1]"].to_numpy() <= df["top_k[0]"].to_numpy()).all()
    assert not np.array_equal(df1["top_k[1]"].to_numpy(), df["top_k[0]"].to_numpy())
