"""Concurrent browser-less sessions against the fixture dashboard (no timing assertions).

One server for the module (tests/fixtures/apps, sessions discarded 1 s after they close).
Sessions speak the Bokeh websocket protocol as a browser tab does
(workbench.serve.harness.BokehSession).
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from helpers import poll

from workbench.serve.harness import BokehSession, ServedApps, patch_has_data, rss_kb
from workbench.serve.thumbnails import SIZE, render, shrink_png

FIXTURE_APPS = Path(__file__).resolve().parent / "fixtures" / "apps"

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def fixture_server():
    srv = ServedApps(FIXTURE_APPS, warm=False, session_info=True,
                     session_lifetime_ms=1000, check_ms=300)
    try:
        srv.wait("/fixture")
        yield srv
    finally:
        srv.stop()


def _in_thread(fn, *args, **kwargs):
    """Call ``fn`` in a fresh thread. The session-scoped Playwright browser of the browser
    tests keeps an event loop running in the main thread, where ``asyncio.run`` and
    Playwright's sync API both refuse to start; a new thread has no running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def _run(coro, limit: float = 120.0):
    """Run `coro` with an overall bound so a stuck server fails instead of hanging."""
    return _in_thread(asyncio.run, asyncio.wait_for(coro, limit))


def _wait_sessions(server: ServedApps, target: int, limit: float = 60.0) -> int:
    """Poll until at most `target` sessions are open (or `limit` s pass); return the count."""
    return poll(server.open_sessions, until=lambda n: n <= target, timeout=limit, interval=0.3)


def test_concurrent_sessions_each_get_their_updates(fixture_server):
    """10 sessions move sliders at once; each gets new data for every move, no errors,
    and the server's document state is per session (values do not leak between them)."""

    async def one(i: int) -> tuple[BokehSession, list[float]]:
        s = await BokehSession(fixture_server.base, "fixture").open()
        by_title = {sl.title: sl for sl in s.sliders}
        assert set(by_title) == {"Freq", "Phase", "Points", "Level"}
        # odd sessions also drive the background (run_background) path
        slider = by_title["Level" if i % 2 else "Freq"]
        moved = []
        for k in range(3):
            await s.move(slider, slider.start + i + k + 1, timeout=60)
            moved.append(slider.value)
        return s, moved

    async def main():
        results = await asyncio.gather(*(one(i) for i in range(10)))
        for _, (s, _) in enumerate(results):
            await s.close()
        return results

    results = _run(main())
    for i, (s, moved) in enumerate(results):
        assert s.errors == [], s.errors
        assert s.data_patches >= 3, f"session {i} got {s.data_patches} updates for 3 changes"
        start = 1
        assert moved == [start + i + 1, start + i + 2, start + i + 3]
    assert "Traceback" not in fixture_server.log()


def test_url_arguments_restore_state_without_a_browser(fixture_server):
    async def main():
        s = await BokehSession(fixture_server.base, "fixture",
                               arguments={"freq": "7", "points": "350"}).open()
        values = {sl.title: sl.value for sl in s.sliders}
        await s.close()
        return values

    values = _run(main())
    assert values["Freq"] == 7 and values["Points"] == 350


def test_open_close_sessions_are_discarded_and_memory_settles(fixture_server):
    baseline = _wait_sessions(fixture_server, 0)
    # a few sessions first, so one-off allocations (imports, caches) are not counted
    _run(_open_close(fixture_server, 5, 5))
    assert _wait_sessions(fixture_server, baseline) == baseline
    rss0 = fixture_server.rss_kb()
    before = fixture_server.session_info()["total"]

    _run(_open_close(fixture_server, 50, 10), limit=240)
    assert fixture_server.session_info()["total"] - before >= 50  # all 50 were created
    left = _wait_sessions(fixture_server, baseline)
    assert left == baseline, f"{left - baseline} sessions were not discarded"
    rss1 = fixture_server.rss_kb()
    # Generous bound: 50 Panel sessions hold ~100-150 MiB while open; a leak of the whole
    # document per session would exceed 25 % of the ~650 MiB server. The 10 % target is
    # checked (with 200 sessions) by benchmarks/bench_load.py.
    assert rss1 < 1.25 * rss0, (rss0, rss1)


async def _open_close(server: ServedApps, n: int, batch: int) -> None:
    errors = []

    async def one():
        s = BokehSession(server.base, "fixture")
        try:
            await s.open(timeout=60)
            errors.extend(s.errors)
        finally:
            await s.close()

    for start in range(0, n, batch):
        await asyncio.gather(*(one() for _ in range(start, min(n, start + batch))))
    assert errors == []


def test_patch_has_data_tells_plot_updates_from_other_patches():
    assert patch_has_data([{"kind": "ColumnDataChanged", "model": {"id": "p1"}}])
    assert patch_has_data([{"kind": "ModelChanged", "attr": "data", "new": {}}])
    new_fig = {"type": "object", "name": "Figure", "id": "p2", "attributes": {
        "renderers": [{"type": "object", "name": "ColumnDataSource", "id": "p3"}]}}
    assert patch_has_data([{"kind": "ModelChanged", "attr": "children", "new": [new_fig]}])
    assert not patch_has_data([{"kind": "ModelChanged", "attr": "search", "new": "?a=1"}])
    assert not patch_has_data([{"kind": "ModelChanged", "attr": "css_classes", "new": []}])


def test_rss_includes_children():
    me = os.getpid()
    alone = rss_kb(me, children=False)
    child = subprocess.Popen(["sleep", "30"])
    try:
        # the child's memory shows once it has started: poll for it
        with_child = poll(lambda: rss_kb(me), until=lambda kb: kb > rss_kb(me, children=False),
                          timeout=10, interval=0.05)
        assert alone > 0
        assert with_child > rss_kb(me, children=False)
    finally:
        child.kill()
        child.wait()
    assert rss_kb(child.pid) == 0  # a process that is gone has no memory


def test_thumbnail_of_the_fixture_is_small_and_not_blank(fixture_server, tmp_path):
    from PIL import Image

    done = _in_thread(render, FIXTURE_APPS, tmp_path, server=fixture_server)
    png = done["fixture"]
    assert png == tmp_path / "fixture.png"
    assert png.stat().st_size < 150_000
    img = Image.open(png).convert("RGB")
    assert img.size == SIZE
    # a rendered page, not a blank one: many distinct colours (header, plot lines, text)
    assert len(img.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20


def test_shrink_png_meets_the_size_limit_on_noise():
    """Incompressible input forces the palette fallback; the result still fits."""
    from PIL import Image

    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (900, 1400, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noise.save(buf, format="PNG")
    out = shrink_png(buf.getvalue(), size=(600, 386), max_bytes=150_000)
    assert len(out) <= 150_000
    assert Image.open(io.BytesIO(out)).size == (600, 386)


def test_sliders_inside_hidden_tabs_are_not_offered():
    """A browser user reaches only the shown tab's sliders: the harness moves only those."""
    s = BokehSession("http://127.0.0.1:1", "x")

    def slider(i, title):
        return {"type": "object", "name": "Slider", "id": f"s{i}",
                "attributes": {"title": title, "start": 0, "end": 1, "step": 0.1, "value": 0}}

    shown = {"type": "object", "name": "Column", "id": "c0",
             "attributes": {"children": [slider(0, "shown")]}}
    hidden = {"type": "object", "name": "Column", "id": "c1",
              "attributes": {"children": [{"id": "row"}]}}
    row = {"type": "object", "name": "Row", "id": "row",
           "attributes": {"children": [slider(1, "hidden")]}}
    tabs = {"type": "object", "name": "panel.models.tabs.Tabs", "id": "t",
            "attributes": {"active": 0, "tabs": [
                {"type": "object", "name": "TabPanel", "id": "p0", "attributes": {"child": shown}},
                {"type": "object", "name": "TabPanel", "id": "p1",
                 "attributes": {"child": hidden}}]}}
    from workbench.serve.harness import _walk_objects

    _walk_objects([tabs, row, slider(2, "sidebar")], s.models)
    assert [x.title for x in s.sliders] == ["shown", "hidden", "sidebar"][::2]
    s.models["t"]["attributes"]["active"] = 1
    assert sorted(x.title for x in s.sliders) == ["hidden", "sidebar"]


def test_several_server_processes_each_warm_and_serve():
    """`workbench serve --num-procs 2`: Panel forks the server; the set-up script runs in
    each process (thread caps, numba, and the apps opened once: each process has its own
    cache of first views), and sessions opening at once all get their updates."""
    import re

    with ServedApps(FIXTURE_APPS, num_procs=2) as srv:
        srv.wait("/fixture")
        warmed = poll(lambda: set(re.findall(r"server process (\d+) of 2 warmed fixture",
                                             srv.log())),
                      until=lambda pids: len(pids) == 2, timeout=120, interval=0.2)
        assert len(warmed) == 2, srv.log()[-2000:]

        async def one() -> tuple[list[str], int]:
            s = await BokehSession(srv.base, "fixture").open()
            await s.first_view(timeout=60)
            slider = s.sliders[0]
            await s.move(slider, slider.next_value(), timeout=60)
            await s.close()
            return s.errors, s.data_patches

        async def main():
            return await asyncio.gather(*(one() for _ in range(6)))

        for errors, patches in _run(main()):
            assert errors == [] and patches >= 1
        assert "Traceback" not in srv.log()
