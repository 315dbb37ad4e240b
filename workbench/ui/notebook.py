"""Notebook set-up: HoloViews (Bokeh) and Panel with their JavaScript inlined.

    import workbench.ui as wbui
    wbui.extension()          # first cell of a notebook, before any plot or explorer

By default HoloViews and Panel point JupyterLab at their CDNs (cdn.bokeh.org,
cdn.holoviz.org), which leaves every plot and explorer blank on a machine without
internet; here the bundles come from the installed packages (about 4 MB once per
notebook). Stylesheets of components built later (a tab opened later, a figure swapped in
by background work) fall back to Panel's CDN too: that fallback points at the Jupyter
server's own copy (Panel's server extension, ``<base url>panel_dist/``). Served
dashboards are not affected.
"""

from __future__ import annotations

_loaded = False


def extension(*extras: str, **config) -> None:
    """Load the Bokeh backend of HoloViews and Panel (with `extras`, e.g. "tabulator") in
    the running notebook, resources inlined. Calling it again does nothing. Keyword
    arguments go to ``pn.extension`` (e.g. ``sizing_mode``)."""
    global _loaded
    if _loaded:
        return
    import os

    import holoviews as hv
    import panel as pn
    import panel.reactive as reactive

    pn.config.inline = True
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    reactive.CDN_DIST = prefix.rstrip("/") + "/panel_dist/"
    hv.extension("bokeh", logo=False, inline=True)
    pn.extension(*extras, inline=True, notifications=False, **config)
    _comms_on_kernel_loop()
    _loaded = True


def _comms_on_kernel_loop() -> None:
    """Handle Panel's comm messages on the kernel's main event loop.

    JupyterLab 4.4+ sends comm messages to kernel *subshells* (its setting "Kernel Comms
    over subshells", default one subshell per comm target), which ipykernel 7 runs in
    threads of their own: a slider move was then applied to the notebook's Bokeh
    document in a subshell thread while the main thread ran a cell or drew a background
    result into the same document. Bokeh documents are not thread-safe: the document's
    model index went stale (the browser's next change came back with models Python no
    longer knew: "failed to validate Line.line_color ... got Value(...)") and kernels were
    left busy. Here every message is handed to the main loop, in order, as in a kernel
    without subshells (a message waits while a cell runs). No-op outside a kernel."""
    import pyviz_comms

    from workbench.ui.session import kernel_loop, running_loop

    loop = kernel_loop()
    original = pyviz_comms.Comm._handle_msg
    if loop is None or getattr(original, "_on_kernel_loop", False):
        return

    def _handle_msg(self, msg):
        if running_loop() is loop or loop.is_closed():
            return original(self, msg)
        loop.call_soon_threadsafe(original, self, msg)
        return None

    _handle_msg._on_kernel_loop = True
    pyviz_comms.Comm._handle_msg = _handle_msg
