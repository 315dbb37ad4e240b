"""The shared explorer machinery, without a browser: error messages, background work
(superseding and caching), URL parameters and CSV export."""

from __future__ import annotations

import threading
import time

import pandas as pd
import panel as pn
import param
import pytest

from workbench.errors import RankError
from workbench.ui.base import CACHE, Explorer, ResultCache, error_message


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
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


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
    _wait(lambda: not t.busy)
    time.sleep(0.05)
    assert t.delivered == ["new"]


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
    from workbench.ui.app import page

    tmpl = page(Toy(), theme=theme)
    assert tmpl.theme.__name__.lower().startswith(theme)
