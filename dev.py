#!/usr/bin/env python3
"""One-file set-up and task runner for Spectral Workbench (standard library only).

    python3 dev.py serve        # create .venv if missing, serve every dashboard on :5006
    python3 dev.py test         # create .venv if missing, lint + the whole test suite
    python3 dev.py bench [NAME] # run benchmarks/ (peer tools installed into the venv)

Why a Python script and not a Makefile: the only thing a fresh machine is promised is
python3 and pip, so the set-up must not need make, conda or a shell of a given flavour.

The virtual environment lives in ./.venv. It is (re)installed only when pyproject.toml or
constraints.txt change (a stamp file records their hash per set of extras), so a warm
command costs nothing for set-up. torch is pinned by constraints.txt to the local CPU
wheel; set-up never pulls a CUDA build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
CHROMIUM = Path("/usr/bin/chromium")

# peer tools for benchmarks only: never package dependencies
BENCH_PEERS = ["pyhessian", "weightwatcher", "powerlaw"]


def log(msg: str) -> None:
    print(f"[dev.py] {msg}", flush=True)


def run(cmd: list[str], **kw) -> int:
    log(" ".join(str(c) for c in cmd))
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)


def _stamp(extras: str) -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        h.update((ROOT / name).read_bytes())
    h.update(extras.encode())
    return h.hexdigest()


def ensure_env(extras: str) -> None:
    """Create .venv and install the package with `extras` unless already up to date."""
    if not PY.exists():
        log(f"creating virtual environment in {VENV}")
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    stamp_file = VENV / f".workbench-stamp-{extras or 'core'}"
    want = _stamp(extras)
    if stamp_file.exists() and stamp_file.read_text() == want:
        return
    spec = f".[{extras}]" if extras else "."
    rc = run([PY, "-m", "pip", "install", "--disable-pip-version-check", "-q",
              "-c", "constraints.txt", "-e", spec])
    if rc != 0:
        sys.exit(f"[dev.py] pip install failed (exit {rc})")
    stamp_file.write_text(want)


def ensure_chromium() -> None:
    """Debian's chromium for the browser tests (Playwright drives it; no browser download)."""
    if CHROMIUM.exists():
        return
    apt = shutil.which("apt-get")
    if apt is None:
        sys.exit("[dev.py] /usr/bin/chromium is missing and apt-get is not available: "
                 "install Debian's 'chromium' package to run the browser tests")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log("installing Debian's chromium for the browser tests")
    if run(sudo + [apt, "update", "-qq"], env=env) != 0 or \
            run(sudo + [apt, "install", "-y", "-qq", "chromium"], env=env) != 0:
        sys.exit("[dev.py] could not install chromium with apt-get")


def cmd_serve(args: list[str]) -> int:
    ensure_env("apps")
    if not any(a.startswith("--port") for a in args):
        args = ["--port", "5006", *args]
    return run([BIN / "workbench", "serve", *args])


def cmd_test(args: list[str]) -> int:
    ensure_env("dev")
    ensure_chromium()
    rc = run([BIN / "ruff", "check", "."])
    if rc != 0:
        log("ruff found problems (see above)")
        return rc
    return run([PY, "-m", "pytest", *args])


def cmd_bench(args: list[str]) -> int:
    ensure_env("dev")
    # peers are installed with --no-deps where their pins would drag in other versions
    rc = run([PY, "-m", "pip", "install", "-q", "-c", "constraints.txt", *BENCH_PEERS])
    if rc != 0:
        log("could not install every peer tool; benchmarks that need a missing one say so")
    return run([PY, "-m", "benchmarks", *args])


COMMANDS = {"serve": cmd_serve, "test": cmd_test, "bench": cmd_bench}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
