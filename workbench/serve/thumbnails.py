"""Index-page previews: ``apps/thumbnails/<slug>.png`` rendered from each served app.

    workbench thumbnails                      # every app in apps/
    workbench thumbnails --app clustering     # just one

Each app is served (``workbench serve`` on a free loopback port), opened in headless
Chromium (Playwright with /usr/bin/chromium, no download), left until its canvases have
not changed for a while (first computations done), then the top-left part of the page is
captured and scaled down with Pillow to a small PNG (palette-quantized when needed to stay
under ``max_bytes``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from pathlib import Path

from workbench.serve.harness import JS_INSTALL, JS_QUIET, REPO, ServedApps

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# true once some Bokeh ColumnDataSource on the page holds at least 2 rows
JS_HAS_DATA = """() => {
  if (!window.Bokeh || !Bokeh.documents) return false;
  for (const doc of Bokeh.documents)
    for (const m of doc.all_models) {
      if (!m.data || !String(m.type).endsWith('ColumnDataSource')) continue;
      const cols = (m.data instanceof Map) ? Array.from(m.data.values()) : Object.values(m.data);
      if (cols.some(v => v && v.length >= 2)) return true;
    }
  return false;
}"""
VIEWPORT = {"width": 1400, "height": 900}
SIZE = (600, 386)  # output pixels, the viewport's aspect ratio
MAX_BYTES = 150_000


def shrink_png(png: bytes, size: tuple[int, int] = SIZE, max_bytes: int = MAX_BYTES) -> bytes:
    """Resize a screenshot to `size` (Lanczos) and encode it as an optimized PNG, reducing
    to a 256-, 64- then 16-colour palette if needed to fit `max_bytes`. Returns PNG bytes."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").resize(size, Image.LANCZOS)
    out = b""
    for colours in (None, 256, 64, 16):
        im = img if colours is None else img.quantize(colours, method=Image.MEDIANCUT)
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=True)
        out = buf.getvalue()
        if len(out) <= max_bytes:
            break
    return out


def capture(page, url: str, quiet_ms: float = 1500, timeout_s: float = 180) -> bytes:
    """Open `url`, wait for the plots to appear and settle; return a viewport screenshot."""
    page.goto(url, timeout=timeout_s * 1000)
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.documents && Bokeh.documents.length > 0",
        timeout=timeout_s * 1000)
    # plotted data first (apps whose first view comes from background work draw empty
    # frames until it lands), then quiet canvases
    with contextlib.suppress(Exception):  # a page without plots: take it as it is
        page.wait_for_function(JS_HAS_DATA, timeout=timeout_s * 1000)
    page.evaluate(JS_INSTALL)
    deadline = time.monotonic() + timeout_s
    # settled: canvases quiet and no background-work progress bar showing
    while time.monotonic() < deadline:
        try:
            page.wait_for_function(JS_QUIET, arg=quiet_ms, timeout=timeout_s * 1000)
        except Exception:  # noqa: BLE001 - animated page: take it as it is
            break
        if page.locator(".wb-progress >> visible=true").count() == 0:
            break
        page.wait_for_timeout(500)
    return page.screenshot(clip={"x": 0, "y": 0, **VIEWPORT})


def render(apps_dir: Path | str = REPO / "apps", out_dir: Path | str | None = None,
           apps: list[str] | None = None, theme: str = "default",
           server: ServedApps | None = None) -> dict[str, Path]:
    """Render a thumbnail for each app (all ``*.py`` in `apps_dir` unless `apps` is given)
    into `out_dir` (default ``<apps_dir>/thumbnails``), from `server` if given (one serving
    `apps_dir`), else from a server started and stopped here. Returns {slug: png path}; an
    app that fails to render is reported and skipped."""
    from playwright.sync_api import sync_playwright

    apps_dir = Path(apps_dir)
    out = Path(out_dir) if out_dir else apps_dir / "thumbnails"
    out.mkdir(parents=True, exist_ok=True)
    slugs = apps or sorted(p.stem for p in apps_dir.glob("*.py") if not p.name.startswith("_"))
    done: dict[str, Path] = {}
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: cannot render thumbnails")
    own = server is None
    server = ServedApps(apps_dir) if own else server
    with contextlib.ExitStack() as stack, sync_playwright() as pw:
        if own:
            stack.enter_context(server)
        for slug in slugs:
            server.wait("/" + slug, timeout=300)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            for slug in slugs:
                ctx = browser.new_context(viewport=VIEWPORT)
                try:
                    shot = capture(ctx.new_page(), f"{server.base}/{slug}?theme={theme}")
                    path = out / f"{slug}.png"
                    path.write_bytes(shrink_png(shot))
                    done[slug] = path
                    print(f"{slug}: {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)
                except Exception as exc:  # noqa: BLE001 - one broken app must not stop the rest
                    print(f"{slug}: FAILED ({type(exc).__name__}: {exc})", flush=True)
                finally:
                    ctx.close()
        finally:
            browser.close()
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="workbench thumbnails", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--apps", default=str(REPO / "apps"), help="folder of dashboard files")
    p.add_argument("--out", default=None, help="output folder (default <apps>/thumbnails)")
    p.add_argument("--app", action="append", help="only this app (repeat)")
    p.add_argument("--theme", default="default", choices=["default", "dark"])
    args = p.parse_args(argv)
    want = args.app or sorted(q.stem for q in Path(args.apps).glob("*.py")
                              if not q.name.startswith("_"))
    done = render(args.apps, args.out, args.app, args.theme)
    return 0 if len(done) == len(want) else 1


if __name__ == "__main__":
    raise SystemExit(main())
