"""Shared fixtures: free ports, a served dashboard, and headless Chromium via Playwright.

Browser tests use Debian's chromium (/usr/bin/chromium) with the house flags; Playwright
never downloads a browser. Servers bind 127.0.0.1 on a free port and are stopped here.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
FIXTURE_APP = ROOT / "tests" / "fixtures" / "apps" / "fixture.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_files() -> list[Path]:
    return [p for p in sorted(APPS.glob("*.py")) if not p.name.startswith("_")]


def wait_http(url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers below 500; RuntimeError if ``proc`` exits first,
    TimeoutError after ``timeout`` s."""
    from helpers import poll

    last = []

    def answered() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status < 500
        except Exception as exc:  # noqa: BLE001 - not up yet
            last[:] = [exc]
            return False

    if not poll(answered, timeout=timeout, interval=0.3):
        raise TimeoutError(f"{url} did not answer within {timeout}s ({last[:1]})")


@pytest.fixture(scope="session")
def sweeps_disk(tmp_path_factory):
    """A sweeps root for the served dashboards: it holds a real sweep ("inside") and a
    symlink ("link") to a real sweep outside the root ("../outside/real"); the outside one
    exists, so refusing it must not say so (tests/test_url_fuzz.py)."""
    import os

    from workbench.sweep import Grid, run_sweep

    base = tmp_path_factory.mktemp("sweeps")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    for folder in (root / "inside", outside / "real"):
        run_sweep("demo.random_top_eig", Grid.product(n=[10], seed=[0, 1], k=[3]), folder,
                  scheduler="serial", progress=False)
    os.symlink(outside / "real", root / "link")
    return root


@pytest.fixture(scope="session")
def server(sweeps_disk, tmp_path_factory):
    """All dashboards served once for the whole test session (with --warm), by the same
    harness the benchmarks use (``workbench serve`` on a free loopback port, one thread
    per computation, stopped at the end), with the fixture dashboard beside them and the
    sweeps root `sweeps_disk`. Every module that
    needs the plain dashboards shares it (one start-up and warm-up of every app); a test
    that needs other flags, kills the server or counts its sessions starts its own."""
    from workbench.serve.harness import ServedApps

    # apps/ and the fixture dashboard (tests/test_classroom_bad_input.py uploads to it),
    # linked into one folder: the index also lists the fixture
    served = tmp_path_factory.mktemp("served_apps")
    for src in [*APPS.iterdir(), FIXTURE_APP]:
        (served / src.name).symlink_to(src)
    srv = ServedApps(served, extra=["--sweeps", str(sweeps_disk)])
    try:
        first = app_files()[0].stem if app_files() else ""
        srv.wait("/" + first)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `python3 dev.py test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors, page errors and every requested URL."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    # generous limits for a busy machine (Playwright's default is 30 s): a page that loads
    # slowly makes a test slower, not red
    ctx.set_default_navigation_timeout(180_000)
    ctx.set_default_timeout(120_000)
    pg = ctx.new_page()
    pg.console_errors = []
    pg.requests = []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    pg.on("request", lambda r: pg.requests.append(r.url))
    try:
        yield pg
    finally:
        ctx.close()
