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
from collections.abc import Callable, Hashable
from functools import wraps
from typing import Any, ClassVar

import pandas as pd
import panel as pn
import param

from workbench.errors import WorkbenchError

# the shared pool, cache and in-flight runs (workbench.jobs); names kept here for callers
from workbench.jobs import (  # noqa: F401
    _EXECUTOR,
    _INFLIGHT,
    BACKGROUND_WORKERS,
    CACHE,
    ResultCache,
    submit,
)

log = logging.getLogger("workbench.ui")


def error_message(exc: BaseException) -> str:
    """What the page shows for an exception: the message for bad input, a one-liner else."""
    if isinstance(exc, WorkbenchError):
        return str(exc)
    return f"Internal error: {type(exc).__name__}: {exc}"


def served(doc) -> bool:
    """True when `doc` is the document of a live served session (not a notebook, not a
    test without a server, not a session the server has already destroyed)."""
    return doc is not None and getattr(doc, "session_context", None) is not None


_CURRENT = object()


def later(fn: Callable[[], None], delay_ms: int = 0, doc=_CURRENT) -> bool:
    """Run `fn` on the event loop of the served session of `doc` (default: the current
    one; None: none), holding its lock with that document current, on the next tick
    (`delay_ms` = 0) or `delay_ms` from now. Without a served session (notebook, tests)
    `fn` runs at once. Returns False when the session was already destroyed (nothing
    runs), True otherwise."""
    doc = pn.state.curdoc if doc is _CURRENT else doc
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
        if served(doc):
            return fn(*args)
        return None

    return call


def section(text: str) -> pn.pane.Markdown:
    """A bold heading between groups of sidebar widgets."""
    return pn.pane.Markdown(f"**{text}**", margin=(12, 5, 0, 5))


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
        self._status = pn.pane.Str("", css_classes=["wb-status"], styles={"font-size": "0.85em"})
        self._generation: dict[str, int] = {}
        self._gen_lock = threading.Lock()
        self._pending = 0
        self._doc = pn.state.curdoc  # None in a notebook or a test

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
        self._progress.visible = active
        if active and label:
            self.set_status(label)

    def run_background(self, key: Hashable | None, fn: Callable[[], Any],
                       on_done: Callable[[Any], None], *, channel: str = "default",
                       label: str = "Computing…", use_cache: bool = True) -> cf.Future | None:
        """Run ``fn()`` in a worker thread and hand its result to ``on_done`` on the UI loop.

        - ``key``: cache key (hashable, built from the parameters that determine the result);
          a cached result is delivered at once, without a thread; a request for a result
          being computed (by any session) waits for that run. ``None`` disables both.
        - ``channel``: requests on the same channel supersede each other: only the newest
          result is delivered.
        - Exceptions in ``fn`` or ``on_done`` become a message in the page.

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
        self._set_busy(+1, label)

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
                    self._set_busy(-1)

            later(apply, doc=doc)

        try:
            future = submit(full_key if use_cache else None, fn)
        except RuntimeError:  # the server is shutting down (Ctrl-C): nothing more to run
            self._set_busy(-1)
            log.debug("not started: the interpreter is shutting down")
            return None
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

    def url_sources(self) -> list:
        """Parameterized sub-objects (settings) holding URL parameters under their own
        names; ``_url_owner`` looks there first, then on the explorer itself."""
        return []

    def _url_owner(self, name: str):
        """The object holding URL parameter `name` (the hook for settings sub-objects)."""
        return next((obj for obj in self.url_sources() if name in obj.param), self)

    def _url_param(self, name: str) -> str:
        """The parameter's name on its owner (the URL's name unless a subclass maps it)."""
        return name

    def _url_targets(self):
        """(URL name, owner, parameter name) for every ``url_params`` entry."""
        return [(n, self._url_owner(n), self._url_param(n)) for n in self.url_params]

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
        watched: dict = {}
        for _, owner, pname in self._url_targets():
            watched.setdefault(id(owner), (owner, []))[1].append(pname)
        for owner, names in watched.values():
            owner.param.watch(self._on_url_param, names)

    def _restore_from_url(self, query: dict) -> None:
        """Apply the query's values, sub-objects first, the explorer's own last; a value
        that cannot be set is named in the page's message and the others still apply."""
        updates: dict = {}
        for name, owner, pname in self._url_targets():
            if name not in query:
                continue
            value = query[name]
            try:
                value = owner.param[pname].deserialize(value)
            except Exception:  # noqa: BLE001 - parse_query already decoded JSON values
                pass
            if value != getattr(owner, pname):
                updates.setdefault(id(owner), (owner, {}))[1][pname] = value
        bad = []
        for owner, values in sorted(updates.values(), key=lambda ov: ov[0] is self):
            try:
                owner.param.update(**values)
                continue
            except Exception:  # noqa: BLE001 - a hand-edited link must not break the page
                pass
            for pname, value in values.items():  # apply what can be applied, one by one
                try:
                    setattr(owner, pname, value)
                except Exception as exc:  # noqa: BLE001
                    bad.append(f"{pname}={value!r} ({exc})")
        if bad:
            self.show_error("Some link parameters could not be applied: " + "; ".join(bad))

    def _url_query(self) -> dict[str, str]:
        query = {}
        for name, owner, pname in self._url_targets():
            value = getattr(owner, pname)
            if value is None:
                continue
            try:
                value = owner.param[pname].serialize(value)
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
        header = pn.Row(self._progress, self._status, sizing_mode="stretch_width")
        return pn.Column(self._alert, header, self.view(), sizing_mode="stretch_width")

    def __panel__(self):
        return pn.Row(pn.Column(self.sidebar(), width=320), self.main(),
                      sizing_mode="stretch_width")
