"""Shared machinery of every explorer: URL state, error messages, background work, export.

An explorer is a ``param.Parameterized`` + ``pn.viewable.Viewer``: display it in a notebook
(``explorer`` as the last expression of a cell) or serve it (``workbench.serve.app.serve``).
Subclasses implement ``controls()`` (widgets for the sidebar) and ``view()`` (the main area)
and set the class attributes ``title``, ``description`` and ``url_params``.

Rules the base class enforces:

- Errors never reach the page as a traceback. ``guarded(fn)`` wraps a callback: a
  ``WorkbenchError`` (bad input) shows its message in the page's alert; any other exception
  shows "Internal error: <type>: <message>" and is logged with its traceback on the server.
  The previous view stays, so nothing the user had is lost.
- Costly work runs off the UI thread: ``run_background(key, fn, on_done)``. A newer request
  on the same channel supersedes an older one (its result is dropped), a progress
  indicator shows while it runs, and results are cached across sessions by ``key``.
- ``url_params`` round-trip through the query string, so a link restores a view.
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import logging
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import wraps
from typing import Any, ClassVar

import pandas as pd
import panel as pn
import param

from workbench.errors import Cancelled, WorkbenchError

log = logging.getLogger("workbench.ui")

# Background work: a small shared pool. On a 2-core server more threads only oversubscribe.
BACKGROUND_WORKERS = 2
_EXECUTOR = cf.ThreadPoolExecutor(max_workers=BACKGROUND_WORKERS,
                                  thread_name_prefix="workbench-bg")
# cached work now running, by cache key: a session asking for it joins instead of starting
# a copy (30 students moving the same slider to the same value cost one computation)
_INFLIGHT: dict = {}
_INFLIGHT_LOCK = threading.Lock()
_JOINED: dict = {}  # cache key -> how many other requests joined its in-flight run


def _forget(key, future) -> None:
    with _INFLIGHT_LOCK:
        if _INFLIGHT.get(key) is future:
            del _INFLIGHT[key]
            _JOINED.pop(key, None)


class ResultCache:
    """A thread-safe LRU cache shared by all sessions of a server process."""

    def __init__(self, maxsize: int = 64):
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return default

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


CACHE = ResultCache(maxsize=128)


def error_message(exc: BaseException) -> str:
    """What the page shows for an exception: the message for bad input, a one-liner else."""
    if isinstance(exc, WorkbenchError):
        return str(exc)
    return f"Internal error: {type(exc).__name__}: {exc}"


def kernel_loop():
    """The event loop of the Jupyter kernel when called on its thread (a notebook cell,
    a widget callback), else None (a served page, a script, a test). Costs nothing
    outside a kernel (ipykernel is not imported)."""
    import sys

    app = sys.modules.get("ipykernel.kernelapp")
    if app is None or not app.IPKernelApp.initialized():
        return None
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _on_session(doc, fn: Callable[[], None], loop=None) -> None:
    """Run `fn` on the Bokeh document's event loop (holding its lock) when served; in a
    notebook on the kernel's event loop `loop` (see ``kernel_loop``): a worker thread that
    touched the notebook's Bokeh document while the kernel applied a message from the
    browser left the document's model index stale (the browser's next change came back
    with models Python no longer knew: "failed to validate Line.line_color ... got
    Value(...)") and could leave the kernel busy; directly otherwise."""
    if not served(doc) and loop is not None and not loop.is_closed():
        import asyncio

        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if not on_loop:
            loop.call_soon_threadsafe(fn)
            return
    if served(doc):
        from panel.io.state import set_curdoc

        def cb():
            with set_curdoc(doc):
                fn()

        try:
            doc.add_next_tick_callback(cb)
        except Exception:  # session already destroyed: nothing to update
            log.debug("session gone; dropping UI update")
        return
    fn()


def served(doc) -> bool:
    """True when `doc` is the document of a live served session (not a notebook, not a
    test without a server, not a session the server has already destroyed)."""
    return doc is not None and getattr(doc, "session_context", None) is not None


def later(fn: Callable[[], None], delay_ms: int = 0) -> bool:
    """Run `fn` on the current served session's event loop, on the next tick
    (`delay_ms` = 0) or `delay_ms` from now, with that session's document current.
    Without a served session (notebook, tests) `fn` runs at once. Returns False when the
    session was already destroyed (nothing runs), True otherwise."""
    doc = pn.state.curdoc
    if not served(doc):
        fn()
        return True
    from panel.io.state import set_curdoc

    def cb():
        with set_curdoc(doc):
            fn()

    try:
        if delay_ms:
            doc.add_timeout_callback(cb, delay_ms)
        else:
            doc.add_next_tick_callback(cb)
    except Exception:  # noqa: BLE001 - session already destroyed: nothing to update
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
        if served(doc):
            return fn(*args)
        return None

    return call


def themed_renderer():
    """HoloViews' Bokeh renderer in the current page's Bokeh theme (the dark template sets
    one on the document), as pn.pane.HoloViews does: the plain renderer writes its light
    defaults into every figure it draws (white figures on the dark theme)."""
    import holoviews as hv

    renderer = hv.renderer("bokeh")
    theme = getattr(pn.state.curdoc, "theme", None)
    if theme is not None and theme._json.get("attrs"):
        renderer = renderer.instance(theme=theme)
    return renderer


def undelayed(widget):
    """`widget` with its changes handed to the Python callbacks on the server's next tick
    instead of after Panel's 50 ms debounce -- half a slider step's latency once the plots
    only receive new data. Changes arriving while one is handled are still merged into the
    next by Panel. Returns `widget`."""
    widget._debounce = 0
    return widget


class Explorer(pn.viewable.Viewer):
    """Base class of the topic explorers (see the module docstring)."""

    title: ClassVar[str] = "Explorer"
    description: ClassVar[str] = ""
    url_params: ClassVar[tuple[str, ...]] = ()

    busy = param.Boolean(default=False, precedence=-1, doc="True while background work runs")
    message = param.String(default="", precedence=-1, doc="Current error message, if any")

    def __init__(self, **params):
        super().__init__(**params)
        self._alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                    sizing_mode="stretch_width", css_classes=["wb-alert"])
        self._progress = pn.indicators.Progress(active=False, visible=False, width=200,
                                                bar_color="primary", css_classes=["wb-progress"])
        self._cancel = pn.widgets.Button(label="Cancel", visible=False, width=80,
                                         css_classes=["wb-cancel"])
        self._cancel.on_click(lambda _event: self.cancel())
        self._requests: dict = {}  # pending requests: id -> (channel, cancel Event, key)
        self._status = pn.pane.Str("", css_classes=["wb-status"], styles={"font-size": "0.85em"})
        self._generation: dict[str, int] = {}
        self._gen_lock = threading.Lock()
        self._pending = 0
        self._doc = pn.state.curdoc  # None in a notebook or a test
        self._loop = kernel_loop()   # the kernel's loop in a notebook, else None

    def detached(self) -> bool:
        """True when this explorer belongs to a served session that is gone (Panel's
        warm-up run at server start, a closed tab): results are still computed and cached,
        but nothing is drawn -- a worker thread delivers them then, and rendering there
        would touch whichever document the server is building at that moment."""
        return self._doc is not None and not served(self._doc)

    # ------------------------------------------------------------------ messages
    def show_error(self, msg: str) -> None:
        self.message = msg
        self._alert.object = msg
        self._alert.visible = True

    def clear_error(self) -> None:
        if self.message:
            self.message = ""
            self._alert.object = ""
            self._alert.visible = False

    def set_status(self, text: str) -> None:
        self._status.object = text

    def guarded(self, fn: Callable) -> Callable:
        """Wrap a callback so that exceptions become a message in the page."""

        @wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                out = fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the page must never show a traceback
                if not isinstance(exc, WorkbenchError):
                    log.error("callback %s failed:\n%s", getattr(fn, "__name__", fn),
                              traceback.format_exc())
                self.show_error(error_message(exc))
                return None
            self.clear_error()
            return out

        return wrapper

    # ------------------------------------------------------------------ background work
    def _set_busy(self, delta: int, label: str = "") -> None:
        self._pending = max(0, self._pending + delta)
        active = self._pending > 0
        self.busy = active
        self._progress.active = active
        self._progress.visible = self._cancel.visible = active
        if not active:
            self._progress.value = -1  # indeterminate until a progress report
        if active and label:
            self.set_status(label)

    def _finish(self, rid) -> None:
        if self._requests.pop(rid, None) is not None:
            self._set_busy(-1)

    def cancel(self) -> None:
        """The Cancel button: drop every pending result of this explorer and stop the work
        where it can be stopped -- a run given a ``cancel`` event (``run_background``) that
        no other session joined; its ``progress_reporter`` raises ``Cancelled`` at the
        next report. The view shown stays."""
        pending, self._requests = self._requests, {}
        for channel, event, key in pending.values():
            self.supersede(channel)
            if event is not None and key is not None:
                with _INFLIGHT_LOCK:
                    if _JOINED.get(key, 0) == 0:
                        event.set()
                        _INFLIGHT.pop(key, None)  # nobody may join a run being stopped
                        _JOINED.pop(key, None)
            elif event is not None:
                event.set()
        if pending:
            self._set_busy(-len(pending))
            self.set_status("Cancelled.")

    def progress_reporter(self, label: str, cancel: threading.Event | None = None):
        """A ``progress(fraction)`` callback for a topic computation run in the
        background: it shows "label NN%" and fills the progress bar (at most every 10%,
        on the page's event loop), and raises ``Cancelled`` once `cancel` is set (the
        Cancel button), which stops the computation at its next report."""
        doc, last = pn.state.curdoc, [-1]

        def progress(frac: float) -> None:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            pct = int(10 * frac) * 10
            if pct != last[0] and not self.detached():
                last[0] = pct

                def show():
                    if self.busy:
                        self.set_status(f"{label} {pct}%")
                        self._progress.value = pct

                _on_session(doc, show, self._loop)

        return progress

    def run_background(self, key: Hashable | None, fn: Callable[[], Any],
                       on_done: Callable[[Any], None], *, channel: str = "default",
                       label: str = "Computing…", use_cache: bool = True,
                       cancel: threading.Event | None = None) -> cf.Future | None:
        """Run ``fn()`` in a worker thread and hand its result to ``on_done`` on the UI loop.

        - ``key``: cache key (hashable, built from the parameters that determine the result);
          a cached result is delivered at once, without a thread; a request for a result
          being computed (by any session) waits for that run. ``None`` disables both.
        - ``channel``: requests on the same channel supersede each other: only the newest
          result is delivered.
        - Exceptions in ``fn`` or ``on_done`` become a message in the page.
        - ``cancel``: an Event that ``fn`` checks (e.g. through ``progress_reporter``);
          the Cancel button sets it, unless another session joined the run.

        Returns the Future, or None when served from the cache.
        """
        full_key = (type(self).__name__, key) if key is not None else None
        with self._gen_lock:
            gen = self._generation.get(channel, 0) + 1
            self._generation[channel] = gen
        if use_cache and full_key is not None and full_key in CACHE:
            self.guarded(on_done)(CACHE.get(full_key))
            return None

        doc = pn.state.curdoc
        rid = object()
        self._requests[rid] = (channel, cancel, full_key if use_cache else None)
        self._set_busy(+1, label)

        def work():
            return fn()

        def deliver(future: cf.Future) -> None:
            def apply():
                # busy until the result is shown (work chained by on_done keeps it set)
                try:
                    if self._generation.get(channel) != gen:
                        return  # superseded by a newer request
                    exc = future.exception()
                    if exc is not None:
                        if not isinstance(exc, WorkbenchError):
                            log.error("background work failed: %s",
                                      "".join(traceback.format_exception(exc)))
                        self.show_error(error_message(exc))
                        return
                    result = future.result()
                    if use_cache and full_key is not None:
                        CACHE.put(full_key, result)
                    self.set_status("")
                    self.guarded(on_done)(result)
                finally:
                    self._finish(rid)

            _on_session(doc, apply, self._loop)

        share = use_cache and full_key is not None
        started = False
        try:
            with _INFLIGHT_LOCK:
                future = _INFLIGHT.get(full_key) if share else None
                if future is not None:
                    _JOINED[full_key] = _JOINED.get(full_key, 0) + 1
                else:
                    future, started = _EXECUTOR.submit(work), True
                    if share:  # sessions asking for the same result meanwhile join this run
                        _INFLIGHT[full_key] = future
        except RuntimeError:  # the server is shutting down (Ctrl-C): nothing more to run
            self._finish(rid)
            log.debug("not started: the interpreter is shutting down")
            return None
        if started and share:
            # outside the lock: a future already done runs its callbacks right here
            future.add_done_callback(lambda f: _forget(full_key, f))
        future.add_done_callback(deliver)
        return future

    def supersede(self, channel: str = "default") -> None:
        """Drop the result of any request pending on `channel`: a newer choice made it moot
        (e.g. a refused input: the late result of an earlier request must not replace the
        message about it). The work itself finishes; other sessions that joined it still get
        its result."""
        with self._gen_lock:
            self._generation[channel] = self._generation.get(channel, 0) + 1

    # ------------------------------------------------------------------ URL state
    URL_DELAY_MS: ClassVar[int] = 250

    def sync_url(self) -> None:
        """Round-trip ``url_params`` through the page's query string (served pages only).

        The view is restored from the URL now. Later changes are written to the URL once
        the user pauses (``URL_DELAY_MS``), coalesced, off the path from a slider move to the
        redrawn plot: writing the query string with every change (Panel's
        ``location.sync``) added about 40 ms to each slider step in the latency harness."""
        loc = pn.state.location
        if not self.url_params or loc is None:
            return
        self._restore_from_url(loc.query_params)
        self._url_pending = False
        self._write_url()
        self.param.watch(self._on_url_param, list(self.url_params))

    def _restore_from_url(self, query: dict) -> None:
        updates = {}
        for name in self.url_params:
            if name not in query:
                continue
            value = query[name]
            try:
                value = self.param[name].deserialize(value)
            except Exception:  # noqa: BLE001 - parse_query already decoded JSON values
                pass
            if value != getattr(self, name):
                updates[name] = value
        try:
            self.param.update(**updates)
            return
        except Exception:  # noqa: BLE001 - a hand-edited link must not break the page
            pass
        bad = []
        for name, value in updates.items():  # apply what can be applied, one by one
            try:
                setattr(self, name, value)
            except Exception as exc:  # noqa: BLE001
                bad.append(f"{name}={value!r} ({exc})")
        self.show_error("Some link parameters could not be applied: " + "; ".join(bad))

    def _url_query(self) -> dict[str, str]:
        query = {}
        for name in self.url_params:
            value = getattr(self, name)
            if value is None:
                continue
            try:
                value = self.param[name].serialize(value)
            except Exception:  # noqa: BLE001
                pass
            query[name] = value if isinstance(value, str) else json.dumps(value)
        return query

    def _write_url(self) -> None:
        self._url_pending = False
        loc = pn.state.location
        if loc is not None:
            loc.update_query(**self._url_query())

    def _on_url_param(self, *_events) -> None:
        if self._url_pending:
            return
        self._url_pending = True
        if not later(self._write_url, self.URL_DELAY_MS):
            self._url_pending = False

    # ------------------------------------------------------------------ export
    def export_data(self) -> pd.DataFrame | None:
        """The data behind the current view, as a table (subclasses override)."""
        return None

    def _csv(self) -> io.StringIO:
        df = self.export_data()
        buf = io.StringIO()
        if df is not None:
            df.to_csv(buf, index=False)
        buf.seek(0)
        return buf

    def export_widget(self) -> pn.widgets.FileDownload:
        """A button that downloads ``export_data()`` as CSV. (Every Bokeh plot has a save
        tool in its toolbar that downloads the figure as PNG.)"""
        fname = f"{type(self).__name__.replace('Explorer', '').lower() or 'data'}.csv"
        return pn.widgets.FileDownload(callback=self._csv, filename=fname,
                                       label="Download data (CSV)",
                                       sizing_mode="stretch_width")

    # ------------------------------------------------------------------ layout
    def controls(self) -> list:
        """Widgets for the sidebar (subclasses override)."""
        return [pn.Param(self.param, show_name=False)]

    def view(self):
        """The main area (subclasses override)."""
        raise NotImplementedError

    def sidebar(self) -> pn.Column:
        return pn.Column(*self.controls(), self.export_widget(), sizing_mode="stretch_width")

    def main(self) -> pn.Column:
        header = pn.Row(self._progress, self._cancel, self._status,
                        sizing_mode="stretch_width")
        return pn.Column(self._alert, header, self.view(), sizing_mode="stretch_width")

    def __panel__(self):
        return pn.Row(pn.Column(self.sidebar(), width=320), self.main(),
                      sizing_mode="stretch_width")
