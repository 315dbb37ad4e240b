"""``workbench`` command line: ``workbench serve`` (dashboards), ``workbench sweep``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from workbench.io import WEBSOCKET_MAX_MESSAGE_BYTES

REPO_APPS = Path(__file__).resolve().parents[1] / "apps"


def build_index(apps_dir: Path, out_dir: Path, thumbs_dir: Path | None) -> Path:
    """Write the index page for the apps in `apps_dir` into `out_dir`; returns its path."""
    from workbench.serve.index import discover_apps, render_index

    apps = discover_apps(apps_dir)
    thumbs = set()
    if thumbs_dir is not None and thumbs_dir.is_dir():
        thumbs = {p.stem for p in thumbs_dir.glob("*.png")}
    out = out_dir / "index.html"
    out.write_text(render_index(apps, thumbs))
    return out


def _app_files(apps_dir: Path) -> list[str]:
    return sorted(str(p) for p in apps_dir.glob("*.py") if not p.name.startswith("_"))


def serve_command(args: argparse.Namespace) -> list[str]:
    """The ``panel serve`` command line that `workbench serve` runs."""
    apps_dir = Path(args.apps).resolve()
    files = _app_files(apps_dir)
    if not files:
        raise SystemExit(f"no dashboards (*.py) found in {apps_dir}")
    work = Path(tempfile.mkdtemp(prefix="workbench-serve-"))
    thumbs = Path(args.thumbnails).resolve() if args.thumbnails else apps_dir / "thumbnails"
    index = build_index(apps_dir, work, thumbs)
    origins = {f"{args.address}:{args.port}", f"localhost:{args.port}",
               f"127.0.0.1:{args.port}"}
    cmd = [sys.executable, "-m", "panel", "serve", *files,
           "--address", args.address, "--port", str(args.port),
           "--index", str(index),
           "--setup", str(Path(__file__).parent / "serve" / "server_setup.py"),
           "--check-unused-sessions", str(getattr(args, "check_unused_sessions", 5000)),
           "--unused-session-lifetime", str(getattr(args, "unused_session_lifetime", 30000)),
           "--websocket-max-message-size", str(WEBSOCKET_MAX_MESSAGE_BYTES)]
    procs = getattr(args, "num_procs", 1)
    if procs is not None and procs != 1:
        # Panel forks the server into `procs` processes sharing the port (the kernel spreads
        # the connections); the set-up script (thread caps, warm-ups) runs in each of them
        cmd += ["--num-procs", str(procs)]
    if getattr(args, "session_info", False):
        cmd += ["--rest-session-info", "--session-history", "-1"]
    for o in sorted(origins):
        cmd += ["--allow-websocket-origin", o]
    if thumbs.is_dir():
        cmd += ["--static-dirs", f"thumbnails={thumbs}"]
    if args.warm:
        cmd.append("--warm")
    if args.show:
        cmd.append("--show")
    return cmd


def serve_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment of the server process: resources from the server itself, the
    sweeps root (``--sweeps``, default ``runs/`` under the current directory) as
    ``$WORKBENCH_SWEEPS``, the one folder under which served pages may name files, and for
    the set-up script the number of processes and the app files (each forked process
    warms the apps itself)."""
    from workbench.paths import SWEEPS_ENV, default_sweeps_root

    sweeps = Path(args.sweeps).expanduser() if getattr(args, "sweeps", None) \
        else default_sweeps_root()
    from workbench.serve.warmup import APP_FILES_ENV, NUM_PROCS_ENV

    env = dict(os.environ, BOKEH_RESOURCES="server", PYTHONUNBUFFERED="1",
               **{SWEEPS_ENV: str(sweeps.resolve()),
                  NUM_PROCS_ENV: str(getattr(args, "num_procs", 1))})
    if getattr(args, "apps", None) and getattr(args, "warm", True):
        env[APP_FILES_ENV] = os.pathsep.join(_app_files(Path(args.apps).resolve()))
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve every dashboard in apps/ with an index page")
    s.add_argument("--port", type=int, default=5006)
    s.add_argument("--address", default="127.0.0.1",
                   help="interface to bind (default 127.0.0.1; 0.0.0.0 to serve a class)")
    s.add_argument("--show", action="store_true", help="open a browser")
    s.add_argument("--apps", default=str(REPO_APPS), help="folder of dashboard files")
    s.add_argument("--thumbnails", default=None, help="folder of <app>.png previews")
    s.add_argument("--sweeps", default=None, metavar="DIR",
                   help="sweeps root: the sweep explorer opens only sweep folders under it, "
                        "by name (default: runs/ under the current directory)")
    s.add_argument("--no-warm", dest="warm", action="store_false",
                   help="do not run each app once at start (warm-up)")
    s.add_argument("--unused-session-lifetime", type=int, default=30000, metavar="MS",
                   help="how long a closed session is kept before it is discarded (ms)")
    s.add_argument("--check-unused-sessions", type=int, default=5000, metavar="MS",
                   help="how often the server looks for sessions to discard (ms)")
    s.add_argument("--num-procs", type=int, default=1, metavar="N",
                   help="server processes sharing the port (Panel's own multi-process "
                        "serving; 0: one per core); each computes the first views at start")
    s.add_argument("--session-info", action="store_true",
                   help="serve /rest/session_info (session counts, for monitoring)")
    sub.add_parser("sweep", help="run a parameter sweep (see docs/sweep.md)", add_help=False)
    sub.add_parser("thumbnails", help="render the index previews apps/thumbnails/<app>.png",
                   add_help=False)

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sweep":
        from workbench.cli_sweep import main as sweep_main

        return sweep_main(argv[1:])
    if argv and argv[0] == "thumbnails":
        from workbench.serve.thumbnails import main as thumbnails_main

        return thumbnails_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "serve":
        cmd = serve_command(args)
        env = serve_env(args)
        print(f"Spectral Workbench: http://{args.address}:{args.port}/", flush=True)
        print(f"sweeps root (the sweep explorer's folders): {env['WORKBENCH_SWEEPS']}",
              flush=True)
        if os.name == "posix":
            # become the server: a signal to this process (SIGTERM from a supervisor or a
            # test) then stops the server itself, with no orphaned child left behind
            os.execve(sys.executable, cmd, env)
        try:
            return subprocess.call(cmd, env=env)
        except KeyboardInterrupt:
            return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
