"""Serving the dashboards: ``workbench serve``'s page template and theme (``app``, ``theme``),
the index page (``index``) and its thumbnails (``thumbnails``), what the server runs once at
start (``server_setup``: thread caps, numba and first-view warm-ups), the sweeps root that
bounds every server-side path (``paths``) and the load / latency harness (``harness``).

Nothing here is imported by ``workbench.ui``: explorers work in a notebook without a server.
Importing this package imports nothing heavy; ``app`` imports Panel.
"""
