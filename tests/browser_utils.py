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


def wait_for_change(page, before: str, timeout: float = 60_000, poll: float = 100) -> str:
    """Poll until the plots' data differs from hash `before`; return the new hash."""
    import time

    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        h = data_hash(page)
        if h != before:
            return h
        page.wait_for_timeout(poll)
    raise AssertionError("the plot data did not change")


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
