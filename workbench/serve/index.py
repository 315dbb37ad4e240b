"""The index page of ``workbench serve``: a card per dashboard (title, one-line
description, thumbnail when one has been rendered). Plain HTML, no external hosts."""

from __future__ import annotations

import ast
import html
from dataclasses import dataclass
from pathlib import Path

from workbench.serve.theme import ACCENT


@dataclass(frozen=True)
class AppInfo:
    slug: str
    title: str
    description: str
    path: Path


def app_info(path: Path) -> AppInfo:
    """Title and description from an app file's module docstring, whose first line reads
    "Title — one-line description" (without importing the app)."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or path.stem
    first = doc.strip().splitlines()[0]
    title, _, desc = first.partition(" — ")
    return AppInfo(path.stem, title.strip(), desc.strip(), path)


def discover_apps(apps_dir: Path) -> list[AppInfo]:
    """Every ``*.py`` dashboard in `apps_dir` (files starting with "_" are skipped)."""
    order = ["engine", "hessian", "eigenspectra", "clustering", "lowrank", "sweep"]
    files = [p for p in sorted(apps_dir.glob("*.py")) if not p.name.startswith("_")]
    files.sort(key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem))
    return [app_info(p) for p in files]


# ?theme=dark / ?theme=default as on the dashboards (without it: the system's preference);
# the cards and the theme link carry the theme on to the pages they open
_THEME_JS = """(function () {
  var t = new URLSearchParams(window.location.search).get("theme");
  var dark = t === "dark" || (t !== "default" && window.matchMedia &&
                              window.matchMedia("(prefers-color-scheme: dark)").matches);
  document.body.classList.add(dark ? "dark" : "light");
  var link = document.getElementById("theme-link");
  link.textContent = (dark ? "default" : "dark") + " theme";
  link.setAttribute("href", "?theme=" + (dark ? "default" : "dark"));
  if (dark) document.querySelectorAll("a.card").forEach(function (a) {
    a.setAttribute("href", a.getAttribute("href") + "?theme=dark");
  });
})();"""


def render_index(apps: list[AppInfo], thumbnails: set[str] | None = None) -> str:
    """The index page HTML. `thumbnails`: slugs that have thumbnails/<slug>.png."""
    thumbnails = thumbnails or set()
    cards = []
    for a in apps:
        img = (f'<img src="thumbnails/{a.slug}.png" alt="{html.escape(a.title)} preview">'
               if a.slug in thumbnails else '<div class="noimg">no preview yet</div>')
        cards.append(
            f'<a class="card" id="app-{a.slug}" href="./{a.slug}">{img}'
            f'<h2>{html.escape(a.title)}</h2><p>{html.escape(a.description)}</p></a>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Spectral Workbench</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0; background: #f4f6f9; color: #1d2733; }}
header {{ background: {ACCENT}; color: white; padding: 1.2rem 2rem; }}
header h1 {{ margin: 0; font-size: 1.6rem; }}
header p {{ margin: .3rem 0 0; opacity: .9; }}
main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
        gap: 1.2rem; padding: 2rem; }}
.card {{ background: white; border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.15);
         text-decoration: none; color: inherit; overflow: hidden; display: block; }}
.card:hover {{ box-shadow: 0 3px 12px rgba(0,0,0,.25); }}
.card img, .card .noimg {{ width: 100%; height: 180px; object-fit: cover;
         object-position: top left; background: #e8ecf2; display: block; }}
.card .noimg {{ display: flex; align-items: center; justify-content: center; color: #889; }}
.card h2 {{ font-size: 1.15rem; margin: .8rem 1rem .3rem; color: {ACCENT}; }}
.card p {{ margin: 0 1rem 1rem; font-size: .92rem; line-height: 1.35; }}
header a {{ color: white; font-size: .95em; text-decoration: none;
           border-bottom: 1px dotted white; float: right; }}
body.dark {{ background: #15191f; color: #dde3ea; }}
body.dark .card {{ background: #20262e; }} body.dark .card h2 {{ color: #9db4e0; }}
@media (prefers-color-scheme: dark) {{
  body:not(.light) {{ background: #15191f; color: #dde3ea; }}
  body:not(.light) .card {{ background: #20262e; }}
  body:not(.light) .card h2 {{ color: #9db4e0; }}
}}
</style></head>
<body><header><a id="theme-link" href="?theme=dark">dark theme</a>
<h1>Spectral Workbench</h1>
<p>See the spectra inside machine learning, and change them live.
{len(apps)} dashboards.</p></header>
<main>
{chr(10).join(cards)}
</main>
<script>{_THEME_JS}</script>
</body></html>
"""
