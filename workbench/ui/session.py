"""Where UI work runs: on a served session's event loop, on a notebook kernel's loop, or
at once (a script, a test). ``later`` is the one way background results and delayed
updates reach a page; ``while_session_lives`` drops them once the page has gone."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import panel as pn

log = logging.getLogger("workbench.ui")


def kernel_loop():
    """The event loop of the Jupyter kernel when called on its thread (a notebook cell,
    a widget callback), else None (a served page, a script, a test). Costs nothing
    outside a kernel (ipykernel is not imported)."""
    import sys

    app = sys.modules.get("ipykernel.kernelapp")
    if app is None or not app.IPKernelApp.initialized():
        return None
    return running_loop()


def running_loop():
    """The asyncio event loop running in the calling thread, or None."""
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def served(doc) -> bool:
    """True when `doc` is the document of a live served session (not a notebook, not a
    test without a server, not a session the server has already destroyed)."""
    return doc is not None and getattr(doc, "session_context", None) is not None


_CURRENT = object()


# UI work without a served session or a kernel loop (a script, a test) runs in the calling
# thread: one lock keeps two background deliveries from drawing figures at the same time
# (HoloViews/Bokeh are not thread-safe: a half-built figure kept a text title)
_UNSERVED_LOCK = threading.RLock()


def unserved_lock() -> threading.RLock:
    """The lock that ``later`` holds while it runs UI work outside a served session's loop
    or hands it to a session's loop. Hold it while a page is built and discarded off the
    server's loop (the warm-up at server start): a background result delivered meanwhile
    then waits, instead of changing the document that is being cleaned up ("Set changed
    size during iteration", which stopped the server at start on a busy machine)."""
    return _UNSERVED_LOCK


def later(fn: Callable[[], None], delay_ms: int = 0, doc=_CURRENT, loop=None) -> bool:
    """Run `fn` on the event loop of the served session of `doc` (default: the current
    one; None: none), holding its lock with that document current, on the next tick
    (`delay_ms` = 0) or `delay_ms` from now. In a notebook, on the kernel's event loop
    `loop` (``kernel_loop``; a worker thread touching the notebook's Bokeh document while
    the kernel applied a browser message left its model index stale: "failed to validate
    Line.line_color ... got Value(...)", busy kernels). Otherwise `fn` runs at once, under
    one process-wide lock. Returns False when the session was already destroyed (nothing
    runs), True otherwise."""
    doc = pn.state.curdoc if doc is _CURRENT else doc
    if not served(doc):
        if loop is not None and not loop.is_closed() and running_loop() is not loop:
            loop.call_soon_threadsafe(fn)
            return True
        with _UNSERVED_LOCK:
            fn()
        return True
    from panel.io.state import set_curdoc

    def cb():
        with set_curdoc(doc):
            fn()

    try:
        # (under the lock: a worker thread adding a callback to a warm-up document while
        # Panel cleans it up changed the set that the clean-up iterates)
        with _UNSERVED_LOCK:
            if delay_ms:
                doc.add_timeout_callback(cb, delay_ms)
            else:
                doc.add_next_tick_callback(cb)
    except Exception:  # noqa: BLE001 - session already destroyed: nothing to update
        log.debug("session gone; dropping UI update")
        return False
    return True


def while_session_lives(fn: Callable):
    """`fn`, or a no-op once the served session current now has ended. Background
    delivery (Explorer.run_background) calls back right in the worker thread when the
    page's document has lost its session (the server's warm-up page, a closed tab):
    rendering figures there races the server's clean-up of that document ("Set changed
    size during iteration" at `panel serve --warm`). In a notebook `fn` itself."""
    doc = pn.state.curdoc
    if not served(doc):
        return fn

    def call(*args):
        return fn(*args) if served(doc) else None

    return call
