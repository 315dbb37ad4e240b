"""What a new session costs the server's event loop, per app (a profiling tool, not a
benchmark: ``python -m benchmarks.profile_open --app engine --sessions 8``).

``--cpu``: no server and no profiler: each app's page is built in this process as the
server builds it (Panel's ``generate_session``, then its on-load callbacks, then the
document serialized as a browser's first pull receives it; the callbacks it queued on the
event loop -- results delivered on the next tick -- are run as the loop would, in "+ view"),
after three warm-up pages have computed and cached its runs; printed per app: CPU seconds per page (median), which
other work on the machine barely changes -- the figure to compare before/after a change.

The apps are served as ``workbench serve`` serves them (the project's server set-up and
warm-up), with a profiler that a signal switches on and off in the server's main thread
(the event loop: sessions are created there and their callbacks run there; background
work in worker threads is not counted). After the warm-up, ``--sessions`` sessions are
opened one after another, each waiting for its first view (plot data in the page), then
closed. Printed per app: seconds to the document and to the first view (median), and the
functions that took the event loop's time (cumulative, per session). ``--changes N``:
instead, the sessions stay open and each moves its app's cheap slider
(``bench_load.CHEAP``) N times; the profile covers the changes only (issue #18).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbench.serve.harness import REPO, BokehSession, free_port

_SETUP = '''
import cProfile, runpy, signal
runpy.run_path({setup!r}, run_name="__main__")
_prof = cProfile.Profile()
def _on(*_):
    _prof.enable()
def _off(*_):
    _prof.disable()
    _prof.dump_stats({out!r})
signal.signal(signal.SIGUSR1, _on)
signal.signal(signal.SIGUSR2, _off)
'''


def _serve(app: str, work: Path) -> tuple[subprocess.Popen, str, Path]:
    from workbench.cli import serve_command, serve_env

    out = work / f"{app}.prof"
    setup = work / "setup.py"
    setup.write_text(_SETUP.format(setup=str(REPO / "workbench" / "serve" / "server_setup.py"),
                                   out=str(out)))
    port = free_port()
    args = argparse.Namespace(apps=str(REPO / "apps"), thumbnails=None, address="127.0.0.1",
                              port=port, warm=True, show=False, sweeps=None,
                              num_procs=1)
    cmd = serve_command(args)
    files = [c for c in cmd if c.endswith(".py") and "/apps/" in c]
    cmd = [c for c in cmd if c not in files or c.endswith(f"/{app}.py")]
    cmd[cmd.index("--setup") + 1] = str(setup)
    env = serve_env(args)
    env.setdefault("WORKBENCH_THREADS", "1")
    log = open(work / f"{app}.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, f"http://127.0.0.1:{port}", out


def _wait_up(base: str, app: str, proc: subprocess.Popen, limit: float = 600) -> None:
    import urllib.request

    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            with urllib.request.urlopen(f"{base}/{app}", timeout=30) as r:
                if r.status < 500:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    raise TimeoutError(app)


async def _sessions(base: str, app: str, n: int) -> tuple[list[float], list[float]]:
    docs, views = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        s = BokehSession(base, app)
        await s.open(timeout=120)
        docs.append(time.perf_counter() - t0)
        await s.first_view(timeout=120)
        views.append(time.perf_counter() - t0)
        await s.close()
    return docs, views


async def _changes(base: str, app: str, n: int, changes: int, pid: int) -> list[float]:
    """`n` sessions open (to their first view), then each moves its cheap slider
    (benchmarks.bench_load.CHEAP) `changes` times, one change at a time; the profiler is
    on during the changes only. Returns the seconds of each change."""
    from benchmarks.bench_load import _slider_for

    opened = []
    for _ in range(n):
        s = BokehSession(base, app)
        await s.open(timeout=120)
        await s.first_view(timeout=120)
        opened.append(s)
    times = []
    os.kill(pid, signal.SIGUSR1)
    for i, s in enumerate(opened):
        slider, direction = _slider_for(s, i, None), 1
        for _ in range(changes):
            value = slider.next_value(direction)
            if (value - slider.value) * direction < 0:
                direction = -direction
            times.append(await s.move(slider, value, timeout=120))
    os.kill(pid, signal.SIGUSR2)
    for s in opened:
        await s.close()
    return times


def profile_app(app: str, sessions: int, top: int, work: Path, changes: int = 0) -> None:
    proc, base, out = _serve(app, work)
    try:
        _wait_up(base, app, proc)
        asyncio.run(_sessions(base, app, 2))  # first-session effects (imports) not counted
        if changes:
            times = asyncio.run(_changes(base, app, sessions, changes, proc.pid))
        else:
            os.kill(proc.pid, signal.SIGUSR1)
            docs, views = asyncio.run(_sessions(base, app, sessions))
            os.kill(proc.pid, signal.SIGUSR2)
        t0 = time.monotonic()
        while not out.exists() and time.monotonic() - t0 < 30:
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    stats = pstats.Stats(str(out))
    total = stats.total_tt
    if changes:
        print(f"\n== {app}: {sessions} sessions, {changes} cheap slider changes each, one at "
              f"a time; change {1000 * statistics.median(times):.0f} ms (median); event "
              f"loop busy {1000 * total / len(times):.1f} ms per change")
        stats.sort_stats("cumulative").print_stats(top)
        return
    print(f"\n== {app}: {sessions} sessions one after another; document "
          f"{statistics.median(docs):.2f} s, first view {statistics.median(views):.2f} s "
          f"(median); event loop busy {total / sessions:.3f} s per session")
    stats.sort_stats("cumulative").print_stats(top)


_SET_UP: list = []


def cpu_per_page(app: str, pages: int) -> tuple[float, float, float]:
    """(document, + first view, + serialization) CPU seconds of one new page of `app`
    (medians over `pages`), its runs already cached (see the module docstring)."""
    import runpy

    from bokeh.command.util import build_single_handler_applications
    from panel.io.document import _cleanup_doc
    from panel.io.session import generate_session
    from panel.io.state import set_curdoc, state

    from workbench import jobs as base

    if not _SET_UP:
        runpy.run_path(str(REPO / "workbench" / "serve" / "server_setup.py"))
        _SET_UP.append(True)
    application = next(iter(build_single_handler_applications(
        [str(REPO / "apps" / f"{app}.py")], {}).values()))

    def cleanup(doc) -> None:
        for _ in range(10):  # a worker thread may deliver into it meanwhile: try again
            try:
                _cleanup_doc(doc, destroy=True)
                return
            except RuntimeError:
                time.sleep(0.2)

    def tick(doc) -> int:
        """Run the callbacks queued on `doc`'s loop (next-tick and timeouts: deliveries
        of background results, updates put off to the next tick), as the server's event
        loop would. Returns how many ran."""
        from bokeh.server.callbacks import NextTickCallback, TimeoutCallback

        queued = [cb for cb in list(doc.session_callbacks)
                  if isinstance(cb, (NextTickCallback, TimeoutCallback))]
        for cb in queued:
            cb.callback()  # (one-shot: removes itself first)
        return len(queued)

    def idle(doc) -> None:  # the warm-up page's background runs and their follow-ups done
        quiet = 0
        t0 = time.monotonic()
        while quiet < 3 and time.monotonic() - t0 < 900:
            ran = tick(doc)
            with base._INFLIGHT_LOCK:
                quiet = 0 if base._INFLIGHT or ran else quiet + 1
            time.sleep(0.5)

    for _ in range(3):  # warm-up pages: their results are delivered (and cached)
        session = generate_session(application)
        with set_curdoc(session.document):
            state._on_load(None)
        idle(session.document)
        cleanup(session.document)
    docs, views, sent = [], [], []
    for _ in range(pages):
        c0 = time.process_time()
        session = generate_session(application)
        c1 = time.process_time()
        with set_curdoc(session.document), session.document.models.freeze():
            state._on_load(None)  # (served, a browser's document_ready is applied frozen)
            while tick(session.document):  # cached results: delivered on the next ticks
                pass
        c2 = time.process_time()
        session.document.to_json(deferred=False)
        c3 = time.process_time()
        docs.append(c1 - c0)
        views.append(c2 - c0)
        sent.append(c3 - c0)
        cleanup(session.document)
    return statistics.median(docs), statistics.median(views), statistics.median(sent)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--app", action="append", help="app name (repeat); default: all")
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--changes", type=int, default=0,
                   help="profile this many cheap slider changes per session (bench_load.CHEAP) "
                        "instead of the sessions' opening")
    p.add_argument("--top", type=int, default=40, help="functions listed")
    p.add_argument("--cpu", action="store_true",
                   help="CPU seconds per page, in this process (no server, no profiler)")
    p.add_argument("--out", default=None,
                   help="folder to keep <app>.prof and <app>.log in (default: a temporary one)")
    args = p.parse_args(argv)
    apps = args.app or sorted(f.stem for f in (REPO / "apps").glob("*.py")
                              if not f.name.startswith("_"))
    if args.cpu:
        os.environ.setdefault("WORKBENCH_THREADS", "1")
        print(f"CPU seconds per new page (median of {args.sessions}; runs cached)")
        print(f"{'app':<14}{'document':>10}{'+ view':>10}{'+ sent':>10}")
        for app in apps:
            d, v, j = cpu_per_page(app, args.sessions)
            print(f"{app:<14}{d:>10.3f}{v:>10.3f}{j:>10.3f}", flush=True)
        return
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        for app in apps:
            profile_app(app, args.sessions, args.top, Path(args.out), args.changes)
        return
    with tempfile.TemporaryDirectory(prefix="wb-profile-") as work:
        for app in apps:
            profile_app(app, args.sessions, args.top, Path(work), args.changes)


if __name__ == "__main__":
    sys.exit(main())
