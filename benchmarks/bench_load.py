"""Load: many browser-less sessions at once against the served dashboards, then session churn.

    python -m benchmarks load                      # every app in apps/, 30 sessions each
    .venv/bin/python -m benchmarks.bench_load --sessions 30 --changes 5 --churn 200

Phase 1 (per app): ``--sessions`` concurrent websocket sessions (the Bokeh protocol a
browser speaks, see ``workbench.serve.harness.BokehSession``) each move a slider
``--changes`` times and wait for the server's new plot data. Recorded: time to open a
session, time from a change to new data (p50/p95/max), errors (server errors, pages
showing "Traceback"/"Internal error", timeouts; target none) and the server's resident
memory (VmRSS of the server process and its children, from /proc).

Phase 2: ``--churn`` sessions are opened and closed (``--churn-batch`` at a time, spread
over the apps); once the server has discarded them (its session count back to the
baseline) its memory must be within 10 % of the memory before the churn.

Every wait is bounded (``--timeout`` per change, ``--phase-limit`` per phase), so a stuck
server fails the run instead of hanging it. There is no peer tool for this benchmark: the
table compares against the targets.
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


def _slider_for(session: BokehSession, i: int, params: list[str] | None):
    sliders = session.sliders
    if params:
        wanted = [s for s in sliders if _norm(s.title) in {_norm(p) for p in params}]
        sliders = wanted or sliders
    return sliders[i % len(sliders)] if sliders else None


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


async def _one_session(base: str, app: str, i: int, changes: int, timeout: float,
                       params: list[str] | None, out: dict) -> None:
    t0 = time.perf_counter()
    s = BokehSession(base, app)
    try:
        await s.open(timeout=timeout)
        out["open"].append(time.perf_counter() - t0)
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
    out: dict = {"open": [], "change": [], "errors": []}
    peak, stop = [server.rss_kb()], asyncio.Event()
    sampler = asyncio.ensure_future(_sample_rss(server, peak, stop))
    t0 = time.perf_counter()
    tasks = [asyncio.ensure_future(_one_session(server.base, app, i, changes, timeout,
                                                params, out)) for i in range(sessions)]
    done, pending = await asyncio.wait(tasks, timeout=limit)
    for t in pending:
        t.cancel()
    if pending:
        out["errors"].append(f"{app}: {len(pending)} sessions still running after {limit}s")
        await asyncio.gather(*pending, return_exceptions=True)
    out["wall"] = time.perf_counter() - t0
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


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="bench_load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--apps-dir", default=str(REPO / "apps"))
    p.add_argument("--app", action="append", help="app name (repeat); default: all")
    p.add_argument("--param", action="append",
                   help="slider title to move (repeat); default: each session its own")
    p.add_argument("--sessions", type=int, default=30)
    p.add_argument("--changes", type=int, default=5)
    p.add_argument("--churn", type=int, default=200)
    p.add_argument("--churn-batch", type=int, default=10)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per change")
    p.add_argument("--phase-limit", type=float, default=300.0, help="seconds per phase")
    p.add_argument("--lifetime-ms", type=int, default=2000,
                   help="server's unused-session lifetime (workbench serve default 30000)")
    args = p.parse_args(argv)

    apps_dir = Path(args.apps_dir)
    apps = args.app or sorted(f.stem for f in apps_dir.glob("*.py") if not f.name.startswith("_"))
    if not apps:
        print(f"no apps in {apps_dir}: nothing to measure")
        return {}
    print(f"serving {len(apps)} app(s) from {apps_dir}: {', '.join(apps)}", flush=True)
    results: dict = {"apps": {}}
    with ServedApps(apps_dir, session_info=True, session_lifetime_ms=args.lifetime_ms,
                    check_ms=max(200, args.lifetime_ms // 4)) as server:
        server.wait("/" + apps[0], timeout=300)
        for app in apps[1:]:
            server.wait("/" + app, timeout=300)
        rss_start = server.rss_kb()
        print(f"server up; RSS {rss_start / 1024:.0f} MiB", flush=True)

        print(f"\nphase 1: {args.sessions} concurrent sessions x {args.changes} changes per app")
        hdr = (f"{'app':<14}{'open p50':>9}{'p95':>8}{'change p50':>11}{'p95':>8}{'max':>8}"
               f"{'changes':>9}{'errors':>8}{'wall s':>8}{'peak MiB':>9}")
        print(hdr + "\n" + "-" * len(hdr), flush=True)
        all_errors: list[str] = []
        for app in apps:
            r = asyncio.run(load_phase(server, app, args.sessions, args.changes, args.timeout,
                                       args.phase_limit, args.param))
            results["apps"][app] = r
            all_errors += r["errors"]
            print(f"{app:<14}{_ms(percentile(r['open'], 50)):>9}{_ms(percentile(r['open'], 95))}"
                  f"{_ms(percentile(r['change'], 50)):>11}{_ms(percentile(r['change'], 95))}"
                  f"{_ms(max(r['change'], default=float('nan')))}{len(r['change']):>9}"
                  f"{len(r['errors']):>8}{r['wall']:>8.1f}{r['peak_kb'] / 1024:>9.0f}", flush=True)
        for e in all_errors[:10]:
            print("  error:", e)

        print(f"\nphase 2: open and close {args.churn} sessions "
              f"({args.churn_batch} at a time, round-robin over the apps)", flush=True)
        gc.collect()
        base_count, _ = wait_sessions(server, 0, 60)
        rss0 = settled_rss(server)
        churn = asyncio.run(churn_phase(server, apps, args.churn, args.churn_batch,
                                        args.timeout, args.phase_limit))
        rss_peak = server.rss_kb()
        count, waited = wait_sessions(server, base_count, max(60.0, args.lifetime_ms / 100))
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
    changes = [x for r in results["apps"].values() for x in r["change"]]
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(other work on the machine inflates every figure)")
    print("\nsummary (target / measured / verdict)")
    print(f"  errors                 {TARGET_ERRORS:>8} {n_err:>10}   "
          f"{'PASS' if n_err <= TARGET_ERRORS else 'FAIL'}")
    print(f"  change p50 (all apps)  {'-':>8} {_ms(percentile(changes, 50)):>10} ms")
    print(f"  change p95 (all apps)  {'-':>8} {_ms(percentile(changes, 95)):>10} ms")
    print(f"  sessions discarded     {base_count:>8} {count:>10}   "
          f"{'PASS' if count <= base_count else 'FAIL'}")
    print(f"  memory after/before    {TARGET_MEMORY_RATIO:>8.2f} {ratio:>10.3f}   "
          f"{'PASS' if ratio <= TARGET_MEMORY_RATIO else 'FAIL'}")
    results["errors"] = n_err
    results["memory_ratio"] = ratio
    return results


if __name__ == "__main__":
    main()
