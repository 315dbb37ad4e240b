"""Notebook set-up: HoloViews (Bokeh) and Panel with their JavaScript inlined.

    import workbench.ui as wbui
    wbui.extension()          # first cell of a notebook, before any plot or explorer

JupyterLab renders Panel and Bokeh output with the JavaScript that the kernel sends. By
default HoloViews and Panel send script tags pointing at their CDNs (cdn.bokeh.org,
cdn.holoviz.org), which leaves every plot and explorer blank on a machine without
internet; here the bundles come from the installed Python packages instead (about 4 MB
sent once per notebook). Stylesheets of components built after a cell's output (a tab
opened later, a figure swapped in by background work) fall back to Panel's CDN too; that
fallback is pointed at the copy the Jupyter server itself serves (Panel's server
extension, ``<base url>panel_dist/``). Served dashboards are not affected (the server has
its own resources).
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
    _loaded = True
