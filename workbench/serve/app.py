"""Serving an explorer as a page: the shared template, theme and URL state.

``apps/<topic>.py`` is two lines: import the explorer, call ``serve(ExplorerClass)``.
"""

from __future__ import annotations

import contextlib

import panel as pn

from workbench.serve.theme import ACCENT, CSS

_extension_loaded = False
_LINK = "color:white;font-size:0.95em;text-decoration:none;border-bottom:1px dotted white"


def ensure_extension() -> None:
    """Load Panel + HoloViews (Bokeh) once per process; resources come from the server."""
    global _extension_loaded
    if not _extension_loaded:
        import holoviews as hv

        pn.extension("tabulator", raw_css=[CSS], notifications=False, sizing_mode="stretch_width")
        hv.extension("bokeh", logo=False)
        _extension_loaded = True


def page(explorer, theme: str | None = None) -> pn.template.BootstrapTemplate:
    """Wrap an explorer in the workbench template. ``theme`` is "default" or "dark"; when
    None it is read from the page's ``?theme=`` query argument."""
    if theme is None:
        arg = pn.state.session_args.get("theme", [b"default"])[0]
        theme = arg.decode() if isinstance(arg, bytes) else str(arg)
    theme = "dark" if theme == "dark" else "default"
    other = "default" if theme == "dark" else "dark"
    # the theme link keeps the rest of the query string (the view's URL state) as it is
    # when clicked; the plain href is the fallback without JavaScript. (window.URL: inside
    # an inline handler a bare URL is document.URL, a string.)
    swap = (f"var u=new window.URL(window.location.href);u.searchParams.set('theme','{other}');"
            "window.location.href=u.toString();return false;")
    home = "./?theme=dark" if theme == "dark" else "./"  # the index in the same theme
    toggle = pn.pane.HTML(
        f'<a style="{_LINK}" href="?theme={other}" onclick="{swap}">{other} theme</a>'
        f'<span style="color:white"> · </span><a style="{_LINK}" href="{home}">all dashboards</a>',
        width=260, height=30, css_classes=["wb-header-links"])
    tmpl = pn.template.BootstrapTemplate(
        title=f"Spectral Workbench · {explorer.title}",
        theme=theme,
        header_background=ACCENT,
        sidebar_width=330,
        # Panel's busy spinner is synced server-wide: every event of any session sets the
        # spinner of every open page (O(sessions) model updates and messages per slider
        # step: with 30 pages ~30 x 2 updates for one change, issue #18); each explorer
        # shows its own session's progress instead
        busy_indicator=None,
    )
    tmpl.header.append(toggle)
    tmpl.sidebar.append(explorer.sidebar())
    tmpl.main.append(explorer.main())
    return tmpl


def _local_stylesheet_fallback() -> None:
    """Served pages take Panel's stylesheets from the server, never from its CDN.

    Panel resolves a component's stylesheets against the page document's ``dist_url``
    and, when a model is built without it, falls back to ``panel.reactive.CDN_DIST`` --
    which also rewrites local stylesheet URLs to the CDN. Components built for a dynamic tab
    hit that fallback now and then (a race inside Panel 1.9): the page then asked
    cdn.holoviz.org for loading.css and markdown.css, which an offline classroom cannot
    reach (caught by tests/test_apps_browser.py::test_app_loads_reacts_and_draws_every_tab). The
    fallback is pointed at the server's own copy (the same files, ``static/extensions/
    panel/``)."""
    import panel.reactive as reactive
    from panel.io.resources import LOCAL_DIST

    reactive.CDN_DIST = LOCAL_DIST


def serve(explorer_cls, **params) -> pn.template.BootstrapTemplate:
    """Build ``explorer_cls(**params)``, sync its URL state and mark the page servable."""
    ensure_extension()
    _local_stylesheet_fallback()
    doc = pn.state.curdoc
    # one walk of the page's model graph when the page is built, instead of one per
    # layout, pane and figure added (each a walk of everything added so far)
    with doc.models.freeze() if doc is not None else contextlib.nullcontext():
        explorer = explorer_cls(**params)
        explorer.sync_url()
        tmpl = page(explorer)
        tmpl.servable(title=f"Spectral Workbench · {explorer.title}")
    return tmpl
