"""Run once when ``workbench serve`` starts the server (``panel serve --setup``):
cap thread pools so concurrent sessions do not oversubscribe the cores, and compile the
numba kernels now so no compile lands in a user's interaction."""

from __future__ import annotations

import importlib
import logging

from workbench.backends import cap_threads, warm_up

log = logging.getLogger("workbench.serve")

threads = cap_threads()
for _topic in ("workbench.clustering", "workbench.eigenspectra"):  # register numba warm-ups
    try:
        importlib.import_module(_topic)
    except Exception as exc:  # pragma: no cover - a broken topic must not stop the server
        log.warning("could not import %s for warm-up: %s", _topic, exc)
n = warm_up()
log.info("thread pools capped at %d; %d numba warm-ups compiled", threads, n)
