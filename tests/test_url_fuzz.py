"""Fuzzed links: every URL parameter of every served dashboard (each explorer's
``url_params``) gets random strings, ``..``, absolute paths, a symlink leaving the sweeps
root, huge numbers and values of the wrong type.

For each link: the page opens without a traceback or an internal error (server ERROR
messages and page text, ``BokehSession.errors``), shows the default view or a message,
says nothing about whether a path exists on the server (the message for an existing path
and for a missing one is the same, once the value itself is taken out), the server stays
up and the next slider move still redraws.

Cost: the session's server for every app (tests/conftest.py ``server``: one process,
warmed once, shared with the browser tests), browser-less sessions
(``workbench.serve.harness.BokehSession``: the messages a browser tab sends), a few
sessions at once, and links that carry several parameters each (every parameter is
applied or refused on its own: ``URLState._restore_from_url``), so each app costs a few
dozen pages. The same pages in Chromium are covered by tests/test_apps_browser.py; the
upload widgets by tests/test_upload_fuzz_browser.py and tests/test_io_fuzz.py.
"""

from __future__ import annotations

import asyncio
import html
import random
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import app_files

from workbench.paths import NOT_UNDER_ROOT
from workbench.serve.harness import BokehSession

pytestmark = [pytest.mark.slow]


def _url_params() -> dict[str, tuple[str, ...]]:
    """{app: the names its links may carry}. A new app must be added here (checked)."""
    from workbench.hessian.settings import HessianSettings, fields
    from workbench.ui.clustering import ClusteringExplorer
    from workbench.ui.eigenspectra import EigenspectraExplorer
    from workbench.ui.engine import EngineExplorer
    from workbench.ui.hessian import HessianExplorer
    from workbench.ui.lowrank import LowRankExplorer
    from workbench.ui.sweep import SweepExplorer

    return {"clustering": ClusteringExplorer.url_params,
            "eigenspectra": EigenspectraExplorer.url_params,
            "engine": EngineExplorer.url_params,
            "hessian": tuple(dict.fromkeys(HessianExplorer.url_params
                                           + tuple(fields(HessianSettings, shown=True)))),
            "lowrank": LowRankExplorer.url_params,
            "sweep": SweepExplorer.url_params}


EXISTING, MISSING = "/etc/passwd", "/no/such/file/anywhere"
# kinds of bad values; a random string per parameter is added by _values
FUZZ = ["..", "../../etc/passwd", "/etc", "~root/.ssh", "link", "../outside/real",
        "1e999", "-1e308", str(2**64), "nan", "-inf", "-1", "0x10",
        "[1, 2]", '{"a": 1}', "true", "null", "", "   ", "\u202e\u0000%00",
        "<script>alert(1)</script>", "x" * 2000]
# what a neutral page never says about a value it was given
REVEALING = re.compile(r"exist|no such|permission|denied|errno|is a directory|"
                       r"not a directory|/etc|passwd", re.I)
BAD = ("Traceback", "Internal error")
BATCH = 6   # sessions at once (a class opening a crafted link together)
PER_LINK = 6  # parameters a link carries (each applied or refused on its own)


def _random_string(rng: random.Random) -> str:
    alphabet = "abc/.\\~%$'\"`;:&|*?<>{}[]() \t\n\u00e9\u4e2d\U0001f600"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))


def _values(name: str, i: int) -> list[str]:
    """The fuzz values parameter number `i` gets: a random string (seeded by its name:
    reproducible) and FUZZ[i] (the parameters of an app together cover FUZZ)."""
    return [_random_string(random.Random(name)), FUZZ[i % len(FUZZ)]]


def _links(names: tuple[str, ...]) -> list[dict[str, str]]:
    """The fuzzed links of an app: each parameter's values (``_values``), PER_LINK
    parameters a link; then every parameter at once set to a path that exists and to one
    that does not (the pages must read the same) and to a JSON object."""
    links: list[dict[str, str]] = []
    for round_ in range(2):
        pairs = [(n, _values(n, i)[round_]) for i, n in enumerate(names)]
        links += [dict(pairs[j:j + PER_LINK]) for j in range(0, len(pairs), PER_LINK)]
    return links + [{n: EXISTING for n in names}, {n: MISSING for n in names},
                    {n: '{"a": [1]}' for n in names}]


@pytest.fixture(scope="module")
def disk(sweeps_disk):
    """The served sweeps root (tests/conftest.py ``sweeps_disk``): a real sweep
    ("inside") and a symlink ("link") to a real sweep outside the root."""
    return sweeps_disk


@pytest.fixture(scope="module")
def served(server):
    """Every dashboard in one server process (the session's ``server``: warmed once),
    sweeps under `disk`."""
    server.wait("/sweep", timeout=600)
    return server


def _run(coro, limit: float):
    """`coro` in a fresh thread's event loop (a session-scoped Playwright browser may hold
    the main thread's loop), bounded by `limit` seconds."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coro, limit)).result()


async def _visit(base: str, app: str, query: dict[str, str]) -> dict:
    """Open `app` with `query`; wait for its first view or a message; move a slider (or,
    with no plot because a link was refused, empty the sweep folder box) and wait for the
    new data. Returns what the page said."""
    s = BokehSession(base, app, arguments=query)
    out = {"query": query, "alert": "", "errors": [], "moved": False, "text": ""}
    try:
        await s.open(timeout=120)
        # every page draws its first view whatever its link says; only the sweep explorer
        # may draw nothing (a refused folder: the message instead of a table)
        await s._wait(lambda: s.data_patches > 0 or s.shows_plot_data()
                      or (app == "sweep" and s.text_of("wb-alert").strip() != ""), 120,
                      "neither a first view nor a message")
        out["alert"] = s.text_of("wb-alert")
        sliders = s.sliders
        if s.data_patches > 0 or s.shows_plot_data():
            if not sliders:
                raise AssertionError(f"{app}: no slider to move")
            slider = sliders[0]
            await s.move(slider, slider.next_value(), timeout=120)
        else:  # no plot: only the sweep explorer, with a refused folder
            boxes = s.find("TextInput")
            assert app == "sweep" and boxes, (app, out["alert"])
            await s.set_value(boxes[0], "", timeout=120)
        out["moved"] = True
        out["text"] = s.page_text()
        out["errors"] = list(s.errors)
    except Exception as exc:  # noqa: BLE001 - reported with the link that caused it
        out["failure"] = f"{type(exc).__name__}: {exc}"
        out["alert"] = s.text_of("wb-alert")
    finally:
        await s.close()
    out["alert"] = html.unescape(out["alert"])
    return out


async def _visits(base: str, app: str, queries: list[dict]) -> list[dict]:
    results = []
    for start in range(0, len(queries), BATCH):
        results += await asyncio.gather(*(_visit(base, app, q)
                                          for q in queries[start:start + BATCH]))
    return results


def _check(app: str, r: dict) -> None:
    where = f"{app} {r['query']!r:.200}"
    assert "failure" not in r, (where, r.get("failure"), r["alert"][:300])
    assert r["errors"] == [], (where, r["errors"])
    for bad in BAD:
        assert bad not in r["text"] and bad not in r["alert"], (where, r["alert"])
    assert r["moved"], where


def _neutral(alert: str, values: list[str]) -> str:
    """The alert with the fuzzed values themselves taken out (a message may quote them)."""
    from html import escape

    for v in sorted(values, key=len, reverse=True):
        for form in {v, escape(v), escape(v, quote=False), repr(v)[1:-1]}:
            if form:
                alert = alert.replace(form, "<value>")
    return alert


def test_every_app_has_its_links_listed():
    assert {f.stem for f in app_files()} == set(_url_params())


@pytest.mark.parametrize("app", sorted(_url_params()))
def test_fuzzed_links_give_the_default_or_a_message(served, app):
    links = _links(_url_params()[app])
    results = _run(_visits(served.base, app, links), limit=600)
    assert served.proc.poll() is None, "the server died"
    for r in results:
        _check(app, r)
        paths = [v for v in r["query"].values() if "/" in v or v in ("..", "link")]
        if paths:
            assert not REVEALING.search(_neutral(r["alert"], paths)), (app, r["query"],
                                                                      r["alert"])
    existing, missing = results[-3], results[-2]
    assert _neutral(existing["alert"], [EXISTING]) == _neutral(missing["alert"], [MISSING])


def test_sweep_folder_links_under_the_root_only(served, disk):
    """``?folder=``: a sweep inside the root opens; a symlink leaving the root, the real
    sweep it points to (by absolute path and by ``..``), a missing name and a file all
    get the same message."""
    inside = _run(_visit(served.base, "sweep", {"folder": "inside"}), limit=300)
    _check("sweep", inside)
    assert inside["alert"].strip() == ""
    outside = disk.parent / "outside" / "real"
    names = ["link", str(outside), "../outside/real", "missing", "inside/results/x.json",
             str(disk / "inside")]
    results = _run(_visits(served.base, "sweep", [{"folder": n} for n in names]), limit=300)
    alerts = set()
    for r in results:
        _check("sweep", r)
        alerts.add(_neutral(r["alert"], [r["query"]["folder"]]))
    assert len(alerts) == 1, alerts
    assert NOT_UNDER_ROOT.split(":")[0] in alerts.pop()
