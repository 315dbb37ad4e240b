"""Benchmark: Hessian spectra of a trained MLP against PyHessian, in one run.

    .venv/bin/python -m benchmarks hessian          # a few minutes (+ one eigvalsh, cached)
    .venv/bin/python -m benchmarks.bench_hessian --fresh   # recompute the cached spectrum
    .venv/bin/python -m benchmarks.bench_hessian --parts 4 --threads 1  # HVP timings only
    .venv/bin/python -m benchmarks.bench_hessian --model minilm --device cpu   # real models:
        # --model cnn|resnet|minilm|gpt2 --device cpu|cuda [--max-memory BYTES]
        # [--peers ours,pyhessian,curvlinops,eigenthings] [--parts 1234] [--fresh]
        # [--timeout S] [--reference run|cached] [--save rows.json]
        # [--peers-freeze-unreached --peers-eager-attention]: the peers' fixes by hand
        # (they refuse MiniLM's unreached pooler; sdpa has no double backward)
        # ours against PyHessian, curvlinops + scipy eigsh and pytorch-hessian-eigenthings
        # 1.0 (benchmarks/hessian_peers.py; one process per method and part)

Task (the issue's): scikit-learn digits (1797 x 64, standardized), MLP 64-140-10 tanh
(10,510 parameters) trained with SGD to ~98% train accuracy, mean cross-entropy over the
full data set. Reference: the dense float64 Hessian in closed form
(``dense_hessian_two_layer``, checked against torch.func in the tests and against our
operator here) and its full spectrum (eigvalsh of a 10.5k matrix: minutes on 2 cores, so
cached on disk under .workbench-cache/ keyed by the weights).

Parts (one table each):
1. top-5 eigenvalues: relative error vs the reference, HVPs used, wall time (ours:
   thick-restart Lanczos at two tolerances, float64 and float32; PyHessian: power
   iteration with deflation, its defaults maxIter=100 tol=1e-3, float32 as trained and
   float64);
2. trace over 10 seeds at <= 100 HVPs: relative error, relative spread, our reported
   standard error and how often the truth lies within 2 of them;
3. density fidelity at 300 HVPs: Wasserstein-1 distance of the SLQ measure to the exact
   spectrum, relative to the spectral range (PyHessian's density calls torch.eig, removed
   from torch: we report the failure, then run it again with torch.eig patched);
4. HVP cost vs one full-data gradient, per implementation (cached double backward,
   torch.func forward-over-reverse vmapped, reverse-over-reverse batched, one-at-a-time
   forward-over-reverse, PyHessian's), one vector and blocks of 16, with each one's error
   vs the dense reference: the measurement behind ``hvp="auto"``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

import workbench.hessian as wh
from workbench import spectral as sp
from workbench.hessian.dense import dense_hessian_two_layer
from workbench.hessian.training import train

CE = nn.CrossEntropyLoss()
CACHE_DIR = Path(__file__).resolve().parent.parent / ".workbench-cache" / "bench_hessian"


def _pyhessian():
    try:
        import importlib
        import sys

        importlib.import_module("pyhessian")
        # the package re-exports the class `hessian` under the module's name
        return sys.modules["pyhessian.hessian"]
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        print(f"PyHessian: not available ({type(exc).__name__}: {exc}); "
              "`pip install pyhessian` into the venv to compare. Our side only.")
        return None


@contextlib.contextmanager
def _count_pyhessian_hvps(mod):
    """Count PyHessian's Hessian-vector products (its single-batch path calls
    pyhessian.hessian.hessian_vector_product once per product)."""
    box = [0]
    orig = mod.hessian_vector_product

    def counted(*a, **k):
        box[0] += 1
        return orig(*a, **k)

    mod.hessian_vector_product = counted
    try:
        yield box
    finally:
        mod.hessian_vector_product = orig


@contextlib.contextmanager
def _default_dtype(dtype):
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _timed(fn, repeats: int = 7) -> float:
    """Best of `repeats` runs after a warm-up: on a shared machine the minimum is the
    estimate of the intrinsic cost least disturbed by other processes."""
    fn()  # warm
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _data(ds, model):
    """The full data set as one batch in the model's dtype (PyHessian's single-batch mode,
    which keeps the gradient graph: its fastest path)."""
    return ds.X.to(next(model.parameters()).dtype), ds.y


def _timed_vs(fn, ref, repeats: int = 7) -> tuple[float, float]:
    """(best time of fn, best time of ref), the two run alternately so that a burst of
    load from other processes hits both: their ratio is steadier than separate timings."""
    fn()
    ref()
    a, b = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        ref()
        a.append(t1 - t0)
        b.append(time.perf_counter() - t1)
    return min(a), min(b)


def setup():
    ds = wh.digits()
    model = wh.mlp(64, 10, width=140, depth=1, activation="tanh", seed=0)
    res = train(model, ds, optimizer="sgd", lr=0.1, steps=300, batch_size=64, seed=0,
                num_snapshots=2)
    m32 = res.model.eval()
    m64 = wh.mlp(64, 10, width=140, depth=1, activation="tanh", seed=0, dtype=torch.float64)
    m64.load_state_dict({k: v.double() for k, v in m32.state_dict().items()})
    return ds, m32, m64, res


def reference(ds, m64, fresh: bool):
    t0 = time.perf_counter()
    H = dense_hessian_two_layer(m64, ds.pair())
    t_dense = time.perf_counter() - t0
    h = hashlib.sha256()
    for v in m64.state_dict().values():
        h.update(v.numpy().tobytes())
    h.update(ds.X.numpy().tobytes())
    h.update(torch.__version__.encode())
    path = CACHE_DIR / f"{h.hexdigest()[:20]}.npy"
    t0 = time.perf_counter()
    if path.exists() and not fresh:
        evals, how = np.load(path), "cached"
    else:
        evals = torch.linalg.eigvalsh(H).numpy()
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.save(path, evals)
        how = "computed"
    t_eig = time.perf_counter() - t0
    return H, np.sort(evals), t_dense, t_eig, how


def rel_err_top(vals, ref_top) -> float:
    v = np.sort(np.asarray(vals, dtype=float))[::-1][: len(ref_top)]
    return float(np.max(np.abs(v - ref_top) / np.abs(ref_top)))


def part_top5(ds, m32, m64, top5, ph):
    print("\n[1] top-5 eigenvalues (relative error = max_i |l_i - l_i*| / |l_i*|)")
    print(f"{'method':48s} {'rel. error':>11s} {'HVPs':>6s} {'seconds':>8s}")
    rows = []

    def show(row):
        rows.append(row)
        name, err, n, dt = row
        print(f"{name:48s} {err:11.2e} {n:6d} {dt:8.2f}", flush=True)

    for dtype, model in (("float64", m64), ("float32", m32)):
        for tol in (1e-8, 1e-4):
            H = wh.hessian_operator(model, CE, ds.pair())
            t0 = time.perf_counter()
            r = sp.top_eigs(H, k=5, tol=tol, seed=0)
            dt = time.perf_counter() - t0
            show((f"workbench top_eigs tol={tol:g} ({dtype})",
                  rel_err_top(r.values, top5), r.num_matvecs, dt))
    if ph is not None:
        for dtype, model in (("float32, as trained", m32), ("float64", m64)):
            with _default_dtype(model[0].weight.dtype), _count_pyhessian_hvps(ph) as n:
                torch.manual_seed(0)
                t0 = time.perf_counter()
                hc = ph.hessian(model, CE, data=_data(ds, model), cuda=False)
                vals, _ = hc.eigenvalues(top_n=5)
                dt = time.perf_counter() - t0
            for p in model.parameters():
                p.grad = None
            show((f"PyHessian eigenvalues(top_n=5) ({dtype})",
                  rel_err_top(vals, top5), n[0], dt))
    return rows


def part_trace(ds, m64, exact, ph, Hd, seeds: int = 10):
    # Hutchinson with Rademacher probes has variance 2 sum_{i != j} H_ij^2 / m: the
    # spread any Hutchinson-type estimator starts from on this (flat) spectrum
    off = float((Hd * Hd).sum() - (torch.diagonal(Hd) ** 2).sum())
    sd100 = (2 * off / 100) ** 0.5 / exact
    need = 2 * off / (0.005 * exact) ** 2
    print(f"\n[2] trace over {seeds} seeds at <= 100 HVPs (exact {exact:.6g}; Hutchinson's "
          f"predicted relative sd at 100 probes {sd100:.2%}, {need:.0f} probes for 0.5%)")
    print(f"{'method':42s} {'mean |err|':>10s} {'spread':>8s} {'rep. se':>8s} "
          f"{'within 2se':>10s} {'HVPs':>6s} {'s/seed':>7s}")
    H = wh.hessian_operator(m64, CE, ds.pair())
    for method in ("hutch++", "xtrace", "hutchinson"):
        est, se, t = [], [], time.perf_counter()
        for s in range(seeds):
            r = sp.trace(H, method=method, num_matvecs=100, seed=s)
            est.append(r.estimate)
            se.append(r.std_error)
        dt = (time.perf_counter() - t) / seeds
        est, se = np.array(est), np.array(se)
        inside = int(np.sum(np.abs(est - exact) <= 2 * se))
        print(f"{'workbench trace ' + method:42s} {np.mean(np.abs(est - exact)) / exact:10.2%} "
              f"{est.std() / exact:8.2%} {se.mean() / exact:8.2%} {inside:>7d}/{seeds} "
              f"{100:6d} {dt:7.2f}")
    if ph is not None:
        est, used, t = [], [], time.perf_counter()
        with _count_pyhessian_hvps(ph) as n:
            hc = ph.hessian(m64, CE, data=_data(ds, m64), cuda=False)
            for s in range(seeds):
                torch.manual_seed(s)
                before = n[0]
                with _default_dtype(torch.float64):
                    vhv = hc.trace(maxIter=100, tol=1e-3)
                est.append(float(np.mean(vhv)))
                used.append(n[0] - before)
        for p in m64.parameters():
            p.grad = None
        dt = (time.perf_counter() - t) / seeds
        est = np.array(est)
        print(f"{'PyHessian trace(maxIter=100, tol=1e-3)':42s} "
              f"{np.mean(np.abs(est - exact)) / exact:10.2%} {est.std() / exact:8.2%} "
              f"{'none':>8s} {'-':>10s} {np.mean(used):6.0f} {dt:7.2f}")


def part_density(ds, m32, m64, evals, ph, budget: int = 300):
    from scipy.stats import wasserstein_distance

    span = evals[-1] - evals[0]
    print(f"\n[3] density fidelity at {budget} HVPs: W1(estimate, exact spectrum) / "
          f"spectral range ({span:.4g})")
    H = wh.hessian_operator(m64, CE, ds.pair())
    for probes, steps in ((3, 100), (10, 30)):
        t0 = time.perf_counter()
        d = sp.spectral_density(H, num_probes=probes, num_steps=steps, seed=0)
        dt = time.perf_counter() - t0
        x, w = d.node_samples()
        print(f"  workbench SLQ {probes} probes x {steps} steps: "
              f"W1/range = {wasserstein_distance(x, evals, u_weights=w) / span:.2e}, "
              f"{d.num_matvecs} HVPs, {dt:.2f} s")
    if ph is None:
        return
    hc = ph.hessian(m32, CE, data=_data(ds, m32), cuda=False)
    try:
        hc.density(iter=100, n_v=3)
        print("  PyHessian density: ran unpatched")
    except Exception as exc:  # noqa: BLE001 - report whatever breaks
        print(f"  PyHessian density(iter=100, n_v=3): FAILS on torch {torch.__version__}: "
              f"{type(exc).__name__}: {str(exc)[:90]}")
    had = hasattr(torch, "eig")
    old = getattr(torch, "eig", None)

    def eig_shim(T, eigenvectors=True):  # the removed torch.eig, for symmetric T
        w, V = torch.linalg.eigh(T)
        return torch.stack([w, torch.zeros_like(w)], 1), V

    torch.eig = eig_shim
    try:
        torch.manual_seed(0)
        with _count_pyhessian_hvps(ph) as n:
            t0 = time.perf_counter()
            nodes, weights = hc.density(iter=100, n_v=3)
            dt = time.perf_counter() - t0
        x = np.concatenate([np.asarray(a, float) for a in nodes])
        w = np.concatenate([np.asarray(a, float) for a in weights])
        print(f"  PyHessian density(iter=100, n_v=3) with torch.eig patched (float32): "
              f"W1/range = {wasserstein_distance(x, evals, u_weights=w / w.sum()) / span:.2e},"
              f" {n[0]} HVPs, {dt:.2f} s")
    finally:
        if had:
            torch.eig = old
        else:
            del torch.eig
        for p in m32.parameters():
            p.grad = None


def part_hvp(ds, m64, m32, Hd, ph):
    print("\n[4] HVP cost vs one full-data gradient (best of 7, each HVP timing alternating "
          "with a gradient timing for its ratio; per vector)")
    P = Hd.shape[0]
    rng = np.random.default_rng(0)
    print(f"{'implementation':44s} {'dtype':>7s} {'block':>5s} {'ms/HVP':>8s} "
          f"{'x grad':>7s} {'rel. err':>9s}")
    for dtype, model in (("float64", m64), ("float32", m32)):
        X, y = ds.X.to(model[0].weight.dtype), ds.y

        def gradient(model=model, X=X, y=y):
            loss = CE(model(X), y)
            torch.autograd.grad(loss, list(model.parameters()))

        t_grad = _timed(gradient)
        print(f"{'one gradient (forward + backward)':44s} {dtype:>7s} {'':>5s} "
              f"{1e3 * t_grad:8.2f} {1.0:7.2f}")
        V = torch.as_tensor(rng.standard_normal((P, 16)), dtype=X.dtype)
        ref = (Hd @ V.double()).to(X.dtype)
        for hvp in ("cached", "fwd_rev", "rev_rev", "loop"):
            H = wh.hessian_operator(model, CE, ds.pair(), hvp=hvp)
            for b in (1, 16):
                Vb = V[:, :b]
                t, tg = _timed_vs(lambda H=H, Vb=Vb: H.matmat(Vb), gradient)
                t /= b
                err = float((H.matmat(Vb) - ref[:, :b]).norm() / ref[:, :b].norm())
                print(f"{'workbench hvp=' + repr(hvp):44s} {dtype:>7s} {b:5d} "
                      f"{1e3 * t:8.2f} {t / tg:7.2f} {err:9.1e}")
        if ph is not None:
            with _default_dtype(X.dtype):
                hc = ph.hessian(model, CE, data=_data(ds, model), cuda=False)
                v = [t.detach() for t in H.layout.unflatten(V[:, 0]).values()]
                t, tg = _timed_vs(lambda hc=hc, v=v: ph.hessian_vector_product(
                    hc.gradsH, hc.params, v), gradient)
                hv = torch.cat([t_.reshape(-1) for t_ in
                                ph.hessian_vector_product(hc.gradsH, hc.params, v)])
            err = float((hv - ref[:, 0]).norm() / ref[:, 0].norm())
            print(f"{'PyHessian hessian_vector_product (cached)':44s} {dtype:>7s} {1:5d} "
                  f"{1e3 * t:8.2f} {t / tg:7.2f} {err:9.1e}")
            for p in model.parameters():
                p.grad = None


# --------------------------------------------------------------------------- real models
def _scale_problem(name: str, device: str, dtype, big: bool):
    """(model, loss_fn, (X, y), description) at CPU ("small") or GPU ("big") size, loaded
    as a user loads it (default attention kernel)."""
    from workbench.hessian import transformers as wt
    from workbench.hessian.models import cifar_like, resnet

    if name == "cnn":
        n = 4096 if big else 256
        X, y = cifar_like(n, seed=0, dtype=dtype)
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(64 * 16, 200), nn.ReLU(),
                              nn.Linear(200, 10)) if big else nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * 16, 32), nn.ReLU(), nn.Linear(32, 10))
        return model.to(device, dtype), CE, (X, y), f"CNN, {n} CIFAR-shaped images"
    if name == "resnet":
        n = 2048 if big else 64
        X, y = cifar_like(n, seed=0, dtype=dtype)
        widths = (64, 128, 256) if big else (8, 16, 32)
        model = resnet(10, widths=widths, seed=0, dtype=dtype, warmup=X)
        return model.to(device), CE, (X, y), f"ResNet {widths}, BatchNorm eval, {n} images"
    if name == "minilm":
        n = 64 if big else 16  # pairs: all 64 bundled (128 sentences) / 32 sentences
        model, loss, data = wt.minilm_pair_task(n, attn_implementation="sdpa", dtype=dtype,
                                                device=device)
        what = f"pretrained MiniLM (sdpa as loaded), {n} sentence pairs ({2 * n} sentences)"
        if big:  # the H200 target's 256 sentences: the 128 bundled ones twice (same
            X, y = data  # Hessian as once, the cost of 256)
            data, what = (torch.cat([X, X]), torch.cat([y, y])), what + ", each twice"
        return model, loss, data, what
    if name == "gpt2":
        if big:
            model = wt.gpt2_lm(12, 768, 12, 50257, 1024, dtype=dtype, device=device,
                               attn_implementation="sdpa")
            ids, tgt = wt.token_data(64, 512, 50257, device=device)
        else:
            model = wt.gpt2_lm(2, 128, 4, 1024, 128, dtype=dtype, device=device,
                               attn_implementation="sdpa")
            ids, tgt = wt.token_data(8, 64, 1024, device=device)
        return (model, wt.next_token_loss, (ids, tgt),
                f"GPT-2-shaped LM, {tuple(ids.shape)} tokens")
    raise SystemExit(f"unknown model {name!r}")


def scale_main(args) -> None:
    """Ours and the peers on a real model (benchmarks/hessian_peers.py): per method one HVP,
    top-5 (HVPs, time, peak memory, error vs a float64 reference), trace and SLQ, each in
    its own process; ours under max_memory, its plan printed first."""
    from benchmarks import hessian_peers as hp

    device = args.device
    big = device == "cuda" and not args.small
    budget = args.max_memory if args.max_memory == "auto" else int(float(args.max_memory))
    model, loss, data, desc = _scale_problem(args.model, device, torch.float32, big)
    P = sum(p.numel() for p in model.parameters())
    print(f"{args.model}: {desc}; {P:,} parameters; device {device}; max_memory={budget}")
    methods = [m for m in args.peers.split(",") if m]
    missing = [m for m in methods if hp.peer_available(m) is not None]
    if missing:
        print(f"peers not installed: {', '.join(missing)}; {hp.INSTALL_HINT}")
    t0, c0 = time.perf_counter(), time.process_time()
    H = wh.hessian_operator(model, loss, data, max_memory=budget)
    plan = H.plan
    print(f"our plan ({time.perf_counter() - t0:.1f} s, {time.process_time() - c0:.1f} CPU s): "
          f"{plan.batch_size} samples x {plan.vector_chunk} vectors, est. peak "
          f"{plan.estimated_peak / 2**20:.0f} MiB; {plan.how}\nhvp={H.hvp}, "
          f"attention={H.attention}; notes: {H.notes}")
    del H, model
    parts = [hp.PARTS[int(c) - 1] for c in args.parts if c in "1234"]
    hp.compare(args, methods=methods, parts=parts)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="bench_hessian")
    ap.add_argument("--fresh", action="store_true", help="recompute the cached spectrum")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--parts", default="1234", help="which parts to run, e.g. 14 (with "
                    "--model: 1 one HVP, 2 top-5, 3 trace, 4 SLQ)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch/BLAS threads (default: all cores; 1 gives steadier timings "
                         "on a machine shared with other work)")
    ap.add_argument("--model", choices=("cnn", "resnet", "minilm", "gpt2"), default=None,
                    help="benchmark a real model instead of the digits MLP")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--max-memory", default="auto", help="bytes or 'auto'")
    ap.add_argument("--small", action="store_true", help="CPU sizes on CUDA too")
    ap.add_argument("--peers", default="ours,pyhessian,curvlinops,eigenthings",
                    help="with --model: comma-separated methods to run")
    from benchmarks.hessian_peers import add_reference_options

    add_reference_options(ap)
    ap.add_argument("--timeout", type=float, default=None,
                    help="with --model: seconds one method's part may run (else a row "
                         "'stopped')")
    args = ap.parse_args(argv)
    from workbench.backends import cap_threads

    threads = cap_threads(args.threads)
    if args.model is not None:
        print(f"torch {torch.__version__}, {threads} threads")
        scale_main(args)
        return
    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph")
    ph = _pyhessian()
    t0 = time.perf_counter()
    ds, m32, m64, res = setup()
    print(f"digits {tuple(ds.X.shape)}, MLP 64-140-10 tanh: {wh.num_parameters(m64):,} "
          f"parameters, SGD 300 steps: train accuracy {res.final.accuracy:.1%}, loss "
          f"{res.final.loss:.4f} ({time.perf_counter() - t0:.1f} s); torch "
          f"{torch.__version__}, {threads} threads")
    Hd, evals, t_dense, t_eig, how = reference(ds, m64, args.fresh)
    top5 = evals[::-1][:5]
    H = wh.hessian_operator(m64, CE, ds.pair())
    V = torch.as_tensor(np.random.default_rng(1).standard_normal((Hd.shape[0], 3)))
    check = float((H.matmat(V) - Hd @ V).norm() / (Hd @ V).norm())
    print(f"reference: closed-form dense Hessian {t_dense:.1f} s (operator vs dense: rel. "
          f"error {check:.1e}), eigvalsh {t_eig:.1f} s ({how}); top-5 "
          f"{np.array2string(top5, precision=5)}, min {evals[0]:.4g}, "
          f"trace {evals.sum():.6g}")
    if "1" in args.parts:
        part_top5(ds, m32, m64, top5, ph)
    if "2" in args.parts:
        part_trace(ds, m64, float(evals.sum()), ph, Hd, seeds=args.seeds)
    if "3" in args.parts:
        part_density(ds, m32, m64, evals, ph)
    if "4" in args.parts:
        part_hvp(ds, m64, m32, Hd, ph)
    print("\nTargets: top-5 to 1e-6 within 40 HVPs; trace spread < 0.5% at 100 HVPs with a "
          "standard error; one HVP <= 3x one gradient.")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
