"""Load: many browser-less sessions at once against the served dashboards, then session churn.

    python -m benchmarks load                      # every app in apps/, 30 sessions each
    .venv/bin/python -m benchmarks.bench_load --sessions 30 --changes 5 --churn 200
    python -m benchmarks load --num-procs 2        # `workbench serve --num-procs 2`

Phase 1 (per app): ``--sessions`` websocket sessions (the Bokeh protocol a browser speaks,
see ``workbench.serve.harness.BokehSession``) open at once; once every one shows its first
view, each moves one of the app's cheap sliders (``CHEAP``: a rank, a step, a bin count)
``--changes`` times and waits for the server's new plot data.
Recorded: time to open a session (to its first view: plot data in the page; "doc" is the
time to the page's document alone), time from a change to new data (p50/p95/max), the
server's CPU seconds per session opened (user + system of the server processes, from
/proc: what a session costs, nearly independent of other work on the machine), errors
(server errors, pages showing "Traceback"/"Internal error", timeouts; target none) and the
server's resident memory (VmRSS of the server process and its children).

Phase 2: ``--churn`` sessions are opened (to their first view) and closed
(``--churn-batch`` at a time, spread over the apps); once the server has discarded them
(its session count back to the baseline) its memory must be within 10 % of the memory
before the churn.

Targets (issue #18, 30 sessions on the 2-core machine): median open at most 3 s for every
app, slider change p95 at most 1 s for every app, no errors, memory after churn within
10 %. Each is printed with its verdict. Every wait is bounded (``--timeout`` per step,
``--phase-limit`` per phase), so a stuck server fails the run instead of hanging it.
Other work on the machine inflates the times (the load average is printed); compare runs
made in the same conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from pathlib import Path

from workbench.serve.harness import REPO, BokehSession, ServedApps, percentile

TARGET_ERRORS = 0
TARGET_MEMORY_RATIO = 1.10
TARGET_OPEN_MEDIAN_S = 3.0
TARGET_CHANGE_P95_S = 1.0


#: the cheap sliders of each app (a view of a computed result: no new computation), by
#: title; the change target is about them. Others (a seed, a noise level) start new runs.
CHEAP = {"engine": ["Lanczos steps shown", "SLQ broadening (x default)"],
         "hessian": ["Density broadening (× σ)", "Checkpoint shown"],
         "lowrank": ["Rank k"],
         "clustering": ["Number of clusters k"],
         "eigenspectra": ["Layer (or click a bar)", "Histogram bins"],
         "sweep": ["Entry of an array output"]}


def _slider_for(session: BokehSession, i: int, params: list[str] | None):
    sliders = session.sliders
    params = params or CHEAP.get(session.app)
    if params:
        wanted = [s for s in sliders if any(_norm(s.title).startswith(_norm(p))
                                            for p in params)]
        sliders = wanted or sliders
    return sliders[i % len(sliders)] if sliders else None


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


class _Gate:
    """Waits until `n` sessions have arrived, then runs `action` once and lets them all
    go on (the slider changes start once every session has its first view)."""

    def __init__(self, n: int, action):
        self.left, self.action, self.event = n, action, asyncio.Event()

    async def wait(self) -> None:
        self.left -= 1
        if self.left <= 0 and not self.event.is_set():
            self.action()
            self.event.set()
        await self.event.wait()


async def _one_session(base: str, app: str, i: int, changes: int, timeout: float,
                       params: list[str] | None, out: dict, opened: _Gate) -> None:
    t0 = time.perf_counter()
    s = BokehSession(base, app)
    arrived = False
    try:
        await s.open(timeout=timeout)
        out["doc"].append(time.perf_counter() - t0)
        await s.first_view(timeout=timeout)
        out["open"].append(time.perf_counter() - t0)
        arrived = True
        await opened.wait()  # every session has its first view (or gave up): the changes
        slider = _slider_for(s, i, params)
        if slider is None:
            out["errors"].append(f"{app}: no slider")
            return
        direction = 1 if i % 2 == 0 else -1
        for _ in range(changes):
            value = slider.next_value(direction)
            if (value - slider.value) * direction < 0:
                direction = -direction
            out["change"].append(await s.move(slider, value, timeout=timeout))
        out["errors"] += [f"{app}: {e}" for e in s.errors]
    except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
        out["errors"].append(f"{app}: {type(exc).__name__}: {exc}")
    finally:
        if not arrived:
            await opened.wait()
        await s.close()


async def _sample_rss(server: ServedApps, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], server.rss_kb())
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except asyncio.TimeoutError:
            pass


async def load_phase(server: ServedApps, app: str, sessions: int, changes: int,
                     timeout: float, limit: float, params: list[str] | None) -> dict:
    """`sessions` concurrent sessions of `app`, `changes` slider moves each."""
    out: dict = {"doc": [], "open": [], "change": [], "errors": []}
    peak, stop = [server.rss_kb()], asyncio.Event()
    sampler = asyncio.ensure_future(_sample_rss(server, peak, stop))
    cpu0 = server.cpu_seconds()

    def all_open() -> None:  # the barrier's action: the server's CPU for the opening
        out["open_cpu"] = (server.cpu_seconds() - cpu0) / sessions

    opened = _Gate(sessions, all_open)
    t0 = time.perf_counter()
    tasks = [asyncio.ensure_future(_one_session(server.base, app, i, changes, timeout,
                                                params, out, opened))
             for i in range(sessions)]
    done, pending = await asyncio.wait(tasks, timeout=limit)
    for t in pending:
        t.cancel()
    if pending:
        out["errors"].append(f"{app}: {len(pending)} sessions still running after {limit}s")
        await asyncio.gather(*pending, return_exceptions=True)
    out["wall"] = time.perf_counter() - t0
    if "open_cpu" in out and out["change"]:  # server CPU per change (closes included: small)
        out["change_cpu"] = ((server.cpu_seconds() - cpu0) / len(out["change"])
                             - out["open_cpu"] * sessions / len(out["change"]))
    stop.set()
    await sampler
    out["peak_kb"] = peak[0]
    return out


async def churn_phase(server: ServedApps, apps: list[str], n: int, batch: int,
                      timeout: float, limit: float) -> dict:
    """Open and close `n` sessions, `batch` at a time, round-robin over `apps`."""
    errors: list[str] = []
    t0 = time.perf_counter()

    async def one(k: int) -> None:
        s = BokehSession(server.base, apps[k % len(apps)])
        try:
            await s.open(timeout=timeout)
            await s.first_view(timeout=timeout)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            await s.close()

    for start in range(0, n, batch):
        if time.perf_counter() - t0 > limit:
            errors.append(f"churn stopped after {start} sessions ({limit}s limit)")
            break
        await asyncio.gather(*(one(k) for k in range(start, min(n, start + batch))))
    return {"errors": errors, "wall": time.perf_counter() - t0}


async def _prime(server: ServedApps, apps: list[str], timeout: float) -> dict[str, float]:
    """One session per app, in turn, to its first view (the warm-up's runs finished);
    returns {app: seconds}."""
    out = {}
    for app in apps:
        t0 = time.perf_counter()
        s = BokehSession(server.base, app)
        try:
            await s.open(timeout=timeout)
            await s.first_view(timeout=timeout)
        finally:
            await s.close()
        out[app] = time.perf_counter() - t0
    return out


def wait_idle(server: ServedApps, limit: float, share: float = 0.1) -> float:
    """Poll until the server uses under `share` of a core over 2 s (its background work
    done); returns the seconds waited (at most `limit`)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        c0, w0 = server.cpu_seconds(), time.perf_counter()
        time.sleep(2.0)
        if (server.cpu_seconds() - c0) / (time.perf_counter() - w0) < share:
            break
    return time.perf_counter() - t0


def wait_sessions(server: ServedApps, target: int, limit: float) -> tuple[int, float]:
    """Poll until the server holds at most `target` sessions; returns (count, seconds)."""
    t0 = time.perf_counter()
    count = server.open_sessions()
    while count > target and time.perf_counter() - t0 < limit:
        time.sleep(0.5)
        count = server.open_sessions()
    return count, time.perf_counter() - t0


def settled_rss(server: ServedApps, seconds: float = 3.0) -> int:
    """The server's RSS after `seconds` of quiet (minimum of samples, KiB)."""
    samples = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        samples.append(server.rss_kb())
        time.sleep(0.25)
    return min(samples)


def _ms(x: float) -> str:
    return f"{1000 * x:8.0f}"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="bench_load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--apps-dir", default=str(REPO / "apps"))
    p.add_argument("--app", action="append", help="app name (repeat); default: all")
    p.add_argument("--param", action="append",
                   help="slider title to move (repeat); default: the app's cheap sliders "
                        "(CHEAP), else each session its own")
    p.add_argument("--sessions", type=int, default=30)
    p.add_argument("--changes", type=int, default=5)
    p.add_argument("--churn", type=int, default=200)
    p.add_argument("--churn-batch", type=int, default=10)
    p.add_argument("--num-procs", type=int, default=1,
                   help="server processes (workbench serve --num-procs)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per step")
    p.add_argument("--phase-limit", type=float, default=600.0, help="seconds per phase")
    p.add_argument("--lifetime-ms", type=int, default=2000,
                   help="server's unused-session lifetime (workbench serve default 30000)")
    args = p.parse_args(argv)

    apps_dir = Path(args.apps_dir)
    apps = args.app or sorted(f.stem for f in apps_dir.glob("*.py") if not f.name.startswith("_"))
    if not apps:
        print(f"no apps in {apps_dir}: nothing to measure")
        return {}
    print(f"serving {len(apps)} app(s) from {apps_dir}: {', '.join(apps)} "
          f"({args.num_procs} server process(es))", flush=True)
    results: dict = {"apps": {}}
    load0 = os.getloadavg()[0]
    with ServedApps(apps_dir, session_info=True, session_lifetime_ms=args.lifetime_ms,
                    check_ms=max(200, args.lifetime_ms // 4), num_procs=args.num_procs) as server:
        for app in apps:
            server.wait("/" + app, timeout=600)
        # the server computes each app's first view at start (warm-up); a class arrives
        # after that: one session per app waits for its first view before the measures
        primed = asyncio.run(_prime(server, apps, 900.0))
        quiet = wait_idle(server, 900.0)  # and the follow-up stages they started
        rss_start = server.rss_kb()
        print(f"server up; RSS {rss_start / 1024:.0f} MiB; first session after start "
              + ", ".join(f"{a} {t:.1f} s" for a, t in primed.items())
              + f"; idle after {quiet:.0f} s more", flush=True)

        print(f"\nphase 1: {args.sessions} sessions open at once, then {args.changes} "
              "changes each, per app (ms; cpu s: server CPU seconds per session opened; "
              "cpu ms: server CPU ms per change)")
        hdr = (f"{'app':<14}{'doc p50':>8}{'open p50':>9}{'p95':>8}{'cpu s':>7}"
               f"{'change p50':>11}{'p95':>8}{'max':>8}{'cpu ms':>7}{'changes':>8}{'errors':>7}"
               f"{'wall s':>7}{'peak MiB':>9}")
        print(hdr + "\n" + "-" * len(hdr), flush=True)
        all_errors: list[str] = []
        for app in apps:
            r = asyncio.run(load_phase(server, app, args.sessions, args.changes, args.timeout,
                                       args.phase_limit, args.param))
            results["apps"][app] = r
            all_errors += r["errors"]
            print(f"{app:<14}{_ms(percentile(r['doc'], 50)):>8}"
                  f"{_ms(percentile(r['open'], 50)):>9}{_ms(percentile(r['open'], 95))}"
                  f"{r.get('open_cpu', float('nan')):>7.2f}"
                  f"{_ms(percentile(r['change'], 50)):>11}{_ms(percentile(r['change'], 95))}"
                  f"{_ms(max(r['change'], default=float('nan')))}"
                  f"{1000 * r.get('change_cpu', float('nan')):>7.0f}{len(r['change']):>8}"
                  f"{len(r['errors']):>7}{r['wall']:>7.1f}{r['peak_kb'] / 1024:>9.0f}",
                  flush=True)
        for e in all_errors[:10]:
            print("  error:", e)

        print(f"\nphase 2: open (to the first view) and close {args.churn} sessions "
              f"({args.churn_batch} at a time, round-robin over the apps)", flush=True)
        gc.collect()
        base_count, _ = wait_sessions(server, 0, 120)
        rss0 = settled_rss(server)
        churn = asyncio.run(churn_phase(server, apps, args.churn, args.churn_batch,
                                        args.timeout, args.phase_limit))
        rss_peak = server.rss_kb()
        count, waited = wait_sessions(server, base_count, max(120.0, args.lifetime_ms / 100))
        rss1 = settled_rss(server)
        ratio = rss1 / rss0 if rss0 else float("nan")
        results.update(rss_start_kb=rss_start, rss_before_churn_kb=rss0, rss_after_churn_kb=rss1,
                       churn=churn, sessions_left=count, base_sessions=base_count)
        print(f"  churn wall {churn['wall']:.1f} s, errors {len(churn['errors'])}; "
              f"sessions left {count} (baseline {base_count}) after {waited:.1f} s")
        print(f"  RSS before {rss0 / 1024:.0f} MiB, right after {rss_peak / 1024:.0f} MiB, "
              f"after clean-up {rss1 / 1024:.0f} MiB (ratio {ratio:.3f})")
        for e in churn["errors"][:5]:
            print("  error:", e)

    n_err = len(all_errors) + len(churn["errors"])
    print(f"\nmachine: {os.cpu_count()} cores, load average {load0:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (other work on the machine inflates every "
          "time; the cpu column does not grow with it)")
    print("\ntargets (target / measured / verdict)")
    met = []
    for app, r in results["apps"].items():
        med = percentile(r["open"], 50)
        ok = len(r["open"]) == args.sessions and med <= TARGET_OPEN_MEDIAN_S
        met.append(ok)
        print(f"  open median {app:<14}{TARGET_OPEN_MEDIAN_S:>6.1f} s {med:>8.2f} s   "
              f"{_verdict(ok)}" + ("" if len(r["open"]) == args.sessions else
                                   f" ({args.sessions - len(r['open'])} never opened)"))
    for app, r in results["apps"].items():
        p95 = percentile(r["change"], 95)
        ok = len(r["change"]) == args.sessions * args.changes and p95 <= TARGET_CHANGE_P95_S
        met.append(ok)
        print(f"  change p95 {app:<15}{TARGET_CHANGE_P95_S:>6.1f} s {p95:>8.2f} s   "
              f"{_verdict(ok)}" + ("" if len(r["change"]) == args.sessions * args.changes
                                   else f" ({len(r['change'])} of "
                                        f"{args.sessions * args.changes} changes)"))
    print(f"  errors                    {TARGET_ERRORS:>6}   {n_err:>8}     "
          f"{_verdict(n_err <= TARGET_ERRORS)}")
    print(f"  sessions discarded        {base_count:>6}   {count:>8}     "
          f"{_verdict(count <= base_count)}")
    print(f"  memory after/before churn {TARGET_MEMORY_RATIO:>6.2f}   {ratio:>8.3f}     "
          f"{_verdict(ratio <= TARGET_MEMORY_RATIO)}")
    met += [n_err <= TARGET_ERRORS, count <= base_count, ratio <= TARGET_MEMORY_RATIO]
    print(f"  all targets met: {'yes' if all(met) else 'no'}")
    results["errors"] = n_err
    results["memory_ratio"] = ratio
    results["targets_met"] = all(met)
    return results


if __name__ == "__main__":
    main()
