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
import logging
import threading
import traceback
from collections.abc import Callable, Hashable
from functools import wraps
from typing import Any, ClassVar

import pandas as pd
import panel as pn
import param

from workbench.errors import Cancelled, WorkbenchError
from workbench.jobs import CACHE, stop_run, submit
from workbench.ui.session import kernel_loop, later, served
from workbench.ui.urls import URLState

log = logging.getLogger("workbench.ui")


def error_message(exc: BaseException) -> str:
    """What the page shows for an exception: the message for bad input, a one-liner else."""
    if isinstance(exc, WorkbenchError):
        return str(exc)
    return f"Internal error: {type(exc).__name__}: {exc}"


def section(text: str) -> pn.pane.Markdown:
    """A bold heading between groups of sidebar widgets."""
    return pn.pane.Markdown(f"**{text}**", margin=(12, 5, 0, 5))


WIDE = {"sizing_mode": "stretch_width"}  #: a pane or layout as wide as its container


def text(obj: str = "", css: str | None = None, **params) -> pn.pane.Markdown:
    """A full-width Markdown pane holding `obj`; `css`: a class for tests to find it."""
    return pn.pane.Markdown(obj, css_classes=[css] if css else [], **{**WIDE, **params})


def row(*objects, **params) -> pn.Row:
    """A full-width Row of `objects`."""
    return pn.Row(*objects, **{**WIDE, **params})


def col(*objects, **params) -> pn.Column:
    """A full-width Column of `objects`."""
    return pn.Column(*objects, **{**WIDE, **params})


def control(p: param.Parameter, name: str | None = None, widget=None, fast: bool = False,
            **params):
    """The widget of parameter `p`, labelled `name` (default: the parameter's label):
    `widget` (a widget class), else Panel's own choice for the parameter's type (a slider
    for a bounded number, a select for a selector, a checkbox, a button for an event).
    `fast`: changes reach the callbacks without Panel's debounce (``undelayed``)."""
    kind = widget or pn.Param.widget_type(p)
    made = kind.from_param(p, name=p.label if name is None else name, **params)
    return undelayed(made) if fast else made


def upload_box(accept: str, what: str, on_upload: Callable) -> tuple:
    """An upload widget for files ending in `accept` (".npz,.npy") and the line above it
    ("**Or upload** `what` (at most N MiB)"); `on_upload(event)` is called with each
    file. Returns (the Markdown line, the FileInput)."""
    from workbench.io import UPLOAD_MAX_BYTES

    widget = pn.widgets.FileInput(accept=accept, multiple=False, **WIDE)
    widget.param.watch(on_upload, "value")
    line = pn.pane.Markdown(f"**Or upload** {what} (at most {UPLOAD_MAX_BYTES // 2**20} MiB)",
                            margin=(8, 5, 0, 5))
    return line, widget


def undelayed(widget):
    """`widget` with its changes handed to the Python callbacks on the server's next tick
    instead of after Panel's 50 ms debounce -- half a slider step's latency once the plots
    only receive new data. Changes arriving while one is handled are still merged into the
    next by Panel. Returns `widget`."""
    widget._debounce = 0
    return widget


class Explorer(URLState, pn.viewable.Viewer):
    """Base class of the topic explorers (see the module docstring)."""

    title: ClassVar[str] = "Explorer"
    description: ClassVar[str] = ""
    url_params: ClassVar[tuple[str, ...]] = ()

    busy = param.Boolean(default=False, precedence=-1, doc="True while background work runs")
    message = param.String(default="", precedence=-1, doc="Current error message, if any")

    def __init__(self, **params):
        super().__init__(**params)
        self._alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                    css_classes=["wb-alert"], **WIDE)
        self._progress = pn.indicators.Progress(active=False, visible=False, width=200,
                                                bar_color="primary", css_classes=["wb-progress"])
        self._status = pn.pane.Str("", css_classes=["wb-status"], styles={"font-size": "0.85em"})
        self._generation: dict[str, int] = {}
        self._gen_lock = threading.Lock()
        self._pending = 0
        self._doc = pn.state.curdoc  # None in a notebook or a test
        self._loop = kernel_loop()   # the kernel's loop in a notebook, else None
        self._cancel = pn.widgets.Button(label="Cancel", visible=False, width=80,
                                         css_classes=["wb-cancel"])
        self._cancel.on_click(lambda _event: self.cancel())
        self._requests: dict = {}  # pending requests: id -> (channel, cancel Event, key)

    def detached(self) -> bool:
        """True when this explorer belongs to a served session that is gone (Panel's
        warm-up run at server start, a closed tab): results are still computed and cached,
        but nothing is drawn -- a worker thread delivers them then, and rendering there
        would touch whichever document the server is building at that moment."""
        return self._doc is not None and not served(self._doc)

    # ------------------------------------------------------------------ messages
    def show_error(self, msg: str) -> None:
        self.message = self._alert.object = msg
        self._alert.visible = True

    def clear_error(self) -> None:
        if self.message:
            self.message = self._alert.object = ""
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
        self.busy = self._progress.active = self._progress.visible = active
        self._cancel.visible = active
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
            if event is not None:
                stop_run(key, event)
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

                later(show, doc=doc, loop=self._loop)

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
        full_key = (type(self).__name__, key) if key is not None and use_cache else None
        gen = self.supersede(channel)  # a newer request on the channel
        if full_key is not None and full_key in CACHE:
            self.guarded(on_done)(CACHE.get(full_key))
            return None

        doc = pn.state.curdoc
        rid = object()
        self._requests[rid] = (channel, cancel, full_key)
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
                    if full_key is not None:
                        CACHE.put(full_key, result)
                    self.set_status("")
                    self.guarded(on_done)(result)
                finally:
                    self._finish(rid)

            later(apply, doc=doc, loop=self._loop)

        try:
            future = submit(full_key, fn)
        except RuntimeError:  # the server is shutting down (Ctrl-C): nothing more to run
            self._finish(rid)
            log.debug("not started: the interpreter is shutting down")
            return None
        future.add_done_callback(deliver)
        return future

    def supersede(self, channel: str = "default") -> int:
        """Drop the result of any request pending on `channel`: a newer choice made it moot
        (e.g. a refused input: the late result of an earlier request must not replace the
        message about it). The work itself finishes; other sessions that joined it still get
        its result. Returns the channel's new generation."""
        with self._gen_lock:
            gen = self._generation[channel] = self._generation.get(channel, 0) + 1
        return gen

    # ------------------------------------------------------------------ export
    def export_data(self) -> pd.DataFrame | None:
        """The data behind the current view, as a table (subclasses override)."""
        return None

    def _csv(self) -> io.StringIO:
        df = self.export_data()
        return io.StringIO("" if df is None else df.to_csv(index=False))

    def export_widget(self) -> pn.widgets.FileDownload:
        """A button that downloads ``export_data()`` as CSV. (Every Bokeh plot has a save
        tool in its toolbar that downloads the figure as PNG.)"""
        fname = f"{type(self).__name__.replace('Explorer', '').lower() or 'data'}.csv"
        return pn.widgets.FileDownload(callback=self._csv, filename=fname,
                                       label="Download data (CSV)", **WIDE)

    # ------------------------------------------------------------------ layout
    def controls(self) -> list:
        """Widgets for the sidebar (subclasses override)."""
        return [pn.Param(self.param, show_name=False)]

    def view(self):
        """The main area (subclasses override)."""
        raise NotImplementedError

    def sidebar(self) -> pn.Column:
        return col(*self.controls(), self.export_widget())

    def main(self) -> pn.Column:
        return col(self._alert, row(self._progress, self._cancel, self._status), self.view())

    def __panel__(self):
        return row(pn.Column(self.sidebar(), width=320), self.main())
