"""Browsing a loaded sweep table (workbench.sweep.browse) on hand-built tables: the rows a
view plots, the entry of an array output, the table shown beside the plot, what a link may
name, and the info line (workbench.viz.sweep.sweep_info)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.errors import InputFormatError
from workbench.sweep.browse import NotInSweep, SweepBrowse, browse_sweep


def _table() -> pd.DataFrame:
    """Experiment "b": n in {10, 20} x seed in {0, 1}, a scalar output `top`, an array
    output `top_k` (3 entries; n=20, seed=1 has only 2) and a string `note`; experiment
    "a": one run with n = 5 (the rows of both share the columns)."""
    rows = [{"n": n, "seed": s, "top": 10.0 * n + s,
             "top_k": [10.0 * n + s, n + s / 10, float(s)][: 2 if (n, s) == (20, 1) else 3],
             "note": f"run {n}/{s}", "_params": json.dumps(["n", "seed"]), "_experiment": "b"}
            for n in (10, 20) for s in (0, 1)]
    rows.append({"n": 5, "seed": 0, "top": 0.5, "top_k": [0.5], "note": "",
                 "_params": json.dumps(["n"]), "_experiment": "a"})
    t = pd.DataFrame(rows)
    t.attrs["older_results"] = 2
    return t


def test_experiments_and_their_rows():
    b = SweepBrowse(_table(), errors=1)
    assert b.experiments == ["a", "b"] and (b.errors, b.older) == (1, 2)
    rows = b.rows("b")
    assert list(rows.index) == [0, 1, 2, 3] and set(rows["_experiment"]) == {"b"}
    assert b.rows("b") is rows  # kept for the next view
    c = b.offer("b")
    assert c.params == ["n", "seed"] and c.ys == ["top", "top_k[entry]"]
    assert set(c.groups) >= {"n", "seed"} and c.entries == 3
    kept = b.choices("b", x="seed", y="top", color="n")
    assert (kept.x, kept.y, kept.color, kept.facet) == ("seed", "top", "n", None)
    single = SweepBrowse(_table().drop(columns="_experiment"))
    assert single.experiments == [""] and len(single.rows("")) == 5


def test_entry_of_an_array_output():
    b = SweepBrowse(_table())
    v = b.at("b", "n", "top_k[entry]", entry=1, color="seed")
    assert v.array and (v.ycol, v.ylabel) == ("top_k", "top_k[1]")
    assert list(v.rows["top_k[1]"]) == [10.0, 10.1, 20.0, 20.1]  # n + seed / 10
    assert list(v.plotted["top_k"]) == [10.0, 10.1, 20.0, 20.1]
    # plotted columns first, then the other scalar columns (no array, no metadata)
    assert list(v.shown.columns) == ["n", "top_k[1]", "seed", "top", "note"]
    # the table: every entry in a column of its own, the same frame for every entry
    assert list(v.table.columns) == ["n", "top_k[0]", "top_k[1]", "top_k[2]", "seed", "top",
                                     "note"]
    np.testing.assert_array_equal(v.table["top_k[2]"], [0.0, 1.0, 0.0, np.nan])
    v2 = b.at("b", "n", "top_k[entry]", entry=2, color="seed")
    assert v2.table is v.table and v2.ylabel == "top_k[2]"
    assert list(v2.rows["top_k[2]"]) == [0.0, 1.0, 0.0]  # (20, 1) has no third entry
    with pytest.raises(InputFormatError, match="no rows have entry 3 of top_k"):
        b.at("b", "n", "top_k[entry]", entry=3)


def test_long_array_is_shown_entry_by_entry():
    b = SweepBrowse(_table())
    b.WIDE_ENTRIES = 2  # top_k has 3 entries: too many for a column each
    v = b.at("b", "seed", "top_k[entry]", entry=0, facet="n")
    assert v.table is v.shown and list(v.table.columns)[:3] == ["seed", "top_k[0]", "n"]


def test_scalar_output_plots_every_row():
    b = SweepBrowse(_table())
    v = b.at("b", "seed", "top", entry=4, kind="mean")
    assert not v.array and v.ycol == v.ylabel == "top" and v.kind == "mean"
    assert len(v.rows) == 4 and v.table is v.shown
    assert list(v.shown["top"]) == [100.0, 101.0, 200.0, 201.0]


def test_a_hand_edited_link_is_refused_with_what_it_names():
    b = SweepBrowse(_table())
    with pytest.raises(NotInSweep, match="x='nope'; facet='top_k'"):
        b.at("b", "nope", "top", facet="top_k")  # an array: not a group
    with pytest.raises(NotInSweep, match="y='note'"):
        b.at("b", "n", "note")  # a string: not an output to plot
    with pytest.raises(NotInSweep, match="no experiment 'c'"):
        b.at("c", "n", "top")
    with pytest.raises(InputFormatError, match="no results"):
        SweepBrowse(_table().iloc[:0])


def test_info_line():
    from workbench.viz.sweep import sweep_info

    b = SweepBrowse(_table(), errors=1)
    assert sweep_info(b, "b", "widths") == (
        "**4 results** of `b`, 1 failed (2 older results of earlier code versions left "
        "out) · parameters: n, seed · folder `widths`")
    clean = SweepBrowse(_table().drop(columns="_params"))
    clean.older = 0
    assert sweep_info(clean, "a", "x") == "**1 results** of `a` · parameters: — · folder `x`"


def test_browse_sweep_reads_a_folder(tmp_path):
    from workbench.sweep import Grid, run_sweep
    from workbench.sweep.experiments.demo import random_top_eig

    with pytest.raises(InputFormatError, match="not a sweep folder"):
        browse_sweep(tmp_path)
    with pytest.raises(InputFormatError) as named:  # a served page's name, not the path
        browse_sweep(tmp_path, name="mine")
    assert str(named.value).startswith("'mine' is not") and str(tmp_path) not in str(named.value)
    run_sweep("demo.random_top_eig", Grid.product(n=[10, 20], k=[2]), tmp_path,
              scheduler="serial", progress=False)
    b = browse_sweep(tmp_path)
    assert b.experiments == ["demo.random_top_eig"] and b.errors == 0
    v = b.at("demo.random_top_eig", "n", "top_k[entry]", entry=1)
    assert list(v.rows["top_k[1]"]) == [random_top_eig(n=n, k=2)["top_k"][1] for n in (10, 20)]


def test_limits_fit_the_drawn_layers():
    from workbench.viz.sweep import sweep_layers, sweep_limits

    df = pd.DataFrame({"n": [1, 100, 1, 100], "y": [2.0, 4.0, 3.0, 3.0], "s": [0, 0, 1, 1],
                       "c": ["a", "b", "a", "b"]})
    lim = sweep_limits(sweep_layers(df, "n", "y", "s"))
    assert lim["xlim"] == pytest.approx((1 - 9.9, 100 + 9.9))
    assert lim["ylim"] == pytest.approx((1.8, 4.2))
    log = sweep_limits(sweep_layers(df, "n", "y", kind="mean"), logx=True)
    assert log["xlim"] == pytest.approx((10**-0.2, 10**2.2))
    sd = np.sqrt(0.5)  # of (2, 3) at n = 1 and of (4, 3) at n = 100: bars from 2.5 - sd
    lo, hi = 2.5 - sd, 3.5 + sd  # to 3.5 + sd
    assert log["ylim"] == pytest.approx((lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)))
    assert set(sweep_limits(sweep_layers(df, "c", "y"))) == {"ylim"}  # categories: no x


def test_settings_offer_a_table_and_ask_for_its_view():
    from workbench.sweep.settings import NONE, BrowseSettings

    s = BrowseSettings(y="top", entry=5, facet="seed")
    b = SweepBrowse(_table())
    called = []
    s.param.watch(lambda *events: called.append(sorted(e.name for e in events)), list(s.VIEW))
    s.offer(b.choices("b", **s.wanted(), first=True))
    assert called == [["color", "entry", "x"]]  # one batch: x, colour, entry clamped
    # the first table's colour: the next varying parameter
    assert (s.x, s.y, s.color, s.facet, s.entry) == ("n", "top", "seed", "seed", 2)
    assert s.param.y.objects == ["top", "top_k[entry]"] and s.param.entry.bounds == (0, 2)
    assert s.param.color.objects[0] == NONE and "seed" in s.param.color.objects
    s.color = NONE
    assert s.wanted() == {"x": "n", "y": "top", "color": None, "facet": "seed"}
    v = b.at("b", **s.wanted(), entry=s.entry, kind=s.kind)
    assert (v.facet, v.color, len(v.rows)) == ("seed", None, 4)
