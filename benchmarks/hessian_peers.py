"""Ours against the Hessian peers on a real model, one subprocess per (method, part).

Used by ``python -m benchmarks.bench_hessian --model cnn|resnet|minilm|gpt2 --device
cpu|cuda``. Methods (each the way its own docs / README use it, same model, data and loss,
float32 as loaded, default attention kernel):

- ours: ``hessian_operator(model, loss, data, max_memory=...)``; ``top_eigs(k=5,
  tol=1e-4)``; ``trace(method="xtrace", num_matvecs=100)``; ``spectral_density(4 probes x
  30 steps)``.
- PyHessian 0.1: ``hessian(model, criterion, data=(X, y))``; ``eigenvalues(top_n=5)``
  (power iteration with deflation, maxIter=100, tol=1e-3); ``trace(maxIter=100)``
  (Hutchinson); ``density(iter=30, n_v=4)`` (with the removed ``torch.eig`` patched in).
- curvlinops 3.0.1: ``HessianLinearOperator(model, loss, params, data)`` and
  ``scipy.sparse.linalg.eigsh(op.to_scipy(), k=5, which="LA")``; ``xtrace(op, 100)``;
  ``lanczos_approximate_spectrum(op, ncv=30, num_repeats=4)``.
- pytorch-hessian-eigenthings 1.0: ``HessianOperator(model, data, supervised_loss(loss),
  microbatch_size=...)``; ``lanczos(k=5, max_iter=20, which="LA")``; ``trace(num_matvecs=99)``
  (Hutch++); ``spectral_density(num_runs=4, lanczos_steps=30)``.

Each (method, part) runs in its own process so that its peak memory is its own: on CUDA
``torch.cuda.max_memory_allocated`` around the part, on CPU the process's peak RSS
(``ru_maxrss``: model, data and imports included; the RSS before the part is printed next
to it). Setting up the peer's operator is inside the timed part (a user pays it). The
relative error of the top-5 is against our operator in float64 (``top_eigs`` tol=1e-10),
cached on disk under .workbench-cache/ keyed by model, size and library versions.

A peer that fails on a model (fused attention without double backward, a parameter the
loss does not reach, ...) is printed as failed with its error's first line.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".workbench-cache" / "bench_hessian_peers"
METHODS = ("ours", "pyhessian", "curvlinops", "eigenthings")
PARTS = ("hvp", "top5", "trace", "slq")
PEER_MODULES = {"pyhessian": "pyhessian", "curvlinops": "curvlinops",
                "eigenthings": "hessian_eigenthings"}
#: benchmark-only installs (pyproject's `bench` extra; `python3 dev.py bench` installs them)
PEER_PIP = ("pyhessian==0.1 curvlinops-for-pytorch==3.0.1 hessian-eigenthings==1.0.0a5 "
            "'einops>=0.3' 'einconv>=0.1' 'linear_operator>=0.2'")
INSTALL_HINT = (f"`python3 dev.py bench hessian ...` installs them, or "
                f"`.venv/bin/python -m pip install --no-deps {PEER_PIP}`")
#: micro-batch of the peers that take one (samples per product), per model on CUDA
PEER_MICROBATCH_CUDA = {"cnn": 512, "resnet": 512, "minilm": None, "gpt2": 8}


def peer_available(method: str) -> str | None:
    """None if the peer imports, else the first line of why not."""
    if method == "ours":
        return None
    try:
        importlib.import_module(PEER_MODULES[method])
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


# --------------------------------------------------------------------------- worker side
def _rss_now() -> float:
    """Resident set size of this process now, bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0.0


class _LossModule:
    """A plain loss function as the nn.Module curvlinops needs (mean reduction)."""

    def __new__(cls, fn):
        from torch import nn

        class Loss(nn.Module):
            reduction = "mean"

            def forward(self, out, y):
                return fn(out, y)

        return Loss()


def _problem(args, dtype):
    import torch

    from benchmarks.bench_hessian import _scale_problem

    big = args.device == "cuda" and not args.small
    model, loss, data, desc = _scale_problem(args.model, args.device, dtype, big)
    X, y = data
    X, y = X.to(args.device), y.to(args.device)
    if not isinstance(loss, torch.nn.Module):
        loss = _LossModule(loss)
    return model, loss, (X, y), desc


def _count_calls(obj, name, box, width=lambda *a, **k: 1):
    orig = getattr(obj, name)

    def counted(*a, **k):
        box[0] += width(*a, **k)
        return orig(*a, **k)

    setattr(obj, name, counted)


def _top5(values) -> list[float]:
    v = np.sort(np.asarray([float(x) for x in values]))[::-1]
    return [float(x) for x in v[:5]]


def _freeze_unreached(model, loss, data) -> str:
    """Set requires_grad=False on the parameters the loss does not reach (one gradient on
    two samples), which PyHessian, curvlinops and eigenthings refuse ("appears to not
    have been used in the graph"); their curvature is zero, so the top-5, trace and
    density are unchanged. Returns a note."""
    import torch

    X, y = data
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    out = loss(model(X[:2]), y[:2])
    gs = torch.autograd.grad(out, [p for _, p in params], allow_unused=True)
    frozen = [n for (n, p), g in zip(params, gs) if g is None]
    for n, p in params:
        if n in frozen:
            p.requires_grad_(False)
    return f"froze {len(frozen)} unreached tensors" if frozen else ""


def _ours(args, model, loss, data, part):
    import torch

    import workbench.hessian as wh
    from workbench import spectral as sp

    budget = args.max_memory if args.max_memory == "auto" else int(float(args.max_memory))
    H = wh.hessian_operator(model, loss, data, max_memory=budget)
    out = {}
    if part == "hvp":
        H.matmat(torch.randn(H.shape[0], 1, device=H.device, dtype=H.dtype))
    elif part == "top5":
        out["values"] = _top5(sp.top_eigs(H, k=5, tol=1e-4, seed=0).values)
    elif part == "trace":
        out["trace"] = float(sp.trace(H, method="xtrace", num_matvecs=100, seed=0).estimate)
    elif part == "slq":
        sp.spectral_density(H, num_probes=4, num_steps=30, seed=0)
    out["hvps"] = int(H.num_matvecs)
    out["note"] = f"hvp={H.hvp}" + (f", attention->{H.attention}" if H.attention else "")
    return out


def _pyhessian(args, model, loss, data, part):
    import pyhessian  # noqa: F401 - registers pyhessian.hessian
    import torch
    ph = sys.modules["pyhessian.hessian"]

    box = [0]
    _count_calls(ph, "hessian_vector_product", box)
    torch.manual_seed(0)
    hc = ph.hessian(model, loss, data=data, cuda=args.device == "cuda")
    out = {}
    if part == "hvp":
        v = [torch.randn_like(p) for p in hc.params]
        ph.hessian_vector_product(hc.gradsH, hc.params, v)
    elif part == "top5":
        vals, _ = hc.eigenvalues(top_n=5)
        out["values"] = _top5(vals)
    elif part == "trace":
        out["trace"] = float(np.mean(hc.trace(maxIter=100, tol=1e-3)))
    elif part == "slq":
        # torch.eig, which PyHessian's density calls, now raises: the symmetric case
        def eig_shim(T, eigenvectors=True):
            w, V = torch.linalg.eigh(T)
            return torch.stack([w, torch.zeros_like(w)], 1), V

        torch.eig = eig_shim
        out["note"] = "torch.eig patched"
        hc.density(iter=30, n_v=4)
    out["hvps"] = box[0]
    return out


def _batches(args, data):
    X, y = data
    b = PEER_MICROBATCH_CUDA.get(args.model) if args.device == "cuda" and not args.small \
        else None
    if b is None or b >= len(X):
        return [(X, y)], None
    return [(X[i:i + b], y[i:i + b]) for i in range(0, len(X), b)], b


def _curvlinops(args, model, loss, data, part):
    import torch
    from curvlinops import HessianLinearOperator, lanczos_approximate_spectrum, xtrace
    from scipy.sparse.linalg import eigsh

    batches, b = _batches(args, data)
    params = [p for p in model.parameters() if p.requires_grad]
    H = HessianLinearOperator(model, loss, params, batches)
    box = [0]
    _count_calls(H, "_matmat", box, width=lambda M: int(M[0].shape[-1]))
    out = {"note": f"batches of {b}" if b else ""}
    if part == "hvp":
        H @ torch.randn(H.shape[1], 1, device=args.device)
    elif part == "top5":
        vals = eigsh(H.to_scipy(), k=5, which="LA", return_eigenvectors=False)
        out["values"] = _top5(vals)
    elif part == "trace":
        out["trace"] = float(xtrace(H, 100))
    elif part == "slq":
        lanczos_approximate_spectrum(H, ncv=30, num_repeats=4)
    out["hvps"] = box[0]
    return out


def _eigenthings(args, model, loss, data, part):
    import hessian_eigenthings as he
    import torch

    batches, b = _batches(args, data)
    unsafe = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    H = he.HessianOperator(model, [data], he.supervised_loss(loss), microbatch_size=b,
                           microbatch_unsafe=unsafe)
    box = [0]
    _count_calls(H, "matvec", box)
    out = {"note": f"micro-batches of {b}" if b else ""}
    if part == "hvp":
        H.matvec(torch.randn(H.size, device=H.device, dtype=H.dtype))
    elif part == "top5":
        r = he.lanczos(H, k=5, max_iter=20, which="LA", seed=0)
        out["values"] = _top5(r.eigenvalues.cpu())
    elif part == "trace":
        out["trace"] = float(he.trace(H, num_matvecs=99, seed=0).estimate)
    elif part == "slq":
        he.spectral_density(H, num_runs=4, lanczos_steps=30, seed=0)
    out["hvps"] = box[0]
    return out


def _reference(args, model, loss, data):
    import workbench.hessian as wh
    from workbench import spectral as sp

    H = wh.hessian_operator(model, loss, data, max_memory=args.max_memory if
                            args.max_memory == "auto" else int(float(args.max_memory)))
    r = sp.top_eigs(H, k=5, tol=1e-10, seed=0)
    return {"values": _top5(r.values), "hvps": int(H.num_matvecs)}


RUNNERS = {"ours": _ours, "pyhessian": _pyhessian, "curvlinops": _curvlinops,
           "eigenthings": _eigenthings}


def worker(args) -> dict:
    """Run one (method, part) and return its measurements (a JSON-able dict)."""
    import warnings

    import torch

    from workbench.backends import cap_threads

    warnings.filterwarnings("ignore")
    cap_threads(args.threads)
    dtype = torch.float64 if args.method == "reference" else torch.float32
    model, loss, data, _ = _problem(args, dtype)
    cuda = args.device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss0 = _rss_now()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        if args.method == "reference":
            out = _reference(args, model, loss, data)
        else:
            note = _freeze_unreached(model, loss, data) if args.method != "ours" and \
                args.peers_freeze_unreached else ""
            if args.method != "ours" and args.peers_eager_attention:
                from workbench.hessian.operators import attention_configs

                for c in attention_configs(model):  # the fix by hand: eager attention
                    c._attn_implementation = "eager"
                note = "; ".join(x for x in (note, "eager attention by hand") if x)
            out = RUNNERS[args.method](args, model, loss, data, args.part)
            out["note"] = "; ".join(x for x in (out.get("note", ""), note) if x)
        if cuda:
            torch.cuda.synchronize()
    except Exception as exc:  # noqa: BLE001 - a failing peer is a row, not a crash
        msg = str(exc).strip().splitlines()
        return {"failed": f"{type(exc).__name__}: {msg[0][:150] if msg else ''}"}
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = time.process_time() - c0
    if cuda:
        out["peak"] = torch.cuda.max_memory_allocated()
    else:
        out["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out["before"] = rss0
    return out


# --------------------------------------------------------------------------- parent side
def _spawn(args, method, part, timeout="args", max_memory=None) -> dict:
    timeout = args.timeout if timeout == "args" else timeout
    cmd = [sys.executable, "-m", "benchmarks.hessian_peers", "--worker", "--method", method,
           "--part", part, "--model", args.model, "--device", args.device,
           "--max-memory", str(max_memory or args.max_memory)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.small:
        cmd.append("--small")
    if args.peers_freeze_unreached:
        cmd.append("--peers-freeze-unreached")
    if args.peers_eager_attention:
        cmd.append("--peers-eager-attention")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"failed": f"stopped after {timeout:.0f} s (--timeout)"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    return {"failed": f"worker exited {p.returncode}: {tail[:150]}"}


def _reference_path(args) -> Path:
    import torch
    import transformers

    key = json.dumps([args.model, args.device, bool(args.small), torch.__version__,
                      transformers.__version__, 1])
    return CACHE_DIR / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


def _reference_cached(args, compute: bool = True) -> dict | None:
    """The float64 reference top-5: from the cache, else (`compute`) computed in a worker
    with no time limit under ``--reference-max-memory``; None when not cached and not
    computed."""
    path = _reference_path(args)
    if path.exists() and not (args.fresh and compute):
        out = json.loads(path.read_text())
        out["how"] = "cached"
        return out
    if not compute:
        return None
    out = _spawn(args, "reference", "top5", timeout=None,
                 max_memory=args.reference_max_memory)
    if "failed" not in out:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out))
        out["how"] = f"computed, {out['hvps']} HVPs, {out['seconds']:.0f} s"
    return out


def _mem(r, cuda) -> str:
    if cuda:
        return f"{r['peak'] / 2**30:.2f} GiB"
    return f"{r['peak'] / 2**30:.2f} ({r['before'] / 2**30:.2f})"


def compare(args, methods=METHODS, parts=PARTS) -> list[dict]:
    """Print the peers table (one row per method and part) and return its rows."""
    cuda = args.device == "cuda"
    ref = None

    def show_ref(r):
        print(f"float64 reference top-5 (ours, tol=1e-10; {r['how']}): "
              f"{np.array2string(np.asarray(r['values']), precision=6)}", flush=True)

    if "top5" in parts:
        ref = _reference_cached(args, compute=args.reference == "run")
        if ref is not None and "failed" in ref:
            print(f"float64 reference: FAILED {ref['failed']}")
            ref = None
        elif ref is not None:
            show_ref(ref)
        else:
            print("float64 reference: not cached yet (--reference cached): looked up again "
                  "before each top-5 row")
    mem = "peak GiB" if cuda else "RSS GiB (before)"
    print(f"\n{'method':12s} {'part':6s} {'HVPs':>5s} {'wall s':>7s} {'CPU s':>7s} "
          f"{mem:>17s} {'rel.err':>8s}  result / note", flush=True)
    rows = []
    for method in methods:
        why = peer_available(method)
        for part in parts:
            r = {"failed": f"not installed ({why}); {INSTALL_HINT}"} if why else \
                _spawn(args, method, part)
            r.update(method=method, part=part)
            rows.append(r)
            if "failed" in r:
                print(f"{method:12s} {part:6s} FAILED: {r['failed']}", flush=True)
                if why:
                    break
                continue
            err, res = "", ""
            if part == "top5":
                res = np.array2string(np.asarray(r["values"]), precision=4)
                if ref is None and args.reference == "cached":
                    ref = _reference_cached(args, compute=False)
                    if ref is not None:
                        show_ref(ref)
                if ref is not None:
                    v, t = np.asarray(r["values"]), np.asarray(ref["values"])
                    r["rel_err"] = float(np.max(np.abs(v - t) / np.abs(t))) \
                        if len(v) == len(t) else float("nan")
                    err = f"{r['rel_err']:.1e}"
            elif part == "trace":
                res = f"{r['trace']:.5g}"
            note = "; ".join(x for x in (res, r.get("note", "")) if x)
            print(f"{method:12s} {part:6s} {r['hvps']:5d} {r['seconds']:7.2f} "
                  f"{r['cpu_seconds']:7.1f} {_mem(r, cuda):>17s} {err:>8s}  {note}",
                  flush=True)
    if not cuda:
        print("CPU memory: the worker process's peak RSS (model, data, imports included); "
              "in brackets its RSS just before the part. Wall seconds are under whatever "
              f"else runs on the machine (load average now {os.getloadavg()[0]:.1f}).")
    if args.save:
        Path(args.save).write_text(json.dumps({"reference": ref, "rows": rows}, indent=1))
    return rows


def add_reference_options(ap) -> None:
    """The options of the reference and of the saved rows (shared with bench_hessian)."""
    ap.add_argument("--reference", choices=("run", "cached"), default="run",
                    help="float64 reference top-5: computed when not cached (run), or only "
                         "read from the cache, looked up again before each top-5 row "
                         "(cached: e.g. while another process computes it)")
    ap.add_argument("--reference-max-memory", default=None,
                    help="max_memory of the reference operator (default: --max-memory)")
    ap.add_argument("--save", default=None, help="write the rows as JSON to this file")
    ap.add_argument("--peers-freeze-unreached", action="store_true",
                    help="freeze, for the peers only, the parameters the loss does not "
                         "reach (MiniLM's pooler), which they refuse; zero curvature, so "
                         "the numbers compare")
    ap.add_argument("--peers-eager-attention", action="store_true",
                    help="switch, for the peers only, a transformers model to eager "
                         "attention by hand (fused attention has no double backward)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="hessian_peers")
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--method", default="ours")
    ap.add_argument("--part", default="top5")
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-memory", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--timeout", type=float, default=None)
    add_reference_options(ap)
    args = ap.parse_args(argv)
    if args.worker:
        with contextlib.redirect_stdout(sys.stderr):
            out = worker(args)
        print("RESULT " + json.dumps(out), flush=True)
        return
    if args.part == "reference":  # compute (or read) the cached reference, nothing else
        print(json.dumps(_reference_cached(args)))
        return
    compare(args)


if __name__ == "__main__":
    main(sys.argv[1:])
