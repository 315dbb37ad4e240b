"""Real JupyterLab in headless Chromium: every notebook runs all its cells in the browser
(kernel, comms, the Panel/Bokeh JupyterLab extension), shows no error, renders its
embedded explorer, and the explorer's main slider changes its plot's data. Offline: any
request to a host other than the loopback server fails the test."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from browser_utils import data_hash, wait_for_change, wait_for_plot, wait_idle
from conftest import free_port
from helpers import wait_until
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytestmark = [pytest.mark.browser, pytest.mark.notebook, pytest.mark.slow]


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except Exception:  # noqa: BLE001 - not up yet
        return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`jupyter lab` on a free loopback port over a copy of notebooks/ (JupyterLab saves
    what it runs; the repository's notebooks stay as they are), token on, stopped at the
    end. Yields (base url, token, notebook folder)."""
    root = tmp_path_factory.mktemp("lab")
    nbdir = root / "notebooks"
    shutil.copytree(ROOT / "notebooks", nbdir,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / "config"),
               JUPYTER_RUNTIME_DIR=str(root / "runtime"), JUPYTER_DATA_DIR=str(root / "data"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    # the project's kernels and extensions live in the venv (sys.prefix): keep them found
    env["JUPYTER_PATH"] = os.pathsep.join([str(Path(sys.prefix) / "share" / "jupyter")])
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={nbdir}", "--LabApp.extension_manager=readonly",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
         "--ServerApp.port_retries=0", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=nbdir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or
                   _status(f"{base}/api/status?token={token}") == 200,
                   timeout=180, what="JupyterLab to answer")
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited: {(root / 'lab.log').read_text()[-2000:]}")
        yield base, token, nbdir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# One message the kernel refuses that is not ours to fix: BokehJS sends back, as a new
# object, a glyph the kernel never had (a Line whose colour it wrote as a value spec,
# which Bokeh's decoder rejects), now and then while JupyterLab renders a scrolled-to
# output lazily (low_rank notebook, ~1 run in 4, also at the stop-20 commit). Nothing on
# the page changes: the plots hold their data and the slider still redraws them (both
# checked below). Every other "Python failed" message fails the test.
BROWSER_MADE_GLYPH = re.compile(
    r"failed to validate \w+\(id='[^']+', \.\.\.\)\.\w*color: expected either None or "
    r"a value of type Color, got Value\(value=")


def _cells_state(page) -> dict:
    """Prompt state of every code cell: how many ran, are running, wait."""
    return page.evaluate("""() => {
      const prompts = Array.from(document.querySelectorAll(
        '.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')).map(p => p.textContent.trim());
      return {n: prompts.length, running: prompts.filter(p => p.includes('*')).length,
              done: prompts.filter(p => /\\[\\d+\\]/.test(p)).length};
    }""")


# True once run-all has settled: every code cell has run (or one raised: an error output),
# none runs, and the kernel is idle. _cells_state and _error_outputs, in one check.
JS_RUN_ALL_SETTLED = """() => {
  const prompts = Array.from(document.querySelectorAll(
    '.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')).map(p => p.textContent.trim());
  if (prompts.length === 0 || prompts.some(p => p.includes('*'))) return false;
  const done = prompts.filter(p => /\\[\\d+\\]/.test(p)).length;
  const errors = Array.from(document.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    .some(e => /Traceback|Error:/.test(e.innerText));
  const w = window.jupyterapp.shell.currentWidget;
  return (done === prompts.length || errors) &&
    w.sessionContext.session.kernel.status === 'idle';
}"""


def _error_outputs(page) -> list[str]:
    """Text of outputs that are errors (tracebacks), not plain stderr warnings."""
    return page.evaluate("""() => Array.from(document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
        .map(e => e.innerText).filter(t => /Traceback|Error:/.test(t))""")


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab_and_its_explorer_answers(lab, browser, path):
    base, token, _ = lab
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = ctx.new_page()
    foreign: list[str] = []

    def route(r):
        host = urllib.parse.urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            foreign.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    # a comm message the kernel could not apply (pyviz_comms logs its traceback here)
    failed: list[str] = []
    page.on("console", lambda m: failed.append(m.text)
            if "Python failed" in m.text and not BROWSER_MADE_GLYPH.search(m.text) else None)
    try:
        # a workspace of its own (JupyterLab restores the last one: the previous notebook
        # came back as the current widget, and run-all ran *that* notebook while this
        # one's cells never reached its kernel -- the "kernel stays busy" stall)
        page.goto(f"{base}/lab/workspaces/wb-{path.stem}/tree/{path.name}?token={token}"
                  "&reset", timeout=120_000)
        page.wait_for_function(
            "(name) => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
            "window.jupyterapp.shell.currentWidget.context && "
            "window.jupyterapp.shell.currentWidget.context.path === name && "
            "window.jupyterapp.shell.currentWidget.sessionContext && "
            "window.jupyterapp.shell.currentWidget.sessionContext.session && "
            "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel && "
            "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            ".connectionStatus === 'connected'", arg=path.name, timeout=180_000)
        # and its kernel ready (kernel_info answered, idle) before run-all
        page.evaluate("""async () => {
            const w = window.jupyterapp.shell.currentWidget;
            await w.context.ready; await w.sessionContext.ready;
            await w.sessionContext.session.kernel.info; }""")
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            ".status === 'idle'", timeout=180_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # run-all stops at a cell that raises: an error output ends the wait too (one
        # condition checked in the page every 100 ms: no round trip per check)
        try:
            page.wait_for_function(JS_RUN_ALL_SETTLED, polling=100, timeout=600_000)
        except PlaywrightTimeout:
            raise AssertionError(f"timed out after 600 s waiting for {path.name} to run all "
                                 f"its cells ({_cells_state(page)})") from None
        assert _error_outputs(page) == []
        assert _cells_state(page)["done"] == _cells_state(page)["n"]
        wait_idle(page)  # background work started by the cells has been delivered
        page.locator(".jp-Notebook .jp-CodeCell").last.scroll_into_view_if_needed()
        # the embedded explorer (last cell) rendered with data in its plots (> 10 points)
        wait_for_plot(page, min_points=11, timeout=180_000)
        last = page.locator(".jp-Notebook .jp-CodeCell").last
        handle = last.locator(".noUi-handle").first
        handle.wait_for(timeout=60_000)
        handle.scroll_into_view_if_needed()
        before = data_hash(page)
        handle.focus()
        handle.press("ArrowRight")
        handle.press("ArrowRight")
        wait_for_change(page, before, timeout=120_000)  # the slider moved: new plot data
        wait_idle(page)
        wait_until(lambda: page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session"
            ".kernel.status") == "idle", timeout=120, what="the kernel to be idle again")
        assert _error_outputs(page) == [] and failed == [], (_error_outputs(page), failed)
        assert foreign == [], f"requests to other hosts: {foreign[:5]}"
    finally:
        if os.environ.get("WB_LAB_SHOTS"):
            page.screenshot(path=f"{os.environ['WB_LAB_SHOTS']}/lab-{path.stem}.png",
                            full_page=True)
        ctx.close()
