"""Latency from a key press on a slider to changed pixels on the page's canvases.

    python -m benchmarks latency                         # every app in apps/
    .venv/bin/python -m benchmarks.bench_latency --app clustering --presses 30

The dashboards are served (``workbench serve`` on a free loopback port) and opened in
headless Chromium (Playwright, /usr/bin/chromium). A script injected into the page hashes
the pixels of every canvas (Bokeh draws into canvases inside shadow roots) on each
animation frame. For every visible slider the harness focuses its handle and presses an
arrow key ``--presses`` times (walking to one end, then back), each time after the page has
been quiet for ``--quiet`` ms. Latency is measured in the page's own clock, from the
keydown event's timestamp to the first animation frame whose canvas pixels differ ("first
change"); "settled" is the time to the last pixel change before the page went quiet.

Targets (first change): "cheap" parameters p50 < 100 ms and p95 < 200 ms; "large" views
(1M-point clustering) p50 < 300 ms and p95 < 600 ms; other ("costly") parameters are
reported without a target. Which sliders are cheap is listed per app in ``KINDS`` below
(overridable with ``--kind app:Title=cheap``); sliders of apps not listed there count as
cheap. There is no peer tool: the table compares against the targets.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.serve.harness import JS_INSTALL, JS_QUIET, REPO, ServedApps, percentile

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# target name -> (p50 ms, p95 ms); None: reported without a target
TARGETS: dict[str, tuple[float, float] | None] = {
    "cheap": (100.0, 200.0),
    "large": (300.0, 600.0),
    "costly": None,
}

# Per app: slider title (as shown, before the colon; case and punctuation ignored) -> kind.
# Sliders not listed take the app's "*" entry, else "cheap".
KINDS: dict[str, dict[str, str]] = {
    "fixture": {"level": "costly"},
    # new data, a new graph or a new Lanczos run: background work, no target
    "engine": {"Lanczos steps run (costly)": "costly", "Probes (costly)": "costly",
               "Top-k race": "costly"},
    "clustering": {"Noise (x scikit-learn's gallery)": "costly", "Seed": "costly",
                   "Neighbours": "costly", "Points": "costly"},
    "lowrank": {"Noise": "costly", "Observed fraction": "costly", "Completion rank": "costly",
                "True rank": "costly"},
}

#: views opened by a link (the URL state) and measured on their own, by default after the
#: apps: (label, app, query string, the slider measured, its kind)
VIEWS = [("clustering 1M", "clustering", "n_samples=1000000", "Number of clusters k", "large")]

JS_SLIDERS = r"""() => {
  const out = [];
  function walk(root) {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('noUi-handle')) {
        const r = el.getRootNode();
        const t = r.querySelector ? r.querySelector('.bk-slider-title') : null;
        out.push(t ? t.innerText : '');
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  }
  walk(document);
  return out;
}"""


def norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def slider_name(title: str) -> str:
    """"Rank: 5" -> "Rank"."""
    return title.split(":")[0].strip() or "slider"


def kind_of(app: str, name: str, overrides: dict[str, dict[str, str]]) -> str:
    table = {**KINDS.get(app, {}), **overrides.get(app, {})}
    table = {norm(k) if k != "*" else "*": v for k, v in table.items()}
    return table.get(norm(name), table.get("*", "cheap"))


@dataclass
class Row:
    app: str
    param: str
    kind: str
    first: list[float] = field(default_factory=list)
    settled: list[float] = field(default_factory=list)
    misses: int = 0
    note: str = ""

    def verdict(self) -> str:
        target = TARGETS.get(self.kind)
        if not self.first:
            return "FAIL" if target else "-"
        if target is None:
            return "-"
        ok = (percentile(self.first, 50) < target[0] and percentile(self.first, 95) < target[1]
              and self.misses == 0)
        return "PASS" if ok else "FAIL"


def measure_slider(page, handle, row: Row, presses: int, warmup: int, quiet: float,
                   timeout: float, budget: float) -> None:
    """Press arrow keys on `handle`; append latencies (ms) to `row`."""
    t_start = time.monotonic()
    direction = "ArrowRight"
    consecutive_miss = 0
    for i in range(presses + warmup):
        if time.monotonic() - t_start > budget:
            row.note = f"stopped after {budget:.0f} s"
            break
        try:
            page.wait_for_function(JS_QUIET, arg=quiet, timeout=timeout * 1000)
        except Exception:  # noqa: BLE001 - a page that never settles is reported
            row.note = "page never quiet"
            break
        now, lo, hi = (float(handle.get_attribute(a) or 0)
                       for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax"))
        if direction == "ArrowRight" and now >= hi:
            direction = "ArrowLeft"
        elif direction == "ArrowLeft" and now <= lo:
            direction = "ArrowRight"
        handle.focus()
        handle.press(direction)
        try:
            page.wait_for_function("() => window.__wbLat.first !== null", timeout=timeout * 1000)
            page.wait_for_function(JS_QUIET, arg=quiet, timeout=timeout * 1000)
        except Exception:  # noqa: BLE001 - no visible change within the timeout
            if i >= warmup:
                row.misses += 1
            consecutive_miss += 1
            page.evaluate("() => { window.__wbLat.armed = false; }")
            if consecutive_miss >= 3:
                row.note = "no pixel change for 3 presses"
                break
            continue
        consecutive_miss = 0
        first, last = page.evaluate(
            "() => { const s = window.__wbLat; s.armed = false; return [s.first, s.last]; }")
        if i >= warmup:
            row.first.append(first)
            row.settled.append(last)


def measure_app(browser, base: str, app: str, args, overrides, *, query: str = "",
                label: str | None = None, only: list[str] | None = None) -> list[Row]:
    """Rows for the visible sliders of `app` opened with `query` (all, or those titled as
    in `only` / --param); rows are labelled `label` (default: the app)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    rows: list[Row] = []
    wanted = only or args.param
    label_ = label
    try:
        page.goto(f"{base}/{app}" + (f"?{query}" if query else ""), timeout=180_000)
        page.wait_for_selector(".noUi-handle", timeout=180_000)
        page.wait_for_function(
            "() => window.Bokeh && Bokeh.documents && Bokeh.documents.length > 0",
            timeout=180_000)
        page.evaluate(JS_INSTALL)
        page.wait_for_function(JS_QUIET, arg=1000, timeout=180_000)
        titles = page.evaluate(JS_SLIDERS)
        handles = page.locator(".noUi-handle")
        seen: dict[str, int] = {}
        hidden = 0
        for idx in range(handles.count()):
            handle = handles.nth(idx)
            name = slider_name(titles[idx] if idx < len(titles) else "")
            seen[name] = seen.get(name, 0) + 1
            label = name if seen[name] == 1 else f"{name} #{seen[name]}"
            if wanted and norm(name) not in {norm(p) for p in wanted}:
                continue
            if not handle.is_visible():
                # inside a tab that is not shown, or a control of another source: a user
                # cannot press it without first changing the view, so it is not measured
                hidden += 1
                continue
            row = Row(label_ or app, label, kind_of(label_ or app, name, overrides))
            rows.append(row)
            measure_slider(page, handle, row, args.presses, args.warmup, args.quiet,
                           args.timeout, args.budget)
            print(_fmt(row), flush=True)
        if hidden:
            print(f"{app:<13}({hidden} slider(s) not visible on the opened view: not measured)",
                  flush=True)
    except Exception as exc:  # noqa: BLE001 - one broken app must not stop the others
        rows.append(Row(app, "(page)", "cheap", note=f"{type(exc).__name__}: {exc}"[:120]))
        print(_fmt(rows[-1]), flush=True)
    finally:
        ctx.close()
    return rows


HEADER = (f"{'app':<13}{'parameter':<20}{'kind':<7}{'n':>4}{'p50 ms':>8}{'p95 ms':>8}"
          f"{'settled p50':>12}{'target':>10}{'verdict':>8}  note")


def _fmt(r: Row) -> str:
    t = TARGETS.get(r.kind)
    target = f"{t[0]:.0f}/{t[1]:.0f}" if t else "-"
    note = r.note + (f" {r.misses} presses without change" if r.misses else "")
    return (f"{r.app:<13}{r.param[:19]:<20}{r.kind:<7}{len(r.first):>4}"
            f"{percentile(r.first, 50):>8.0f}{percentile(r.first, 95):>8.0f}"
            f"{percentile(r.settled, 50):>12.0f}{target:>10}{r.verdict():>8}  {note}")


def _parse_kinds(items: list[str] | None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        app, _, rest = item.partition(":")
        name, _, kind = rest.partition("=")
        if kind not in TARGETS:
            raise SystemExit(f"--kind {item!r}: kind must be one of {sorted(TARGETS)}")
        out.setdefault(app, {})[name] = kind
    return out


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser(prog="bench_latency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--apps-dir", default=str(REPO / "apps"))
    p.add_argument("--app", action="append", help="app name (repeat); default: all")
    p.add_argument("--param", action="append", help="only sliders with this title (repeat)")
    p.add_argument("--kind", action="append", metavar="APP:TITLE=KIND",
                   help="override a slider's kind (cheap, large, costly); TITLE may be *")
    p.add_argument("--presses", type=int, default=30)
    p.add_argument("--warmup", type=int, default=2, help="presses not counted, per slider")
    p.add_argument("--quiet", type=float, default=400.0,
                   help="ms without pixel change that count as settled")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per press")
    p.add_argument("--budget", type=float, default=120.0, help="seconds per slider")
    p.add_argument("--no-views", action="store_true",
                   help="skip the extra views opened by a link (the 1M-point clustering view)")
    args = p.parse_args(argv)
    overrides = _parse_kinds(args.kind)

    apps_dir = Path(args.apps_dir)
    apps = args.app or sorted(f.stem for f in apps_dir.glob("*.py") if not f.name.startswith("_"))
    if not apps:
        print(f"no apps in {apps_dir}: nothing to measure")
        return []
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: cannot measure in a browser")
        return []
    from playwright.sync_api import sync_playwright

    rows: list[Row] = []
    views = [v for v in VIEWS if not args.app or v[1] in args.app] if not args.no_views else []
    if views:
        # the server computes the 1M-point clustering view before it opens (as a teacher
        # would before a class: docs/clustering.md), ~1.5 minutes
        os.environ.setdefault("WORKBENCH_WARM_CLUSTERING", "1000000")
    with ServedApps(apps_dir) as server, sync_playwright() as pw:
        for app in apps:
            server.wait("/" + app, timeout=300)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        print(HEADER + "\n" + "-" * len(HEADER), flush=True)
        try:
            for app in apps:
                rows += measure_app(browser, server.base, app, args, overrides)
            for label, app, query, title, kind in views:
                kinds = {**overrides, label: {title: kind, **overrides.get(label, {})}}
                rows += measure_app(browser, server.base, app, args, kinds, query=query,
                                    label=label, only=[title])
        finally:
            browser.close()
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(other work on the machine inflates every figure)")
    print("\nsummary")
    print(HEADER + "\n" + "-" * len(HEADER))
    for r in rows:
        print(_fmt(r))
    judged = [r for r in rows if TARGETS.get(r.kind)]
    passed = sum(r.verdict() == "PASS" for r in judged)
    print(f"\n{passed}/{len(judged)} sliders with a target meet it "
          f"(cheap: p50 < 100 ms, p95 < 200 ms; large: p50 < 300 ms, p95 < 600 ms)")
    return rows


if __name__ == "__main__":
    main()
