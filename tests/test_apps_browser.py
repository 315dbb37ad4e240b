"""Every dashboard in apps/, served by `workbench serve`, in headless Chromium.

For each app: the page loads with plotted data, no console errors, no "Traceback" text and
no request to any host but the server; moving the first slider changes the plotted data;
the moved value lands in the URL and opening that URL restores it; then every tab, once
its work is done, shows every figure drawn (``browser_utils.undrawn_plots``). The index
lists every app.
"""

from __future__ import annotations

from urllib.parse import quote, urlparse

import pytest
from browser_utils import (
    JS_UNDRAWN,
    body_text,
    data_hash,
    press_slider,
    slider_handles,
    slider_value,
    undrawn_plots,
    wait_for_change,
    wait_for_drawn,
    wait_for_plot,
    wait_for_tab,
    wait_idle,
    wait_in_page,
)
from conftest import app_files

from workbench.paths import NOT_UNDER_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APPS = [p.stem for p in app_files()]


def _external(requests: list[str], port: int) -> list[str]:
    bad = []
    for url in requests:
        u = urlparse(url)
        if u.scheme in ("data", "blob", "about"):
            continue
        if u.hostname not in ("127.0.0.1", "localhost") or (u.port and u.port != port):
            bad.append(url)
    return bad


def test_index_lists_every_app(server, page):
    page.goto(server.base + "/")
    for slug in APPS:
        card = page.locator(f"#app-{slug}")
        assert card.count() == 1, f"index has no card for {slug}"
        assert card.get_attribute("href").endswith(slug)
    assert _external(page.requests, server.port) == []


def test_index_dark_theme_carries_on(server, page):
    """?theme=dark gives a dark index whose cards open the dashboards in the dark theme."""
    page.goto(server.base + "/?theme=dark")
    page.wait_for_function("() => document.body.classList.contains('dark')", timeout=30_000)
    rgb = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert sum(int(v) for v in rgb[rgb.index("(") + 1:-1].split(",")[:3]) < 3 * 100, rgb
    for slug in APPS:
        assert page.locator(f"#app-{slug}").get_attribute("href") == f"./{slug}?theme=dark"
    assert page.locator("#theme-link").get_attribute("href") == "?theme=default"


@pytest.mark.parametrize("app", APPS)
def test_app_loads_reacts_and_draws_every_tab(server, page, app):
    """The page loads with plotted data, a slider move changes it and lands in the URL, and
    that URL opens the same view. Then each tab, chosen in turn, arrives without a request
    to any other host (Panel resolved the stylesheets of components created for a dynamic
    tab to its CDN) and without errors, and once its work is done every figure it shows is
    on screen (the "Error vs rank" tab once showed blank space where its figure's data had
    arrived)."""
    page.goto(f"{server.base}/{app}")
    wait_for_plot(page, min_points=2)
    text = body_text(page)
    assert "Traceback" not in text
    assert "Internal error" not in text
    before = data_hash(page)

    assert slider_handles(page).count() >= 1, f"{app} has no slider"
    handle = press_slider(page, 0)
    wait_for_change(page, before, timeout=120_000)
    moved = slider_value(handle)

    # the moved value round-trips through the URL
    page.wait_for_function("() => window.location.search.length > 1", timeout=20_000)
    url = page.url
    assert page.console_errors == [], page.console_errors
    assert _external(page.requests, server.port) == []
    assert "Traceback" not in body_text(page)

    page2 = page.context.new_page()
    page2.goto(url)
    wait_for_plot(page2, min_points=2)
    assert slider_value(slider_handles(page2).nth(0)) == moved
    page2.close()

    tabs = page.locator(".bk-tab")
    for i in range(max(1, tabs.count())):  # (engine and sweep have no tabs)
        if tabs.count():
            tabs.nth(i).click()
            wait_for_tab(page, i)  # its content came from the server and is drawn
        # once its work is done, every figure it shows is drawn: none left empty, none
        # whose data arrived without reaching the screen
        wait_idle(page)
        wait_for_drawn(page, timeout=60_000)
    ext = _external(page.requests, server.port)
    assert ext == [], "\n".join(ext)
    assert page.console_errors == [], page.console_errors
    assert "Traceback" not in body_text(page)


def test_theme_link_keeps_the_view(server, page):
    """Switching to the dark theme keeps the view's URL state (the teacher's link)."""
    page.goto(f"{server.base}/engine?step=12&seed=3")
    wait_for_plot(page, min_points=2)
    assert float(slider_value(slider_handles(page).nth(0))) == 12
    page.get_by_text("dark theme").click()
    page.wait_for_url(lambda url: "theme=dark" in url, timeout=30_000)
    assert "step=12" in page.url and "seed=3" in page.url
    wait_for_plot(page, min_points=2)
    assert float(slider_value(slider_handles(page).nth(0))) == 12
    # the dark template is the one rendered: a dark page background
    rgb = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert sum(int(v) for v in rgb[rgb.index("(") + 1:-1].split(",")[:3]) < 3 * 100, rgb
    assert page.console_errors == [], page.console_errors


def test_lowrank_error_curves_drawn_when_their_tab_opens(server, page):
    """The error-vs-rank figure is rendered on the server only once its tab is chosen (it
    was most of a new session's start-up); choosing the tab draws every method's curve."""
    from browser_utils import plot_data

    page.goto(f"{server.base}/lowrank")
    wait_for_plot(page, min_points=2)
    before = data_hash(page)
    page.get_by_text("Error vs rank", exact=True).click()
    wait_for_change(page, before, timeout=120_000)
    page.wait_for_function(
        "() => document.body.innerText.length > 0", timeout=10_000)

    def curve_points():
        return sum(len(d.get("rank", [])) for d in plot_data(page))

    # >= one method at the 14 ranks
    wait_in_page(page, curve_points, until=lambda n: n >= 14, timeout=60_000,
                 what="the error-vs-rank curves")
    ext = _external(page.requests, server.port)
    assert ext == [], "\n".join(ext)
    assert page.console_errors == [], page.console_errors


def test_undrawn_plots_names_a_plot_left_blank(server, page):
    """The check behind the every-tab part of the test above finds a plot whose data is not on screen: the
    engine's plots pass it; with one plot's canvas wiped (what a figure whose data arrived
    but was never painted looks like) that plot, and only it, is named."""
    page.goto(f"{server.base}/engine")
    wait_for_plot(page, min_points=2)
    wait_for_drawn(page)
    assert undrawn_plots(page) == []
    # wiped and checked in one call: no repaint in between
    wiped, bad = page.evaluate("""() => {
      for (const doc of Bokeh.documents) for (const m of doc.all_models) {
        if (m.renderers === undefined || m.toolbar === undefined) continue;
        const v = Bokeh.index.find_one(m);
        if (v == null || v.el.offsetParent === null) continue;
        const c = v.canvas_view.primary.canvas;
        c.getContext('2d').clearRect(0, 0, c.width, c.height);
        return [m.title.text, (""" + JS_UNDRAWN + """)()];
      }
      return [null, []];
    }""")
    assert wiped
    assert len(bad) == 1 and bad[0].startswith(f"{wiped}: ") and "glyph pixels" in bad[0], bad


# the visible text of the page's alert (shadow roots included) once it holds `needle`
_ALERT_HOLDS = """(needle) => {
  const out = [];
  (function walk(root) {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('wb-alert') && el.offsetParent !== null)
        out.push(el.innerText || (el.shadowRoot ? el.shadowRoot.textContent : ''));
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  })(document);
  const text = out.join(' ').trim();
  return text.includes(needle) ? text : false;
}"""


def test_sweep_folder_link_reveals_nothing_of_the_server(server, page):
    """A crafted ?folder= link (outside the sweeps root, absolute, `..`, missing) gets one
    message, the same whether the path exists or not, naming no server path."""
    texts = set()
    for folder in ("../../etc", "/etc", "/no/such/folder", "no-such-sweep"):
        page.goto(f"{server.base}/sweep?folder={quote(folder)}")
        # generous: the first visit meets the server computing the example sweep (warm-up)
        handle = page.wait_for_function(_ALERT_HOLDS, arg="sweeps root", timeout=300_000)
        texts.add(handle.json_value())
        assert "Traceback" not in body_text(page)
    assert len(texts) == 1, texts
    assert NOT_UNDER_ROOT in texts.pop()  # the one message, which names no path
