"""Serve the dashboards in a subprocess and drive them without a browser.

Used by ``benchmarks/bench_load.py``, ``benchmarks/bench_latency.py``, the thumbnail
renderer and the load tests:

- ``ServedApps``: ``workbench serve`` on a free loopback port, stopped on exit; its resident
  memory (``rss_kb``, read from ``/proc``, children included) and live session count.
- ``BokehSession``: one browser-less session speaking the Bokeh websocket protocol (the
  same messages a browser tab sends): it pulls the document, lists the sliders, moves one
  and waits for the server's answer (a patch that changes plotted data).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# Event kinds in a server PATCH-DOC that carry new plot data.
_DATA_EVENTS = {"ColumnDataChanged", "ColumnsStreamed", "ColumnsPatched"}
_BAD_TEXT = ("Traceback", "Internal error")
# model attributes that hold text a user reads (markup panes, titles, widget labels)
_TEXT_ATTRS = {"text", "title", "label", "placeholder"}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    return out


def _tree(pid: int, children: bool):
    """`pid`, then (with `children`) its descendants, each once."""
    todo, seen = [pid], set()
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            yield p
            if children:
                todo += _children(p)


def rss_kb(pid: int, children: bool = True) -> int:
    """Resident memory (VmRSS, KiB) of process `pid`, plus all its descendants when
    `children`; 0 for a process that is gone. Reads /proc (Linux)."""
    total = 0
    for p in _tree(pid, children):
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
            total += next((int(line.split()[1]) for line in f
                           if line.startswith("VmRSS:")), 0)
    return total


def cpu_seconds(pid: int, children: bool = True) -> float:
    """CPU seconds (user + system) used by process `pid`, plus its live descendants when
    `children`; 0 for a process that is gone. Reads /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in _tree(pid, children):
        with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


class ServedApps:
    """``workbench serve`` for the dashboards in `apps_dir` on a free loopback port.

    ``session_lifetime_ms``/``check_ms``: how long a closed session lingers before the
    server discards it, and how often it checks. ``session_info=True`` serves
    ``/rest/session_info`` (live session counts; with ``num_procs`` > 1 each answer comes
    from one of the processes). Use as a context manager."""

    def __init__(self, apps_dir: Path | str = REPO / "apps", *, warm: bool = True,
                 session_lifetime_ms: int | None = None, check_ms: int | None = None,
                 session_info: bool = False, threads: int | None = 1,
                 num_procs: int = 1, extra: list[str] | None = None):
        self.apps_dir = Path(apps_dir)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "workbench", "serve", "--address", "127.0.0.1",
               "--port", str(self.port), "--apps", str(self.apps_dir)]
        if not warm:
            cmd.append("--no-warm")
        if session_lifetime_ms is not None:
            cmd += ["--unused-session-lifetime", str(session_lifetime_ms)]
        if check_ms is not None:
            cmd += ["--check-unused-sessions", str(check_ms)]
        if session_info:
            cmd.append("--session-info")
        if num_procs != 1:
            cmd += ["--num-procs", str(num_procs)]
        cmd += extra or []
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if threads is not None:
            env["WORKBENCH_THREADS"] = str(threads)
        fd, log = tempfile.mkstemp(prefix=f"wb-serve-{self.port}-", suffix=".log")
        self.log_path = Path(log)
        self._log = os.fdopen(fd, "w")
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def wait(self, path: str = "/", timeout: float = 180.0) -> ServedApps:
        """Block until `path` answers over HTTP; raises if the server dies or times out."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base + path, timeout=10) as r:
                    if r.status < 500:
                        return self
            except Exception as exc:  # noqa: BLE001 - not up yet
                last = exc
            time.sleep(0.3)
        raise TimeoutError(f"{self.base}{path} did not answer within {timeout}s ({last})")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def rss_kb(self) -> int:
        """Resident memory of the server and its children, KiB."""
        return rss_kb(self.proc.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system, seconds) the server and its children have used so far
        (from /proc; a busy machine slows the server down but does not inflate this)."""
        return cpu_seconds(self.proc.pid)

    def session_info(self, timeout: float = 60.0) -> dict:
        """``/rest/session_info`` (needs ``session_info=True``): total, live and per-session
        records (``ended`` is None while a session exists). A busy server answers late:
        `timeout` seconds per try, three tries."""
        for attempt in range(3):
            try:
                with urllib.request.urlopen(self.base + "/rest/session_info",
                                            timeout=timeout) as r:
                    info = json.loads(r.read())
                return info.get("session_info", info)
            except OSError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def open_sessions(self) -> int:
        """Sessions the server has created and not yet discarded."""
        sessions = self.session_info().get("sessions", {})
        return sum(1 for s in sessions.values() if s.get("ended") is None)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=5)
        self._log.close()

    def __enter__(self) -> ServedApps:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------------------- sessions
@dataclass
class SliderModel:
    """A Bokeh ``Slider`` in a pulled document (all values as the server sent them)."""

    id: str
    title: str
    start: float
    end: float
    step: float
    value: float

    def next_value(self, direction: int = 1) -> float:
        """The value one step away in `direction`, bouncing off the ends."""
        v = self.value + direction * self.step
        if v > self.end + 1e-12 or v < self.start - 1e-12:
            v = self.value - direction * self.step
        if isinstance(self.start, int) and isinstance(self.step, int):
            return int(round(v))
        return round(v, 12)


def _walk_objects(obj: Any, out: dict[str, dict]) -> None:
    if isinstance(obj, dict):
        if obj.get("type") == "object" and "id" in obj and "name" in obj:
            out.setdefault(obj["id"], obj)
        for v in obj.values():
            _walk_objects(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _walk_objects(v, out)


def _mentions(obj: Any, names: set[str]) -> bool:
    """True when `obj` (decoded JSON) contains an object whose "name" is in `names`."""
    if isinstance(obj, dict):
        if obj.get("type") == "object" and obj.get("name") in names:
            return True
        return any(_mentions(v, names) for v in obj.values())
    if isinstance(obj, list):
        return any(_mentions(v, names) for v in obj)
    return False


def _bad_text(obj: Any) -> str | None:
    if isinstance(obj, str):
        return obj if any(b in obj for b in _BAD_TEXT) else None
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            hit = _bad_text(v)
            if hit:
                return hit
    return None


def _rows(data: Any) -> int:
    """Rows of a serialized ColumnDataSource ``data`` map (0 when empty or unknown)."""
    if not isinstance(data, dict):
        return 0
    entries = data.get("entries", [])
    best = 0
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 2:
            continue
        col = entry[1]
        if isinstance(col, list):
            best = max(best, len(col))
        elif isinstance(col, dict):
            shape = col.get("shape")
            if shape:
                best = max(best, int(shape[0]))
            elif isinstance(col.get("array"), list):
                best = max(best, len(col["array"]))
    return best


def patch_has_data(events: list[dict]) -> bool:
    """Whether a server PATCH-DOC's events carry new plot data (a data source changed or
    a new one arrived with a new figure)."""
    for ev in events:
        kind = ev.get("kind")
        if kind in _DATA_EVENTS:
            return True
        if kind == "ModelChanged" and (ev.get("attr") == "data"
                                       or _mentions(ev.get("new"), {"ColumnDataSource"})):
            return True
        if kind == "RootAdded" and _mentions(ev.get("model"), {"ColumnDataSource"}):
            return True
    return False


class BokehSession:
    """One browser-less session of a served app over a raw websocket (Bokeh protocol).

    ``await open()`` creates the session on the server and pulls its document;
    ``sliders`` lists the Slider models; ``await move(slider, value)`` sends the same
    PATCH-DOC a browser sends when a slider moves and returns the seconds until the server
    answers with new plot data. ``errors`` collects server ERROR messages and any page
    text with "Traceback"/"Internal error". ``await close()`` closes the websocket."""

    def __init__(self, base_url: str, app: str, arguments: dict[str, str] | None = None):
        from bokeh.util.token import generate_jwt_token, generate_session_id

        self.base_url = base_url.rstrip("/")
        self.app = app.strip("/")
        self.session_id = generate_session_id(signed=False)
        self.token = generate_jwt_token(self.session_id, signed=False)
        self.arguments = arguments or {}
        self.models: dict[str, dict] = {}
        self.errors: list[str] = []
        self.data_patches = 0
        self.texts: dict[tuple[str, str], Any] = {}  # (model id, attr): text patched since
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._cond: asyncio.Condition | None = None
        self._replies: dict[str, Any] = {}

    # -- connection
    async def open(self, timeout: float = 60.0, page: bool = True) -> BokehSession:
        """Create the session and pull its document. `page`: as a browser does, GET the
        page first (the server creates the session there and renders its HTML, which sets
        the document's stylesheet base: without it the server rewrites every stylesheet
        URL at the session's first update, ~0.1 s of its time that no browser causes) and
        connect to that session; False: let the websocket create the session."""
        from urllib.parse import urlencode

        from bokeh.protocol import Protocol
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        self._protocol = Protocol()
        self._cond = asyncio.Condition()
        query = "?" + urlencode(self.arguments) if self.arguments else ""
        if page:
            await self._get_page(query, timeout)
        ws_url = self.base_url.replace("http://", "ws://") + f"/{self.app}/ws" + query
        req = HTTPRequest(ws_url, connect_timeout=timeout, request_timeout=timeout)
        self._ws = await asyncio.wait_for(
            websocket_connect(req, subprotocols=["bokeh", self.token],
                              max_message_size=64 * 1024 * 1024), timeout)
        self._reader = asyncio.ensure_future(self._read_loop())
        await self._wait(lambda: "ACK" in self._replies, timeout, "no ACK from server")
        msg = self._protocol.create("PULL-DOC-REQ")
        await self._send(msg)
        msgid = msg.header["msgid"]
        await self._wait(lambda: msgid in self._replies, timeout, "no document from server")
        reply = self._replies.pop(msgid)
        if reply.header["msgtype"] == "ERROR":
            raise RuntimeError(f"server refused the document: {reply.content.get('text')}")
        _walk_objects(reply.content["doc"], self.models)
        # A browser announces that it rendered the document; Panel holds some updates
        # (and runs its onload callbacks) until then.
        ready = {"kind": "MessageSent", "msg_type": "bokeh_event",
                 "msg_data": {"type": "event", "name": "document_ready",
                              "values": {"type": "map"}}}
        await self._send_events([ready])
        return self

    async def _get_page(self, query: str, timeout: float) -> None:
        """GET the app's page; take the session (its token) the server made for it."""
        import re

        from bokeh.util.token import get_session_id
        from tornado.httpclient import AsyncHTTPClient

        # a client of its own: the shared one queues all but 10 requests (a class opening
        # at once) and times the queued ones out after its 20 s connect time-out
        client = AsyncHTTPClient(force_instance=True, max_clients=4)
        try:
            resp = await client.fetch(f"{self.base_url}/{self.app}{query}",
                                      connect_timeout=timeout, request_timeout=timeout,
                                      raise_error=False)
        finally:
            client.close()
        if resp.code != 200:
            raise RuntimeError(f"GET /{self.app}: HTTP {resp.code}")
        found = re.search(r'"token"\s*:\s*"([A-Za-z0-9_\-.=]+)"', resp.body.decode())
        if found is None:
            raise RuntimeError(f"GET /{self.app}: no session token in the page")
        self.token = found.group(1)
        self.session_id = get_session_id(self.token)

    async def close(self) -> None:
        if self._ws is not None:
            self._ws.close(1000, "done")
            self._ws = None
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None

    async def _send_events(self, events: list[dict]) -> None:
        from bokeh.protocol.messages.patch_doc import patch_doc

        await self._send(patch_doc(patch_doc.create_header(), {}, {"events": events}))

    async def _send(self, msg) -> None:
        from bokeh.client.websocket import WebSocketClientConnectionWrapper

        await msg.send(WebSocketClientConnectionWrapper(self._ws))

    async def _read_loop(self) -> None:
        from bokeh.protocol.receiver import Receiver

        receiver = Receiver(self._protocol)
        while True:
            fragment = await self._ws.read_message()
            if fragment is None:  # closed by the server
                async with self._cond:
                    self._replies["CLOSED"] = True
                    self._cond.notify_all()
                return
            msg = await receiver.consume(fragment)
            if msg is None:
                continue
            mtype = msg.header["msgtype"]
            async with self._cond:
                if mtype == "ACK":
                    self._replies["ACK"] = msg
                elif mtype == "ERROR":
                    self.errors.append(str(msg.content.get("text", msg.content)))
                    if "reqid" in msg.header:
                        self._replies[msg.header["reqid"]] = msg
                elif mtype == "PATCH-DOC":
                    events = msg.content.get("events", [])
                    for ev in events:
                        _walk_objects(ev, self.models)
                        if ev.get("kind") == "ModelChanged" and (
                                ev.get("attr") in _TEXT_ATTRS or ev.get("attr") == "visible"):
                            self.texts[(ev.get("model", {}).get("id"), ev["attr"])] = ev["new"]
                    bad = _bad_text(events)
                    if bad:
                        self.errors.append(bad[:300])
                    if patch_has_data(events):
                        self.data_patches += 1
                elif "reqid" in msg.header:
                    self._replies[msg.header["reqid"]] = msg
                self._cond.notify_all()

    async def _wait(self, pred, timeout: float, what: str) -> None:
        async def until():
            async with self._cond:
                await self._cond.wait_for(lambda: pred() or "CLOSED" in self._replies)
        try:
            await asyncio.wait_for(until(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{self.app}: {what} within {timeout}s") from None
        if not pred():
            raise ConnectionError(f"{self.app}: connection closed by the server ({what})")

    # -- document
    def shows_plot_data(self) -> bool:
        """True once the document holds a drawn glyph with at least one row of data (a
        figure the user can see something in), as pulled or as patched since."""
        for obj in self.models.values():
            if obj.get("name") != "GlyphRenderer":
                continue
            ref = obj.get("attributes", {}).get("data_source")
            src = self.models.get(ref.get("id")) if isinstance(ref, dict) else None
            if src is not None and _rows(src.get("attributes", {}).get("data")) > 0:
                return True
        return False

    async def first_view(self, timeout: float = 60.0) -> float:
        """Wait until the page shows plot data (``shows_plot_data``: the first view drawn,
        in the pulled document or by the server's first patches); returns the seconds
        waited."""
        t0 = time.perf_counter()
        await self._wait(lambda: self.data_patches > 0 or self.shows_plot_data(), timeout,
                         "no plot data in the first view")
        return time.perf_counter() - t0

    def page_text(self) -> str:
        """The text the page shows now: every text, title and label of the document's
        models (as pulled, with the server's text patches since), one per line."""
        out = []
        for mid, obj in self.models.items():
            for attr, value in obj.get("attributes", {}).items():
                if attr in _TEXT_ATTRS:
                    value = self.texts.get((mid, attr), value)
                    if isinstance(value, str) and value:
                        out.append(value)
        return "\n".join(out)

    def text_of(self, css_class: str) -> str:
        """The current text of the models carrying `css_class` (e.g. "wb-alert", the
        explorers' message box; "" when hidden or empty)."""
        out = []
        for mid, obj in self.models.items():
            a = obj.get("attributes", {})
            if css_class not in (a.get("css_classes") or []):
                continue
            visible = self.texts.get((mid, "visible"), a.get("visible", True))
            text = self.texts.get((mid, "text"), a.get("text", ""))
            if visible is not False and isinstance(text, str):
                out.append(text)
        return "\n".join(out)

    def find(self, name: str) -> list[str]:
        """Ids of the document's models of Bokeh type `name` (e.g. "TextInput")."""
        return [mid for mid, obj in self.models.items() if obj.get("name") == name]

    async def set_value(self, model_id: str, value: Any, timeout: float = 30.0) -> float:
        """Set a widget's ``value`` as a browser does and wait for new plot data; returns
        the seconds it took."""
        async with self._cond:
            seen = self.data_patches
        t0 = time.perf_counter()
        await self._send_events([{"kind": "ModelChanged", "model": {"id": model_id},
                                  "attr": "value", "new": value}])
        await self._wait(lambda: self.data_patches > seen, timeout,
                         f"no new plot data after setting {model_id} to {value!r}")
        return time.perf_counter() - t0

    def _in_hidden_tabs(self) -> set[str]:
        """Ids of the models inside the tabs that are not shown (a browser user cannot reach
        a slider there until the tab is chosen)."""
        hidden: set[str] = set()

        def collect(obj: Any) -> None:
            if isinstance(obj, dict):
                mid = obj.get("id")
                if isinstance(mid, str) and mid not in hidden:
                    hidden.add(mid)
                    full = self.models.get(mid)
                    if full is not None and full is not obj:
                        collect(full.get("attributes", {}))
                for v in obj.values():
                    collect(v)
            elif isinstance(obj, list):
                for v in obj:
                    collect(v)

        for obj in list(self.models.values()):
            if obj.get("name") not in ("Tabs", "panel.models.tabs.Tabs"):
                continue
            a = obj.get("attributes", {})
            active = a.get("active", 0)
            for i, tab in enumerate(a.get("tabs", [])):
                if i != active:
                    tab = self.models.get(tab.get("id"), tab) if isinstance(tab, dict) else tab
                    collect(tab.get("attributes", {}).get("child") if isinstance(tab, dict)
                            else None)
        return hidden

    @property
    def sliders(self) -> list[SliderModel]:
        """The document's Slider models that a user can reach (visible, enabled, not inside a
        tab that is not shown), in document order."""
        out = []
        hidden = self._in_hidden_tabs()
        for mid, obj in self.models.items():
            if obj.get("name") != "Slider" or mid in hidden:
                continue
            a = obj.get("attributes", {})
            if a.get("visible") is False or a.get("disabled") is True:
                continue
            out.append(SliderModel(mid, str(a.get("title", "")), a.get("start", 0),
                                   a.get("end", 1), a.get("step", 1), a.get("value", 0)))
        return out

    async def move(self, slider: SliderModel, value: float, timeout: float = 30.0) -> float:
        """Set `slider` to `value` as a browser does (``value`` then ``value_throttled``)
        and wait for the server's new plot data; returns the seconds it took."""
        events = [{"kind": "ModelChanged", "model": {"id": slider.id}, "attr": attr, "new": value}
                  for attr in ("value", "value_throttled")]
        async with self._cond:
            seen = self.data_patches
        t0 = time.perf_counter()
        await self._send_events(events)
        await self._wait(lambda: self.data_patches > seen, timeout,
                         f"no new plot data after moving {slider.title!r}")
        slider.value = value
        attrs = self.models.get(slider.id, {}).setdefault("attributes", {})
        attrs["value"] = value
        return time.perf_counter() - t0


# ---------------------------------------------------------------------------- browser
# Installed once per page (``page.evaluate(JS_INSTALL)``): on every animation frame (every
# third while idle) hash the pixels of all canvases, shadow roots included (Bokeh draws
# there). ``window.__wbLat``: ``lastChange`` (performance.now() of the last pixel change);
# after an arrow keydown, ``first``/``last``: ms from the keydown to the first/last change.
JS_INSTALL = r"""() => {
  if (window.__wbLat) return true;
  const st = window.__wbLat = {armed: false, t0: 0, base: 0, first: null, last: 0,
                               hash: 0, lastChange: performance.now(), frames: 0};
  function collect(root, out) {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'CANVAS') out.push(el);
      if (el.shadowRoot) collect(el.shadowRoot, out);
    }
    return out;
  }
  function hashAll() {
    let h = 2166136261 >>> 0;
    for (const c of collect(document, [])) {
      const w = c.width, ht = c.height;
      if (!w || !ht) continue;
      h = Math.imul(h ^ w, 16777619) >>> 0;
      h = Math.imul(h ^ ht, 16777619) >>> 0;
      let ctx = null;
      try { ctx = c.getContext('2d', {willReadFrequently: true}); } catch (e) { ctx = null; }
      if (ctx) {
        const px = new Uint32Array(ctx.getImageData(0, 0, w, ht).data.buffer);
        for (let i = 0; i < px.length; i++) h = Math.imul(h ^ px[i], 16777619);
      } else {                        // WebGL canvas: hash its PNG encoding
        const s = c.toDataURL();
        for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
      }
      h = h >>> 0;
    }
    return h;
  }
  st.hashAll = hashAll;
  st.hash = hashAll();
  function frame() {
    st.frames++;
    if (st.armed || st.frames % 3 === 0) {
      const now = performance.now();
      const h = hashAll();
      if (h !== st.hash) {
        st.hash = h; st.lastChange = now;
        if (st.armed) st.last = now - st.t0;
      }
      if (st.armed && st.first === null && h !== st.base) st.first = now - st.t0;
    }
    requestAnimationFrame(frame);
  }
  window.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    st.base = hashAll(); st.hash = st.base;
    st.t0 = e.timeStamp; st.first = null; st.last = 0; st.armed = true;
  }, true);
  requestAnimationFrame(frame);
  return true;
}"""

# True once the canvases have not changed for `ms` milliseconds.
JS_QUIET = "(ms) => window.__wbLat && performance.now() - window.__wbLat.lastChange > ms"


def percentile(values: list[float], q: float) -> float:
    """The `q`-th percentile (0-100) of `values` (linear interpolation); nan if empty."""
    if not values:
        return float("nan")
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))
