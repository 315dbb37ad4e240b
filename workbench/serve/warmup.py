"""What each server process does once at start, besides the thread caps and numba
compiles of ``server_setup``: open every app once, so its first view (the default run of
each explorer: training, spectra, rank paths, ...) is computed and cached in this process
before the first student arrives. Sessions then share it through the explorers' result
cache (``workbench.jobs.CACHE``), and a session that comes while it is still computing
joins that computation.

With one process, ``panel serve --warm`` does this. With ``--num-procs N`` Panel warms the
apps before it forks without running them (on Python < 3.12 running app code before a
fork is unsafe), so each forked process runs ``warm_apps`` from the set-up script instead.
Importing this module imports nothing heavy.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger("workbench.serve")

#: the number of server processes (`workbench serve --num-procs`), for the set-up script
NUM_PROCS_ENV = "WORKBENCH_NUM_PROCS"
#: the dashboard files served (os.pathsep-separated), for the set-up script's warm-up
APP_FILES_ENV = "WORKBENCH_APP_FILES"


def num_procs() -> int:
    """Server processes sharing the port: ``$WORKBENCH_NUM_PROCS`` (0 means one per core,
    as Tornado counts them), default 1."""
    try:
        n = int(os.environ.get(NUM_PROCS_ENV, "1") or 1)
    except ValueError:
        return 1
    return n if n > 0 else (os.cpu_count() or 1)


def app_files() -> list[Path]:
    """The dashboard files named by ``$WORKBENCH_APP_FILES`` (those that exist)."""
    names = os.environ.get(APP_FILES_ENV, "")
    return [Path(p) for p in names.split(os.pathsep) if p and Path(p).is_file()]


def warm_apps(files: list[Path]) -> dict[str, float]:
    """Open one session of every app in `files` in this process and run its on-load
    callbacks (as ``panel serve --warm`` does), then discard the session at once: its
    explorers' background runs go on, their results land in the shared cache and nothing
    is drawn (``Explorer.detached``). Returns {app: seconds to build its page}; an app that
    fails is logged and skipped. Cost: one page per app on this process's event loop; the
    runs themselves continue in the background pool."""
    from bokeh.command.util import build_single_handler_applications
    from panel.io.document import _cleanup_doc
    from panel.io.session import generate_session
    from panel.io.state import set_curdoc, state

    from workbench.ui.session import unserved_lock

    out: dict[str, float] = {}
    apps = build_single_handler_applications([str(f) for f in files], {})
    for route, app in apps.items():
        t0 = time.perf_counter()
        try:
            with unserved_lock():  # no background result draws into it meanwhile
                session = generate_session(app)
                with set_curdoc(session.document):
                    state._on_load(None)
                _cleanup_doc(session.document, destroy=True)
        except Exception as exc:  # noqa: BLE001 - a broken app must not stop the server
            log.warning("could not warm %s: %s", route, exc)
            continue
        out[route.strip("/")] = time.perf_counter() - t0
    return out


def warm_under_lock() -> None:
    """Make ``panel serve --warm`` (Panel's ``Serve.warm_applications``: every app opened
    once, then its document cleaned up, before the server starts) run under
    ``workbench.ui.session.unserved_lock``, as ``warm_apps`` does: an explorer's background
    result that arrives while a warm-up document is being cleaned up waits until it is
    gone. Calling it again does nothing."""
    from panel.command.serve import Serve

    from workbench.ui.session import unserved_lock

    original = Serve.warm_applications
    if getattr(original, "_under_lock", False):
        return

    def warm_applications(self, *args, **kwargs):
        with unserved_lock():
            return original(self, *args, **kwargs)

    warm_applications._under_lock = True
    Serve.warm_applications = warm_applications
