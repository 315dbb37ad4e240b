"""Helpers for browser tests: read what Bokeh plots hold, move sliders, wait for change."""

from __future__ import annotations

import hashlib
import json

# All ColumnDataSources of the page's Bokeh documents, as {column: first values}.
JS_SOURCES = """() => {
  const out = [];
  if (!window.Bokeh || !Bokeh.documents) return out;
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) {
      if (!m.data || m.type === undefined) continue;
      if (!String(m.type).endsWith('ColumnDataSource')) continue;
      const entries = (m.data instanceof Map) ? Array.from(m.data.entries())
                                              : Object.entries(m.data);
      const data = {};
      for (const [k, v] of entries) {
        let arr = [];
        try { arr = Array.from(v.length !== undefined ? v : []); } catch (e) { arr = []; }
        data[k] = arr.slice(0, 5000).map(x => (typeof x === 'number' ? x : String(x)));
      }
      out.push(data);
    }
  }
  return out;
}"""

# Number of data points over all sources.
JS_NPOINTS = "() => (" + JS_SOURCES + ")().reduce((n, d) => n + Math.max(0, ...Object.values(d).map(v => v.length)), 0)"


def plot_data(page) -> list[dict]:
    return page.evaluate(JS_SOURCES)


def data_hash(page) -> str:
    return hashlib.sha1(json.dumps(plot_data(page), sort_keys=True).encode()).hexdigest()


def wait_for_plot(page, min_points: int = 2, timeout: float = 90_000) -> None:
    """Wait until the page's plots hold at least `min_points` data points."""
    page.wait_for_function(f"() => ({JS_NPOINTS})() >= {min_points}", timeout=timeout)


def wait_in_page(page, fn, until=bool, timeout: float = 60_000, poll: float = 100,
                 what: str = "a condition in the page"):
    """Call ``fn()`` every ``poll`` ms until ``until(value)`` holds; return the value.

    The browser tests' one polling loop (for conditions read on the Python side, e.g. a
    hash of the plots' data; JavaScript conditions use ``page.wait_for_function``). It waits
    with ``page.wait_for_timeout`` so Playwright keeps handling the page's events meanwhile.
    AssertionError naming `what` (and the last value) after ``timeout`` ms."""
    import time

    deadline = time.monotonic() + timeout / 1000
    while True:
        value = fn()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout / 1000:g} s waiting for {what} "
                                 f"(last: {str(value)[:300]})")
        page.wait_for_timeout(poll)


def wait_for_change(page, before: str, timeout: float = 60_000, poll: float = 100) -> str:
    """Poll until the plots' data differs from hash `before`; return the new hash."""
    return wait_in_page(page, lambda: data_hash(page), until=lambda h: h != before,
                        timeout=timeout, poll=poll, what="the plot data to change")


# True when every shown Tabs widget has its active tab's content built and rendered: a
# dynamic tab (Panel sends a Spacer for hidden ones) has received its real content from the
# server and every view under it has finished drawing.
JS_TABS_SETTLED = """(active) => {
  if (!window.Bokeh || !Bokeh.documents || !Bokeh.index) return false;
  let matched = false;
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) {
      if (!String(m.type).endsWith('Tabs') || m.tabs === undefined) continue;
      const view = Bokeh.index.find_one(m);
      if (view == null) continue;  // not shown (inside another hidden tab)
      if (active === null || m.active === active) matched = true;
      const panel = m.tabs[m.active];
      if (panel == null) continue;
      if (String(panel.child.type).endsWith('Spacer')) return false;
      const child = Bokeh.index.find_one(panel.child);
      if (child == null || !child.has_finished()) return false;
    }
  }
  return matched;
}"""


def wait_for_tab(page, index: int, timeout: float = 120_000) -> None:
    """Wait until the page's tabs show tab ``index`` with its content rendered."""
    page.wait_for_function(JS_TABS_SETTLED, arg=index, timeout=timeout)


# True when no explorer has background work in flight. Read from the Bokeh models the server
# synced (a progress bar model, css class wb-progress, with visible=true), not from the DOM:
# right after a page opens its progress bar may not be laid out yet (no offsetParent), and
# a DOM check would then call a busy page idle.
JS_IDLE = """() => {
  if (!window.Bokeh || !Bokeh.documents || Bokeh.documents.length === 0) return false;
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) {
      let cls;
      try { cls = m.css_classes; } catch (e) { continue; }  // a model not fully set up yet
      if (!cls || !Array.from(cls).includes('wb-progress')) continue;
      // a model no view shows (a stale copy left in the document) says nothing
      if (m.visible && Bokeh.index && Bokeh.index.find_one(m) != null) return false;
    }
  }
  return true;
}"""


def wait_idle(page, timeout: float = 300_000) -> None:
    """Wait until no explorer on the page shows background work in progress."""
    page.wait_for_function(JS_IDLE, timeout=timeout)


# The text of every visible explorer alert (class wb-alert), looking through shadow roots.
JS_ALERT_TEXT = """() => {
  const out = [];
  function walk(root) {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('wb-alert') && el.offsetParent !== null)
        out.push(el.innerText || (el.shadowRoot ? el.shadowRoot.textContent : ''));
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  }
  walk(document);
  return out.join('\\n');
}"""


def alert_text(page) -> str:
    """The messages the page's explorers show in their alerts ('' when none shows)."""
    return page.evaluate(JS_ALERT_TEXT)


def slider_handles(page):
    return page.locator(".noUi-handle")


def slider_value(handle) -> str:
    return handle.get_attribute("aria-valuenow") or handle.get_attribute("aria-valuetext")


def press_slider(page, index: int = 0, key: str = "ArrowRight", times: int = 1):
    """Focus slider `index` (noUiSlider handle) and press `key` `times` times."""
    h = slider_handles(page).nth(index)
    h.focus()
    for _ in range(times):
        h.press(key)
    return h


def body_text(page) -> str:
    return page.evaluate("() => document.body.innerText")
