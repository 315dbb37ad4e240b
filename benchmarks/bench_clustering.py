"""k-means and spectral clustering against scikit-learn, one run, ratios.

1. k-means (``workbench.clustering.KMeans``, numba backend) vs ``sklearn.cluster.KMeans``
   (lloyd), 200k x 32 (float32 and float64) and 1M x 64 (float32), k = 10 and 100:
   - per iteration: standard Gaussian data (Lloyd keeps moving, so both really run every
     iteration: checked), both from the same centers with tol = 0;
     (T(1 + m iterations) - T(1 iteration)) / m, best of `repeats`; the labels after the
     same iterations are compared (fraction equal: near-ties in float32 can differ);
   - full fit on blobs (20 centres): k-means++ seeding (each its own) + Lloyd to
     convergence or FULL_MAX_ITER iterations (both capped alike, to keep the run to a few
     minutes), n_init = 1; time, seeding time, iterations, inertia ratio (ours/sklearn).
2. Spectral clustering of two moons (noise 0.05, standardized), 5k / 50k / 500k points:
   ``workbench.clustering.SpectralClustering`` (kNN graph, 10 neighbours, shift-invert
   Lanczos, cluster-QR labels) vs scikit-learn's ``SpectralClustering`` on the same kNN
   graph (affinity="nearest_neighbors", ARPACK) and, at 5k, its default dense RBF path.
   Each run in a fresh process: wall time, peak resident memory (VmHWM) and its
   increase over the process with the data loaded, ARI against the true moons.
   scikit-learn's kNN path is skipped at 500k unless --full (minutes on 2 cores); its
   dense path is run at 5k only (n^2 memory: 19 GiB at 50k).

3. ``--device cpu|cuda`` (that part only): ``KMeans(backend="torch")`` on the device
   against a plain 12-line torch Lloyd loop (cdist + argmin + index_add_), scikit-learn
   (on a GPU run: 1M rows, scaled) and, on CPU, the numba backend: 20 steps from given
   centers; per-step and full-fit times with ratios; on CUDA the HBM read bound (one read
   of X per step at the bandwidth measured in the same run). Sizes: CUDA 10M x 64, k=100;
   CPU 120k x 24, k = 12 and 100 (under a minute on 2 cores).

4. ``--pruning`` (that part only): ``KMeans(backend="numba")`` with algorithm "lloyd"
   (fused GEMM pass), "pruned" (the same pass behind Hamerly's bounds), "hamerly" and
   "elkan" (exact bound pruning of direct distances) against scikit-learn's
   KMeans(algorithm="lloyd") and ("elkan"), all from the same given centers, n_init=1,
   max_iter=20, tol=1e-4, on 120k x 24 float32: blobs (50 centres, std 1) with k = 12
   and 100, and uniform random data with k = 100. Process CPU time and wall time of a
   whole fit (best of R each), the load average, iterations, and each fit's labels
   against scikit-learn lloyd's (fraction equal); ratios sklearn-lloyd / ours.

    python -m benchmarks clustering [--quick] [--full] [--repeats R]
    python -m benchmarks clustering --pruning [--repeats R]
    python -m benchmarks clustering --targets [--repeats R] [--algorithm A]

5. ``--targets`` (that part only): issue 14's CPU targets, PASS/FAIL. A full fit as a user
   calls it, ``KMeans(k, init=C0, n_init=1, max_iter=20, tol=1e-4)`` (ours:
   ``backend="numba"``, ``algorithm`` as given, default "auto"), against scikit-learn's
   ``KMeans`` with the same arguments, on the same float32 data (120k x 24 blobs, 50
   centres, std 1) from the same centers, k = 12 (target: ours at least 1.2x as fast) and
   k = 100 (1.5x); uniform data at k = 100 as an unscored row. The R repeats interleave
   ours and scikit-learn (alternating which runs first), so other load on the machine
   falls on both alike; best-of-R and median wall times, their ratios, both n_iter_,
   labels equal to scikit-learn's, numba's and scikit-learn's OpenMP thread counts and
   the load average. PASS when the median ratio meets the target (best-of-R also shown).
    python -m benchmarks clustering --device cuda|cpu [--steps 20] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings

import numpy as np

KMEANS_CASES = [(200_000, 32, np.float32), (200_000, 32, np.float64), (1_000_000, 64,
                                                                          np.float32)]
KS = (10, 100)
FULL_MAX_ITER = 30


def _blobs(n, d, dtype, seed=0):
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n, d, centers=20, cluster_std=2.0, random_state=seed)
    return np.ascontiguousarray(X, dtype=dtype)


def _time(fn, repeats):
    best = float("inf")
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def kmeans_rows(cases, ks, iters: int, repeats: int) -> list[dict]:
    """Per-iteration and full-fit rows (see the module docstring); prints each row."""
    from sklearn.cluster import KMeans as SkKMeans

    from workbench.clustering import KMeans

    rows = []
    for n, d, dtype in cases:
        if n >= 1_000_000:  # a million rows: fewer repeats and iterations keep it short
            repeats, iters = max(1, repeats - 1), max(3, iters // 2)
        X = _blobs(n, d, dtype)
        rng = np.random.default_rng(0)
        G = rng.standard_normal((n, d)).astype(dtype)
        for k in ks:
            C0 = G[rng.choice(n, k, replace=False)].copy()

            def ours(m, C0=C0, k=k, G=G):
                return KMeans(k, init=C0, n_init=1, max_iter=m, tol=0, backend="numba").fit(G)

            def sk(m, C0=C0, k=k, G=G):
                return SkKMeans(k, init=C0, n_init=1, max_iter=m, tol=0,
                                algorithm="lloyd").fit(G)

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours(2)  # warm (compiled kernels load, pools start)
                o1, _ = _time(lambda: ours(1), repeats)
                om, km_o = _time(lambda m=1 + iters: ours(m), repeats)
                s1, _ = _time(lambda: sk(1), repeats)
                sm, km_s = _time(lambda m=1 + iters: sk(m), repeats)
                equal = float(np.mean(km_o.labels_ == km_s.labels_))
                # full fits: each library's own k-means++ seeding, to convergence
                fo, fit_o = _time(lambda k=k, X=X: KMeans(
                    k, n_init=1, random_state=0, backend="numba",
                    max_iter=FULL_MAX_ITER).fit(X), 1)
                fs, fit_s = _time(lambda k=k, X=X: SkKMeans(
                    k, n_init=1, random_state=0, max_iter=FULL_MAX_ITER).fit(X), 1)
            if km_o.n_iter_ != 1 + iters or km_s.n_iter_ != 1 + iters:
                print(f"  (converged early: {km_o.n_iter_} / {km_s.n_iter_} iterations)")
            it_o = (om - o1) / max(1, km_o.n_iter_ - 1)
            it_s = (sm - s1) / max(1, km_s.n_iter_ - 1)
            rows.append(dict(n=n, d=d, dtype=np.dtype(dtype).name, k=k,
                             iter_ours_ms=it_o * 1e3, iter_sk_ms=it_s * 1e3,
                             iter_speedup=it_s / it_o, labels_equal=equal,
                             fit_ours_s=fo, fit_sk_s=fs, fit_speedup=fs / fo,
                             init_ours_s=fit_o.init_seconds_, iters_ours=fit_o.n_iter_,
                             iters_sk=fit_s.n_iter_,
                             inertia_ratio=fit_o.inertia_ / fit_s.inertia_))
            r = rows[-1]
            print(f"  {n:>9,} x {d:<3} {r['dtype']:<7} k={k:<4} per-iter ours "
                  f"{r['iter_ours_ms']:7.1f} ms  sklearn {r['iter_sk_ms']:7.1f} ms  "
                  f"x{r['iter_speedup']:4.2f}  labels equal {equal:.4f} | fit ours "
                  f"{fo:6.2f} s ({r['iters_ours']} it, seeding {r['init_ours_s']:.2f} s) "
                  f"sklearn {fs:6.2f} s ({r['iters_sk']} it)  x{r['fit_speedup']:4.2f}  "
                  f"inertia ratio {r['inertia_ratio']:.4f}", flush=True)
        del X, G
    return rows


SPECTRAL_CHILD = r"""
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from sklearn.datasets import make_moons
from sklearn.metrics import adjusted_rand_score
which, n = sys.argv[1], int(sys.argv[2])
X, y = make_moons(n, noise=0.05, random_state=0)
X = (X - X.mean(0)) / X.std(0)
if which == "ours":
    from workbench.clustering import SpectralClustering
    est = SpectralClustering(2, n_neighbors=10, assign_labels="cluster_qr", random_state=0)
else:
    from sklearn.cluster import SpectralClustering
    aff = "nearest_neighbors" if which == "sk_knn" else "rbf"
    est = SpectralClustering(2, affinity=aff, n_neighbors=10, assign_labels="cluster_qr",
                             random_state=0)
def hwm():  # peak resident set of this process (kB), as the kernel counts it
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:  # reset the peak to the current size
    f.write("5")
base = hwm()
t0 = time.perf_counter()
labels = est.fit(X).labels_
sec = time.perf_counter() - t0
peak = hwm()
print(json.dumps({"seconds": sec, "peak_mib": peak / 1024, "delta_mib": (peak - base) / 1024,
                  "ari": adjusted_rand_score(y, labels)}))
"""


def _child(which: str, n: int, timeout: float) -> dict | str:
    try:
        proc = subprocess.run([sys.executable, "-c", SPECTRAL_CHILD, which, str(n)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"skipped: over {timeout:.0f} s"
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip().splitlines()[-1][:120]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spectral_rows(sizes, full: bool) -> list[dict]:
    rows = []
    for n in sizes:
        runs = {"workbench": _child("ours", n, 900)}
        if n <= 50_000 or full:
            runs["sklearn knn"] = _child("sk_knn", n, 900 if full else 300)
        else:
            runs["sklearn knn"] = "skipped: minutes on 2 cores (run with --full)"
        runs["sklearn dense rbf"] = (_child("sk_rbf", n, 300) if n <= 5000 else
                                     f"skipped: dense {n:,} x {n:,} affinity "
                                     f"({n * n * 8 / 2**30:.0f} GiB)")
        for name, r in runs.items():
            if isinstance(r, dict):
                print(f"  {n:>8,} {name:<18} {r['seconds']:8.2f} s  peak {r['peak_mib']:7.0f} "
                      f"MiB (+{r['delta_mib']:6.0f})  ARI {r['ari']:.4f}", flush=True)
            else:
                print(f"  {n:>8,} {name:<18} {r}", flush=True)
        ours = runs["workbench"]
        for name in ("sklearn knn", "sklearn dense rbf"):
            r = runs[name]
            if isinstance(r, dict) and isinstance(ours, dict):
                mem = max(r["delta_mib"], 1) / max(ours["delta_mib"], 1)
                print(f"  {n:>8,} ratio {name}/workbench: time "
                      f"x{r['seconds'] / ours['seconds']:.1f}, memory increase x{mem:.1f}",
                      flush=True)
        rows.append({"n": n, **{k: v for k, v in runs.items()}})
    return rows


def _cpu_wall(fn, repeats):
    """(best process CPU seconds, best wall seconds, last result) over `repeats` runs."""
    cpu, wall, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - w0)
    return cpu, wall, out


PRUNING_CASES = (("blobs", 12), ("blobs", 100), ("uniform", 100))


def pruning_rows(repeats: int, n: int = 120_000, d: int = 24,
                 max_iter: int = 20, tol: float = 1e-4) -> list[dict]:
    """Full fits from the same centers: ours (lloyd / hamerly / elkan) vs scikit-learn
    (lloyd / elkan); CPU and wall seconds, ratios sklearn-lloyd / ours. Prints each row."""
    import os

    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.datasets import make_blobs

    from workbench.backends.numba_support import warm_up
    from workbench.clustering import KMeans

    warm_up()
    rows = []
    for data, k in PRUNING_CASES:
        rng = np.random.default_rng(0)
        if data == "blobs":
            X, _ = make_blobs(n, n_features=d, centers=50, cluster_std=1.0, random_state=0)
        else:
            X = rng.random((n, d))
        X = np.ascontiguousarray(X, dtype=np.float32)
        C0 = X[rng.choice(n, k, replace=False)].copy()
        fits = {}
        for name in ("sk-lloyd", "sk-elkan", "lloyd", "pruned", "hamerly", "elkan"):
            if name.startswith("sk-"):
                def fit(a=name[3:], k=k, C0=C0, X=X):
                    return SkKMeans(k, init=C0, n_init=1, max_iter=max_iter, tol=tol,
                                    algorithm=a).fit(X)
            else:
                def fit(a=name, k=k, C0=C0, X=X):
                    return KMeans(k, init=C0, n_init=1, max_iter=max_iter, tol=tol,
                                  backend="numba", algorithm=a).fit(X)
            fit()  # warm: pools start, caches load
            fits[name] = _cpu_wall(fit, repeats)
        ref_c, ref_w, ref = fits["sk-lloyd"]
        load = os.getloadavg()[0]
        print(f"  {data:<7} {n:,} x {d} float32 k={k:<3} (load {load:.1f}; sklearn lloyd "
              f"{ref.n_iter_} it, CPU {ref_c:.3f} s, wall {ref_w:.3f} s)", flush=True)
        for name, (c, w, est) in fits.items():
            same = float(np.mean(est.labels_ == ref.labels_))
            rows.append(dict(data=data, k=k, impl=name, cpu_s=c, wall_s=w,
                             n_iter=int(est.n_iter_), labels_equal=same, load=load,
                             cpu_ratio=ref_c / c, wall_ratio=ref_w / w))
            print(f"    {name:<9} CPU {c:7.3f} s  wall {w:7.3f} s  {est.n_iter_:3d} it  "
                  f"sk-lloyd/this: CPU x{ref_c / c:4.2f} wall x{ref_w / w:4.2f}  "
                  f"labels = sk-lloyd {same:.4f}", flush=True)
    return rows


def pruning_passes(n: int = 120_000, d: int = 24, k: int = 100, passes: int = 8) -> None:
    """CPU milliseconds of each of the first `passes` Lloyd passes (assignment + sums) of
    the fused GEMM pass, the pruned GEMM pass, Hamerly and Elkan on the blobs of
    ``pruning_rows``, and how many points (pruned: rows through the GEMM; Hamerly) /
    k-distance equivalents (Elkan) each pass computed in full."""
    from sklearn.datasets import make_blobs

    from workbench.backends.threads import one_blas_thread
    from workbench.clustering.lloyd import ElkanLloyd, HamerlyLloyd, NumbaLloyd, PrunedLloyd

    X, _ = make_blobs(n, n_features=d, centers=50, cluster_std=1.0, random_state=0)
    X = np.ascontiguousarray(X, dtype=np.float32)
    w = np.ones(n, dtype=np.float32)
    C0 = X[np.random.default_rng(0).choice(n, k, replace=False)].copy()
    limits = one_blas_thread()
    try:
        for cls in (NumbaLloyd, PrunedLloyd, HamerlyLloyd, ElkanLloyd):
            cls(X, w).step(C0)        # warm: the kernel's first call loads its cache
            be, C, ms = cls(X, w), C0.copy(), []
            for _ in range(passes):
                c0 = time.process_time()
                sums, weights, *_ = be.step(C)
                ms.append(f"{(time.process_time() - c0) * 1e3:.0f}")
                nz = weights > 0
                C = C.copy()
                C[nz] = (sums[nz] / weights[nz, None]).astype(C.dtype)
            full = getattr(be, "full_assignments", None)
            print(f"    {cls.__name__:<12} CPU ms per pass {' '.join(ms)}"
                  + (f"  (full: {' '.join(map(str, full))})" if full else ""), flush=True)
    finally:
        limits.restore_original_limits()


TARGETS = (("blobs", 12, 1.2), ("blobs", 100, 1.5), ("uniform", 100, None))


def target_rows(repeats: int = 9, n: int = 120_000, d: int = 24, max_iter: int = 20,
                tol: float = 1e-4, algorithm: str = "auto") -> list[dict]:
    """Issue 14's targets (module docstring, part 5); prints each row and returns them."""
    import os

    import numba
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.datasets import make_blobs
    from threadpoolctl import threadpool_info

    from workbench.backends.numba_support import warm_up
    from workbench.clustering import KMeans

    warm_up()
    omp = sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"})
    print(f"  full fits, {n:,} x {d} float32, n_init=1, max_iter={max_iter}, tol={tol}, "
          f"same given centers; ours algorithm={algorithm!r}; numba threads "
          f"{numba.get_num_threads()} ({numba.threading_layer()}), OpenMP threads {omp}; "
          f"load {os.getloadavg()[0]:.1f}; {repeats} interleaved repeats", flush=True)
    rows = []
    for data, k, target in TARGETS:
        rng = np.random.default_rng(0)
        if data == "blobs":
            X, _ = make_blobs(n, n_features=d, centers=50, cluster_std=1.0, random_state=0)
        else:
            X = rng.random((n, d))
        X = np.ascontiguousarray(X, dtype=np.float32)
        C0 = X[rng.choice(n, k, replace=False)].copy()
        fits = {
            "ours": lambda k=k, C0=C0, X=X: KMeans(k, init=C0, n_init=1, max_iter=max_iter,
                                                   tol=tol, backend="numba",
                                                   algorithm=algorithm).fit(X),
            "sklearn": lambda k=k, C0=C0, X=X: SkKMeans(k, init=C0, n_init=1,
                                                        max_iter=max_iter, tol=tol).fit(X),
        }
        times = {name: [] for name in fits}
        est = {name: fn() for name, fn in fits.items()}  # warm: pools start, caches load
        load0 = os.getloadavg()[0]
        for r in range(repeats):
            for name in (("ours", "sklearn") if r % 2 == 0 else ("sklearn", "ours")):
                t0 = time.perf_counter()
                est[name] = fits[name]()
                times[name].append(time.perf_counter() - t0)
        best = {nm: min(t) for nm, t in times.items()}
        med = {nm: float(np.median(t)) for nm, t in times.items()}
        r_best = best["sklearn"] / best["ours"]
        r_med = med["sklearn"] / med["ours"]
        same = float(np.mean(est["ours"].labels_ == est["sklearn"].labels_))
        verdict = ("(no target)" if target is None else
                   ("PASS" if r_med >= target else "FAIL") + f" (target {target}x)")
        row = dict(data=data, k=k, target=target, ours_best_s=best["ours"],
                   ours_median_s=med["ours"], sk_best_s=best["sklearn"],
                   sk_median_s=med["sklearn"], ratio_best=r_best, ratio_median=r_med,
                   n_iter_ours=int(est["ours"].n_iter_), n_iter_sk=int(est["sklearn"].n_iter_),
                   algorithm=getattr(est["ours"], "algorithm_", "?"), labels_equal=same,
                   load=(load0, os.getloadavg()[0]))
        rows.append(row)
        print(f"  {data:<7} k={k:<3} ours ({row['algorithm']}) best {best['ours'] * 1e3:6.1f} "
              f"median {med['ours'] * 1e3:6.1f} ms, {row['n_iter_ours']} it | sklearn best "
              f"{best['sklearn'] * 1e3:6.1f} median {med['sklearn'] * 1e3:6.1f} ms, "
              f"{row['n_iter_sk']} it | sklearn/ours best x{r_best:.2f} median x{r_med:.2f} "
              f"{verdict} | labels = sklearn {same:.4f} | load {load0:.1f}-"
              f"{row['load'][1]:.1f}", flush=True)
    return rows


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks clustering")
    ap.add_argument("--quick", action="store_true", help="200k x 32 float32 only; 5k/50k")
    ap.add_argument("--full", action="store_true", help="also scikit-learn's kNN path at 500k")
    ap.add_argument("--repeats", type=int, default=None,
                    help="best of R timed runs (default 3; 1 with --device)")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--device", default=None,
                    help="run only the device part: ours (torch backend) vs the plain "
                         "torch loop vs scikit-learn on this torch device (cpu, cuda)")
    ap.add_argument("--steps", type=int, default=20, help="Lloyd steps of the device part")
    ap.add_argument("--pruning", action="store_true",
                    help="run only the Hamerly/Elkan vs fused Lloyd vs scikit-learn rows")
    ap.add_argument("--targets", action="store_true",
                    help="run only issue 14's full-fit targets against scikit-learn (PASS/FAIL)")
    ap.add_argument("--algorithm", default="auto",
                    help="ours' KMeans(algorithm=...) in --targets (auto, lloyd, pruned, ...)")
    args = ap.parse_args(argv)
    if args.targets:
        import workbench.clustering  # noqa: F401  (OMP_WAIT_POLICY before sklearn's OpenMP)

        target_rows(args.repeats or 9, algorithm=args.algorithm)
        return
    if args.pruning:
        pruning_rows(args.repeats or 3)
        print("  per pass, blobs k=100 (from the same centers):")
        pruning_passes()
        return
    if args.device:
        device_rows(args.device, args.repeats or 1, args.steps)
        return
    args.repeats = args.repeats or 3
    import workbench.clustering  # noqa: F401  (sets OMP_WAIT_POLICY before sklearn's OpenMP)
    from workbench.backends.numba_support import threading_layer

    print(f"numba threading layer: {threading_layer()}; threads: "
          f"{__import__('numba').get_num_threads()}")
    print("k-means: per iteration from the same centers (tol=0), and a full fit")
    cases = KMEANS_CASES[:1] if args.quick else KMEANS_CASES
    kmeans_rows(cases, KS, args.iters, args.repeats)
    print("spectral clustering of two moons (fresh process per run)")
    spectral_rows((5_000, 50_000) if args.quick else (5_000, 50_000, 500_000), args.full)


if __name__ == "__main__":
    main(sys.argv[1:])


# ------------------------------------------------------------------ --device: the device loop
def _sync(dev):
    import torch

    if torch.device(dev).type == "cuda":
        torch.cuda.synchronize()


_CPU: dict = {}      # fn -> best process CPU seconds of its last _timed call


def _timed(fn, dev, repeats):
    """(best wall seconds, last output); the best CPU seconds of the process (all its
    threads) go to _CPU["last"]: on a shared machine CPU time is the steadier figure."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        _sync(dev)
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        _sync(dev)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    _CPU["last"] = cpu
    return best, out


def plain_torch_lloyd(X, C, steps: int):
    """The 12-line torch Lloyd loop a user would write (no empty-cluster handling)."""
    import torch

    k = C.shape[0]
    for _ in range(steps):
        lab = torch.cdist(X, C).argmin(1)
        S = torch.zeros_like(C).index_add_(0, lab, X)
        cnt = torch.bincount(lab, minlength=k).clamp_min(1)
        C = S / cnt[:, None].to(X.dtype)
    return lab, C


def read_bandwidth(X, dev, repeats: int = 5) -> float:
    """Bytes per second of one full read of X (a sum), best of `repeats`."""
    t, _ = _timed(lambda: X.sum(), dev, repeats)
    return X.numel() * X.element_size() / t


def device_rows(dev: str, repeats: int, steps: int) -> None:
    """k-means from given centers, `steps` Lloyd steps: ours (torch backend, on `dev`),
    the plain torch loop, scikit-learn and, on CPU, ours with numba; per-step time
    ((T(steps) - T(1)) / (steps - 1)), the full fit and the ratios."""
    import torch
    from sklearn.cluster import KMeans as SkKMeans

    from workbench.clustering import KMeans

    cuda = torch.device(dev).type == "cuda"
    cases = [(10_000_000, 64, 100)] if cuda else [(120_000, 24, 12), (120_000, 24, 100)]
    print(f"k-means on {dev}: {steps} Lloyd steps from given centers (tol=0), float32; "
          "per-step = (T(steps) - T(1)) / (steps - 1), best of "
          f"{repeats}; ours = KMeans(backend='torch') on device (chunked addmm + min, "
          "index_add_, no host read per step)")
    for n, d, k in cases:
        g = torch.Generator(device=dev).manual_seed(0)
        X = torch.randn(n, d, generator=g, device=dev, dtype=torch.float32)
        C0t = X[:: max(1, n // k)][:k].clone()
        C0 = C0t.cpu().numpy()

        def ours(m, X=X, C0=C0, k=k):
            return KMeans(k, init=C0, n_init=1, max_iter=m, tol=0, backend="torch",
                          device=dev).fit(X)

        def plain(m, X=X, C0t=C0t):
            return plain_torch_lloyd(X, C0t, m)

        res = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, fn in (("ours (torch device loop)", ours),
                             ("plain torch Lloyd loop", plain)):
                fn(1)
                t1, _ = _timed(lambda fn=fn: fn(1), dev, repeats)
                tm, out = _timed(lambda fn=fn: fn(steps), dev, repeats)
                res[name] = ((tm - t1) / (steps - 1), tm, _CPU["last"])
                if fn is ours:
                    km_o = out
            # scikit-learn on the host: on a GPU run, a 1M-row subset, scaled to n
            n_sk = n if not cuda else 1_000_000
            Xh = X[:n_sk].cpu().numpy()

            def sk(m, Xh=Xh, C0=C0, k=k):
                return SkKMeans(k, init=C0, n_init=1, max_iter=m, tol=0,
                                algorithm="lloyd").fit(Xh)

            sk(1)
            t1, _ = _timed(lambda: sk(1), "cpu", repeats)
            tm, km_s = _timed(lambda: sk(steps), "cpu", repeats)
            scale = n / n_sk
            res["scikit-learn (lloyd)" + (f", {n_sk:,} rows x{scale:.0f}" if cuda else "")] = (
                (tm - t1) / (steps - 1) * scale, tm * scale, _CPU["last"] * scale)
            if not cuda:
                def nb(m, Xh=Xh, C0=C0, k=k):
                    return KMeans(k, init=C0, n_init=1, max_iter=m, tol=0,
                                  backend="numba").fit(Xh)

                nb(1)
                t1, _ = _timed(lambda: nb(1), "cpu", repeats)
                tm, km_n = _timed(lambda: nb(steps), "cpu", repeats)
                res["ours (numba, fused GEMM+argmin pass)"] = ((tm - t1) / (steps - 1), tm,
                                                               _CPU["last"])
        ref_name = "plain torch Lloyd loop"
        print(f"  {n:,} x {d}, k = {k}  (ours: {km_o.lloyd_steps_run_} steps run for "
              f"n_iter = {km_o.n_iter_})")
        for name, (step, full, cpu) in res.items():
            print(f"    {name:44s} {step * 1e3:9.2f} ms/step  full {full:7.3f} s "
                  f"(CPU {cpu:7.3f} s)  step vs plain loop x{step / res[ref_name][0]:5.2f}")
        sk_name = next(nm for nm in res if nm.startswith("scikit-learn"))
        for name in res:
            if name.startswith("ours"):
                print(f"    {name}: full fit {res[sk_name][1] / res[name][1]:.2f}x "
                      f"scikit-learn's speed (wall), {res[sk_name][2] / res[name][2]:.2f}x "
                      "(process CPU time)")
        if not cuda:
            print(f"    labels equal to scikit-learn after {steps} steps: "
                  f"{np.mean(km_o.labels_ == km_s.labels_):.4f}")
        if cuda:
            bw = read_bandwidth(X, dev)
            print(f"    HBM read bound: one read of X ({X.numel() * 4 / 1e9:.2f} GB) at the "
                  f"measured {bw / 1e12:.2f} TB/s = {X.numel() * 4 / bw * 1e3:.2f} ms/step")
        del X
