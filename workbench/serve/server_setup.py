"""Run once when ``workbench serve`` starts the server (``panel serve --setup``; with
``--num-procs N`` once in each forked process): cap thread pools so concurrent sessions do
not oversubscribe the cores, compile the numba kernels now so no compile lands in a user's
interaction, and (several processes) open every app once so each process computes its first
views before the first student arrives (``workbench.serve.warmup``)."""

from __future__ import annotations

import importlib
import logging
import os

from workbench.backends import cap_threads, warm_up
from workbench.backends.numba_support import KERNEL_TOPICS
from workbench.backends.threads import default_threads
from workbench.jobs import BACKGROUND_WORKERS
from workbench.serve.warmup import app_files, num_procs, warm_apps, warm_under_lock

log = logging.getLogger("workbench.serve")

# The dashboards' background pool runs BACKGROUND_WORKERS computations at once, so each
# gets its share of the cores: two 2-thread BLAS calls on 2 cores spin against each other and
# small factorizations become 15-35x slower (measured on the 2-core build machine). With
# several server processes the cores are shared among all of their pools.
# WORKBENCH_THREADS overrides.
procs = num_procs()
threads = cap_threads(default_threads() if os.environ.get("WORKBENCH_THREADS")
                      else max(1, default_threads() // (BACKGROUND_WORKERS * procs)))
for _topic in KERNEL_TOPICS:  # register numba warm-ups
    try:
        importlib.import_module(_topic)
    except Exception as exc:  # pragma: no cover - a broken topic must not stop the server
        log.warning("could not import %s for warm-up: %s", _topic, exc)
n = warm_up()
log.info("thread pools capped at %d; %d numba warm-ups compiled", threads, n)

# Bokeh checks every new session's document (a walk of all its models, 10-15% of a page's
# CPU) for layout mistakes that it only logs (an empty row, a figure without renderers);
# a served class skips them. BOKEH_PERFORM_DOCUMENT_VALIDATION=true turns them back on
# (when changing a page's layout, read the server log for W-/E- lines).
if "BOKEH_PERFORM_DOCUMENT_VALIDATION" not in os.environ:
    from bokeh.settings import settings as _bokeh_settings

    _bokeh_settings.perform_document_validation.set_value(False)

# one process: `panel serve --warm` opens every app once after this script. Several: Panel
# did not run the apps before forking, so each process opens them now (its own cache).
warm_under_lock()  # a background result must not draw into a warm-up page being discarded
if procs > 1:  # (`--no-warm`: no app files are named)
    warmed = warm_apps(app_files())
    print(f"workbench: server process {os.getpid()} of {procs} warmed "
          f"{', '.join(warmed) or 'no app'}", flush=True)

# WORKBENCH_WARM_CLUSTERING=1000000: compute the spectral clustering view of that many moons
# points (data, graph, embedding, labels of every k) before the first visitor, so a class
# opens it at once (about 1.5 minutes of start-up and ~2.5 GB for a million points)
_warm_n = os.environ.get("WORKBENCH_WARM_CLUSTERING")
if _warm_n:
    try:
        from workbench.clustering.run import warm_cache

        warm_cache(n_samples=int(_warm_n))
        log.info("clustering view of %s points computed", _warm_n)
    except Exception as exc:  # pragma: no cover - a failed warm-up must not stop the server
        log.warning("could not warm the clustering view of %s points: %s", _warm_n, exc)
