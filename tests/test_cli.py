"""`workbench serve` command line and index page, without starting a server."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from workbench.cli import main, serve_command, serve_env
from workbench.serve.index import discover_apps, render_index


def _apps(tmp_path: Path) -> Path:
    d = tmp_path / "apps"
    d.mkdir()
    (d / "alpha.py").write_text('"""Alpha — first app."""\n')
    (d / "beta.py").write_text('"""Beta <b> — second & last."""\n')
    (d / "_private.py").write_text('"""Hidden — not an app."""\n')
    return d


def test_discover_and_render(tmp_path):
    apps = discover_apps(_apps(tmp_path))
    assert [a.slug for a in apps] == ["alpha", "beta"]
    assert apps[0].title == "Alpha" and apps[0].description == "first app."
    html = render_index(apps, thumbnails={"alpha"})
    assert 'href="./alpha"' in html and 'href="./beta"' in html
    assert 'src="thumbnails/alpha.png"' in html and "thumbnails/beta.png" not in html
    assert "Beta &lt;b&gt;" in html and "second &amp; last." in html
    assert "http" not in html.replace("http-equiv", "")


def test_serve_command_binds_loopback_and_lists_apps(tmp_path):
    d = _apps(tmp_path)
    ns = argparse.Namespace(apps=str(d), port=5123, address="127.0.0.1", show=False,
                            thumbnails=None, warm=True)
    cmd = serve_command(ns)
    assert cmd[1:4] == ["-m", "panel", "serve"]
    assert str(d / "alpha.py") in cmd and str(d / "beta.py") in cmd
    assert str(d / "_private.py") not in cmd
    assert cmd[cmd.index("--address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "5123"
    assert "--warm" in cmd and "--show" not in cmd
    # a FileInput sends its file base64-encoded in one websocket message: the server's
    # limit must fit the largest upload the dashboards accept (Bokeh's default is 20 MiB)
    from workbench.io import UPLOAD_MAX_BYTES

    limit = int(cmd[cmd.index("--websocket-max-message-size") + 1])
    assert limit >= UPLOAD_MAX_BYTES * 4 / 3 + 2**20
    index = Path(cmd[cmd.index("--index") + 1])
    assert "Alpha" in index.read_text()


def test_sweeps_root_reaches_the_server(tmp_path, monkeypatch, capsys):
    """`--sweeps DIR` becomes $WORKBENCH_SWEEPS of the server (absolute); without it the
    root is runs/ under the directory the server starts in."""
    ns = argparse.Namespace(sweeps=str(tmp_path / "class"))
    assert serve_env(ns)["WORKBENCH_SWEEPS"] == str((tmp_path / "class").resolve())
    monkeypatch.chdir(tmp_path)
    assert serve_env(argparse.Namespace(sweeps=None))["WORKBENCH_SWEEPS"] == \
        str((tmp_path / "runs").resolve())
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--sweeps DIR" in capsys.readouterr().out


@pytest.mark.slow
def test_sigterm_stops_the_server_and_leaves_no_child(tmp_path):
    """`workbench serve` becomes the server process: a SIGTERM to it (a supervisor, a test
    harness) stops the server itself; no `panel serve` child is left holding the port."""
    import signal
    import subprocess
    import sys

    from conftest import free_port, wait_http
    from helpers import poll

    d = tmp_path / "apps"
    d.mkdir()
    (d / "hello.py").write_text('"""Hello — a page."""\nimport panel as pn\n\n'
                                'pn.pane.Markdown("hello").servable()\n')
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port),
                             "--apps", str(d), "--no-warm"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/hello", timeout=300, proc=proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the children may take a moment to go: poll until none serves the port
    alive = poll(lambda: _serving(port), until=lambda pids: not pids, timeout=30, interval=0.2)
    assert alive == [], f"processes still serving port {port}: {alive}"


def _serving(port: int) -> list[str]:
    """Process ids whose command line says ``serve`` and names `port`."""
    import os

    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and str(port).encode() in cmdline:
            alive.append(pid)
    return alive


def test_num_procs_reaches_panel_and_the_set_up_script(tmp_path):
    """`--num-procs N` is Panel's own multi-process serving; the set-up script learns N
    (thread caps shared among the processes) and the app files (each process warms them)."""
    from workbench.serve.warmup import APP_FILES_ENV, NUM_PROCS_ENV

    d = _apps(tmp_path)
    ns = argparse.Namespace(apps=str(d), port=5123, address="127.0.0.1", show=False,
                            thumbnails=None, warm=True, num_procs=3, sweeps=None)
    cmd = serve_command(ns)
    assert cmd[cmd.index("--num-procs") + 1] == "3"
    env = serve_env(ns)
    assert env[NUM_PROCS_ENV] == "3"
    assert env[APP_FILES_ENV].split(os.pathsep) == [str(d / "alpha.py"), str(d / "beta.py")]
    ns.num_procs, ns.warm = 1, False
    assert "--num-procs" not in serve_command(ns)
    assert APP_FILES_ENV not in serve_env(ns)

