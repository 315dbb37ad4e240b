"""The shared explorer machinery, without a browser: error messages, background work
(superseding and caching), URL parameters and CSV export."""

from __future__ import annotations

import threading

import pandas as pd
import panel as pn
import param
import pytest
from helpers import wait_until

from workbench.errors import RankError
from workbench.jobs import CACHE, ResultCache
from workbench.ui.base import Explorer, error_message


class Toy(Explorer):
    title = "Toy"
    url_params = ("k",)
    k = param.Integer(default=2, bounds=(1, 10))

    def __init__(self, **p):
        super().__init__(**p)
        self.delivered = []
        self._pane = pn.pane.Str("")

    def view(self):
        return self._pane

    def export_data(self):
        return pd.DataFrame({"k": [self.k], "k2": [self.k**2]})


def _wait(cond, timeout=10.0):
    wait_until(cond, timeout=timeout, what="the background work")


def test_guarded_shows_bad_input_message_and_keeps_going():
    t = Toy()

    def bad():
        raise RankError("rank 7 is larger than min(m, n) = 5")

    assert t.guarded(bad)() is None
    assert t.message == "rank 7 is larger than min(m, n) = 5"
    assert t._alert.visible
    assert t.guarded(lambda: 42)() == 42
    assert t.message == "" and not t._alert.visible


def test_internal_errors_are_one_line_without_traceback():
    msg = error_message(KeyError("x"))
    assert msg.startswith("Internal error: KeyError")
    assert "Traceback" not in msg and "\n" not in msg


def test_background_result_delivered_and_cached():
    CACHE.clear()
    t = Toy()
    calls = []

    def work():
        calls.append(1)
        return 7

    t.run_background(("sq", 7), work, t.delivered.append)
    _wait(lambda: t.delivered == [7])
    assert not t.busy
    # second request with the same key: served from the cache, no new computation
    t.run_background(("sq", 7), work, t.delivered.append)
    assert t.delivered == [7, 7] and len(calls) == 1


def test_sessions_asking_for_a_running_result_share_the_run():
    """Thirty students moving a slider to the same value cost one computation: a request
    for a result that another explorer's run is computing waits for that run."""
    CACHE.clear()
    explorers = [Toy() for _ in range(5)]
    gate = threading.Event()
    calls = []

    def work():
        calls.append(1)
        gate.wait(5)
        return 42

    for t in explorers:
        t.run_background(("shared", 1), work, t.delivered.append)
    assert all(t.busy for t in explorers)
    gate.set()
    _wait(lambda: all(t.delivered == [42] and not t.busy for t in explorers))
    assert len(calls) == 1
    # an error reaches every session that joined, and a later request computes again
    gate.clear()

    def fail():
        calls.append(1)
        gate.wait(5)
        raise RankError("bad rank")

    for t in explorers:
        t.run_background(("shared", 2), fail, t.delivered.append)
    gate.set()
    _wait(lambda: all(t.message == "bad rank" and not t.busy for t in explorers))
    assert len(calls) == 2
    explorers[1].run_background(("shared", 2), lambda: 7, explorers[1].delivered.append)
    _wait(lambda: explorers[1].delivered == [42, 7])
    # uncached work (key None or use_cache=False) is never shared
    t = explorers[0]
    t.run_background(None, work, t.delivered.append)
    t.run_background(("shared", 1), work, t.delivered.append, channel="other", use_cache=False)
    _wait(lambda: len(t.delivered) == 3)
    assert len(calls) == 4


def test_newer_request_supersedes_older():
    CACHE.clear()
    t = Toy()
    gate = threading.Event()

    def slow():
        gate.wait(5)
        return "old"

    t.run_background("old", slow, t.delivered.append)
    t.run_background("new", lambda: "new", t.delivered.append)
    _wait(lambda: "new" in t.delivered)
    gate.set()
    # busy counts both requests and drops only once each one's delivery step has run (the
    # old one's included, which found itself superseded): nothing more can arrive after it
    _wait(lambda: not t.busy)
    assert t.delivered == ["new"]


def test_supersede_drops_a_pending_result():
    CACHE.clear()
    t = Toy()
    gate = threading.Event()

    def slow():
        gate.wait(5)
        return "late"

    t.run_background("late", slow, t.delivered.append, channel="load")
    t.show_error("a refused input")
    t.supersede("load")
    gate.set()
    _wait(lambda: not t.busy)  # busy drops after the (dropped) delivery ran
    assert t.delivered == [] and t.message == "a refused input"


def test_background_error_becomes_message():
    t = Toy()

    def fail():
        raise RankError("k must be at most n = 3")

    t.run_background(None, fail, t.delivered.append)
    _wait(lambda: t.message != "")
    assert t.message == "k must be at most n = 3" and t.delivered == []


def test_result_cache_is_lru():
    c = ResultCache(maxsize=2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # a is now most recent
    c.put("c", 3)
    assert "b" not in c and c.get("a") == 1 and c.get("c") == 3


def test_csv_export():
    t = Toy(k=3)
    text = t._csv().read()
    assert text.splitlines() == ["k,k2", "3,9"]


@pytest.mark.parametrize("theme", ["default", "dark"])
def test_page_template(theme):
    from workbench.serve.app import page

    tmpl = page(Toy(), theme=theme)
    assert tmpl.theme.__name__.lower().startswith(theme)


class Link(Explorer):
    title = "Link"
    url_params = ("k", "name_", "x", "flag")
    k = param.Integer(default=2, bounds=(1, 10))
    name_ = param.Selector(default="a", objects=["a", "b c"])
    x = param.Number(default=0.5)
    flag = param.Boolean(default=False)

    def view(self):
        return pn.pane.Str("")


def test_url_query_round_trips_every_kind_of_parameter():
    from panel.util import parse_query

    src = Link(k=7, name_="b c", x=0.25, flag=True)
    query = src._url_query()
    assert query == {"k": "7", "name_": "b c", "x": "0.25", "flag": "true"}
    # what the browser sends back is the urlencoded query string, parsed by Panel
    from urllib.parse import urlencode

    dst = Link()
    dst._restore_from_url(parse_query("?" + urlencode(query)))
    assert (dst.k, dst.name_, dst.x, dst.flag) == (7, "b c", 0.25, True)
    assert dst.message == ""


def test_a_bad_link_gives_a_message_and_keeps_the_defaults():
    ex = Link()
    ex._restore_from_url({"k": 99, "x": 0.75})  # k out of bounds
    assert ex.k == 2 and ex.x == 0.75  # the good one is applied
    assert "link parameters" in ex.message and "k=99" in ex.message


def test_link_value_refuses_true_false_for_numbers():
    """A link's true/false for a number stays a string the parameter refuses (param would
    take it as 1/0: ``?seed=true`` opened seed 1); other values decode as before."""
    import param

    from workbench.ui.urls import link_value

    class P(param.Parameterized):
        seed = param.Integer(default=0, bounds=(0, 100))
        flag = param.Boolean(default=False)

    p = P()
    assert link_value(p.param.seed, True) == "true"
    with pytest.raises(ValueError):
        p.seed = link_value(p.param.seed, True)
    assert link_value(p.param.seed, 7) == 7
    assert link_value(p.param.flag, True) is True
