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


# The shown figures left empty (a LiveFigure's placeholder, css class wb-figure-empty, in
# view) and the shown Bokeh plots whose glyphs hold data but are not on screen: for each plot in view
# with a visible renderer holding rows, three images of its frame (the area inside the
# axes): what the browser shows now (the plot's canvas), a fresh paint of its models
# (``export``), and that paint with the glyphs left out. The glyphs must change the fresh
# paint (there is something to draw), and at least half of the pixels they change must be
# on screen as the fresh paint has them (they were drawn). A plot the browser left blank while its data arrived (a figure
# drawn into a hidden tab) fails; a plot still waiting for its data is skipped.
JS_UNDRAWN = r"""() => {
  if (!window.Bokeh || !Bokeh.index) return ['no Bokeh on the page'];
  function image(layer) {
    const c = layer.canvas;
    if (!c.width || !c.height) return null;
    return {w: c.width, h: c.height,
            data: c.getContext('2d').getImageData(0, 0, c.width, c.height).data};
  }
  function near(a, i, b, j) {  // the same colour, give or take anti-aliasing
    let d = 0;
    for (let k = 0; k < 4; k++) d += Math.abs(a.data[i + k] - b.data[j + k]);
    return d <= 48;
  }
  function glyph_pixels(shown, fresh, bare, box) {  // [drawn by the glyphs, on screen]
    let n = 0, on = 0;
    for (let y = box.y0; y < box.y1; y++) {
      for (let x = box.x0; x < box.x1; x++) {
        const i = 4 * (y * shown.w + x), j = 4 * (y * fresh.w + x), k = 4 * (y * bare.w + x);
        if (near(fresh, j, bare, k)) continue;
        n++;
        if (near(shown, i, fresh, j)) on++;
      }
    }
    return [n, on];
  }
  const bad = [];
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    let cls = [];
    try { cls = Array.from(m.css_classes || []); } catch (e) { cls = []; }
    if (cls.includes('wb-figure-empty')) {  // a LiveFigure with nothing drawn
      const v = Bokeh.index.find_one(m);
      if (v != null && v.el.offsetParent !== null) bad.push('an empty figure (' +
          (v.el.parentElement ? v.el.parentElement.className : '') + ')');
      continue;
    }
    if (m.renderers === undefined || m.toolbar === undefined) continue;  // a plot
    const v = Bokeh.index.find_one(m);
    if (v == null || !v.is_displayed || v.el.offsetParent === null) continue;
    const glyphs = [...v.renderer_views.values()].filter(rv => rv.model.visible &&
        rv.model.data_source !== undefined && rv.model.data_source.get_length() > 0);
    if (glyphs.length === 0) continue;
    const title = (m.title && m.title.text !== undefined) ? String(m.title.text) : m.id;
    const shown = image(v.canvas_view.compose());
    const fresh = image(v.export('png'));
    const saved = glyphs.map(rv => rv.paint);
    glyphs.forEach(rv => { rv.paint = () => {}; });
    let bare;
    try { bare = image(v.export('png')); } finally {
      glyphs.forEach((rv, i) => { rv.paint = saved[i]; });
    }
    if (shown == null) { bad.push(title + ': no canvas'); continue; }
    const f = v.frame.bbox, r = window.devicePixelRatio || 1;
    const box = {x0: Math.ceil((f.x + 2) * r), y0: Math.ceil((f.y + 2) * r),
                 x1: Math.floor((f.x + f.width - 2) * r), y1: Math.floor((f.y + f.height - 2) * r)};
    for (const im of [shown, fresh, bare]) {
      box.x1 = Math.min(box.x1, im.w); box.y1 = Math.min(box.y1, im.h);
    }
    if (box.x1 <= box.x0 || box.y1 <= box.y0) { bad.push(title + ': no frame'); continue; }
    const [glyph, on] = glyph_pixels(shown, fresh, bare, box);
    if (glyph === 0) bad.push(title + ': its glyphs draw nothing');
    else if (on < 0.5 * glyph) bad.push(`${title}: ${on} of ${glyph} glyph pixels shown`);
  }
  return bad;
}"""


def undrawn_plots(page) -> list[str]:
    """The shown figures left empty and the shown plots holding data that the browser has
    not drawn (``JS_UNDRAWN``): their titles with the reason; [] when every figure in view
    is drawn."""
    return page.evaluate(JS_UNDRAWN)


def wait_for_drawn(page, timeout: float = 60_000) -> None:
    """Wait until every shown figure is drawn (``undrawn_plots`` is empty); AssertionError
    naming the figures left blank after `timeout` ms."""
    wait_in_page(page, lambda: undrawn_plots(page), until=lambda bad: bad == [],
                 timeout=timeout, what="every shown plot with data to draw it")
