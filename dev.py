#!/usr/bin/env python3
"""One-file set-up and task runner for Spectral Workbench (standard library only).

    python3 dev.py serve        # create .venv if missing, serve every dashboard on :5006
    python3 dev.py lab          # create .venv if missing, JupyterLab on notebooks/ (127.0.0.1)
    python3 dev.py test         # create .venv if missing, lint + the whole test suite
    python3 dev.py test --busy --repeat 3 [-- PYTEST ARGS]
                                # the same under CPU contention (one busy loop per core),
                                # 3 runs in a row, stopping at the first failure
    python3 dev.py stress       # shorthand for: test --busy --repeat 3
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
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
CHROMIUM = Path("/usr/bin/chromium")

# peer tools for benchmarks only: never package dependencies
BENCH_PEERS = ["weightwatcher", "powerlaw"]


def bench_extra() -> list[str]:
    """The requirements of pyproject's `bench` extra (the Hessian peers), read without a
    TOML parser (standard library of any python3)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    start = text.find("\nbench = [")
    if start < 0:
        return []
    body = text[start:text.find("]", start)]
    return [line.strip().strip('",') for line in body.splitlines()[1:]
            if line.strip().startswith('"')]


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
    # --no-compile, then compileall on every core: pip byte-compiles the ~20,000 installed
    # modules one by one (about a minute of one core). The .pyc files must be written here:
    # with PYTHONDONTWRITEBYTECODE set, no later import would write them.
    rc = run([PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-compile",
              "-c", "constraints.txt", "-e", spec])
    if rc != 0:
        sys.exit(f"[dev.py] pip install failed (exit {rc})")
    compile_bytecode()
    compile_kernels()
    stamp_file.write_text(want)


def compile_bytecode() -> None:
    """Byte-compile the virtual environment's packages (what pip does without
    --no-compile), one process per core. Files that are not valid Python (templates some
    packages ship) are skipped, as pip skips them."""
    site = subprocess.check_output(
        [str(PY), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip()
    log("byte-compiling the installed packages")
    subprocess.call([str(PY), "-m", "compileall", "-qq", "-j", "0", site], cwd=ROOT)


def compile_kernels() -> None:
    """Compile the numba kernels into numba's on-disk cache (workbench/*/__pycache__), one
    process per core, each a share of the kernel modules: otherwise the first server start
    or test that calls them compiles them all on one core (a few minutes of CPU on a fresh
    checkout). A failure only costs time: kernels compile on first use."""
    n = max(1, min(os.cpu_count() or 1, 4))
    log(f"compiling the numba kernels ({n} process(es))")
    code = "import sys; from workbench.backends.numba_support import compile_cache; " \
           "compile_cache(int(sys.argv[1]), int(sys.argv[2]))"
    procs = [subprocess.Popen([str(PY), "-c", code, str(k), str(n)], cwd=ROOT)
             for k in range(n)]
    if any([p.wait() != 0 for p in procs]):  # (waits for every one)
        log("could not compile every numba kernel ahead; they compile on first use")


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


TEST_USAGE = """usage: python3 dev.py test [--busy[=N]] [--repeat N] [--] [PYTEST ARGS...]

  --busy[=N]   run N busy-loop processes beside pytest (default: one per core), so the
               suite runs on a machine whose CPUs are all taken; stopped afterwards
  --repeat N   run the suite N times in a row, stopping at the first failure; each run's
               result and wall time are printed
Anything else (or everything after --) goes to pytest, e.g. -- tests/test_io.py -x"""

# A busy loop that also stops by itself once its parent (dev.py) is gone, so a dev.py
# killed with SIGKILL leaves no spinning orphan behind for long. It ignores Ctrl-C (dev.py
# stops it, quietly).
_BUSY_LOOP = ("import os, signal\n"
              "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
              "parent = os.getppid()\n"
              "while os.getppid() == parent:\n"
              "    for _ in range(2_000_000):\n"
              "        pass\n")


def parse_test_args(args: list[str]) -> tuple[int, int, list[str]]:
    """Split `args` into (busy processes, repeats, pytest args). ``--busy`` alone means one
    busy loop per core (os.cpu_count()); everything after ``--`` goes to pytest untouched."""
    busy, repeat, rest = 0, 1, []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest.extend(args[i + 1:])
            break
        if a == "--busy":
            busy = os.cpu_count() or 1
        elif a.startswith("--busy="):
            busy = int(a.split("=", 1)[1])
        elif a == "--repeat" or a.startswith("--repeat="):
            if "=" in a:
                value = a.split("=", 1)[1]
            else:
                i += 1
                if i == len(args):
                    sys.exit(f"[dev.py] --repeat needs a number\n{TEST_USAGE}")
                value = args[i]
            repeat = int(value)
        else:
            rest.append(a)
        i += 1
    if busy < 0 or repeat < 1:
        sys.exit(f"[dev.py] --busy must be >= 0 and --repeat >= 1\n{TEST_USAGE}")
    return busy, repeat, rest


def start_busy(n: int) -> list[subprocess.Popen]:
    """Start `n` processes that each keep one core busy (pure-Python loop)."""
    procs = [subprocess.Popen([sys.executable, "-c", _BUSY_LOOP], stdin=subprocess.DEVNULL)
             for _ in range(n)]
    log(f"started {n} busy-loop process(es) beside the tests: "
        f"pids {' '.join(str(p.pid) for p in procs)}")
    return procs


def stop_busy(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if procs:
        log(f"stopped {len(procs)} busy-loop process(es)")


def cmd_lab(args: list[str]) -> int:
    """JupyterLab on notebooks/, bound to 127.0.0.1 unless --ip is given, token on (as
    JupyterLab defaults). Panel and Bokeh load their JavaScript from the Python packages
    (PANEL_INLINE), never from a CDN: the notebooks render offline."""
    ensure_env("lab")
    if not any(a.startswith("--ip") for a in args):
        args = ["--ip", "127.0.0.1", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in args:
        args = [*args, "--allow-root"]
    env = dict(os.environ, PANEL_INLINE="true", HF_HUB_OFFLINE="1")
    return run([BIN / "jupyter", "lab", f"--ServerApp.root_dir={ROOT / 'notebooks'}", *args],
               env=env)


def cmd_test(args: list[str]) -> int:
    busy, repeat, pytest_args = parse_test_args(args)
    ensure_env("dev")
    ensure_chromium()
    rc = run([BIN / "ruff", "check", "."])
    if rc != 0:
        log("ruff found problems (see above)")
        return rc
    if busy == 0 and repeat == 1:
        return run([PY, "-m", "pytest", *pytest_args])

    # SIGTERM (a CI runner, `kill`) unwinds like Ctrl-C, so the busy loops are stopped
    previous = signal.signal(signal.SIGTERM, _interrupt)
    procs: list[subprocess.Popen] = []
    results: list[tuple[int, float]] = []
    try:
        procs = start_busy(busy)
        for k in range(1, repeat + 1):
            t0 = time.monotonic()
            rc = run([PY, "-m", "pytest", *pytest_args])
            results.append((rc, time.monotonic() - t0))
            log(f"run {k}/{repeat}: {'passed' if rc == 0 else f'FAILED (exit {rc})'} "
                f"in {_minutes(results[-1][1])}" + (f" beside {busy} busy loop(s)" if busy else ""))
            if rc != 0:
                break
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        stop_busy(procs)
        signal.signal(signal.SIGTERM, previous)
    passed = sum(1 for r, _ in results if r == 0)
    log(f"{passed} of {repeat} run(s) passed in a row" +
        (f" under CPU contention ({busy} busy loop(s) on {os.cpu_count()} core(s))" if busy
         else "") + ": " + ", ".join(_minutes(t) for _, t in results))
    return rc


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def cmd_stress(args: list[str]) -> int:
    """``test --busy --repeat 3`` (the options given win)."""
    head = args[:args.index("--")] if "--" in args else args
    extra = []
    if not any(a.startswith("--busy") for a in head):
        extra.append("--busy")
    if not any(a.startswith("--repeat") for a in head):
        extra += ["--repeat", "3"]
    return cmd_test([*extra, *args])


def cmd_bench(args: list[str]) -> int:
    ensure_env("dev")
    # peers are installed with --no-deps where their pins would drag in other versions
    rc = run([PY, "-m", "pip", "install", "-q", "-c", "constraints.txt", *BENCH_PEERS])
    if rc != 0:
        log("could not install every peer tool; benchmarks that need a missing one say so")
    # the Hessian peers (pyproject's `bench` extra) without their dependencies: their pins
    # would replace torch (see the comment on the extra)
    peers = bench_extra()
    if peers and run([PY, "-m", "pip", "install", "-q", "--no-deps", *peers]) != 0:
        quoted = " ".join(f"'{p}'" for p in peers)
        log("could not install the Hessian peers (PyHessian, curvlinops, "
            "hessian-eigenthings); `bench hessian --model ...` runs ours alone. Get them "
            f"with: {PY} -m pip install --no-deps {quoted}")
    return run([PY, "-m", "benchmarks", *args])


COMMANDS = {"serve": cmd_serve, "lab": cmd_lab, "test": cmd_test, "stress": cmd_stress,
            "bench": cmd_bench}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
