"""Spectral engine benchmark: top_eigs vs ARPACK (scipy eigsh) and vs power iteration with
deflation (PyHessian's method), and the cost of spectral_density as probes x steps grow.

Run: ``python3 dev.py bench engine`` (or ``.venv/bin/python -m benchmarks engine``);
``--quick`` uses smaller problems. Matvec counts are deterministic; wall times depend on
the machine's load (2 shared cores here), so compare ratios from one run.

Operators: a dense n = 2,000 matrix Q diag(l) Q^T and an implicit n = 20,000 operator
H diag(l) H^T (H a product of Householder reflections, O(n) per product), both with a
Hessian-like spectrum: a bulk of radius 0.1 around 0 and 25 outliers from 0.5 to 10.
Every solver stops at the same rule: residual ||A v - lambda v|| <= tol * |lambda_1|.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

TOL = 1e-6


def hessian_like_spectrum(n: int, seed: int = 0, num_outliers: int = 25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bulk = 0.1 * (2.0 * rng.beta(1.5, 1.5, n - num_outliers) - 1.0)
    outliers = np.geomspace(0.5, 10.0, num_outliers)
    return np.sort(np.concatenate([bulk, outliers]))


def _operators(sizes):
    from workbench.operators import aslinearoperator
    from workbench.spectral.synthetic import implicit_known_spectrum, known_spectrum_matrix

    out = []
    for n in sizes:
        lam = hessian_like_spectrum(n)
        if n <= 4000:
            op = aslinearoperator(known_spectrum_matrix(lam, 0), symmetric=True)
            label = f"dense n={n:,}"
        else:
            op = implicit_known_spectrum(lam, 0)
            label = f"implicit n={n:,}"
        out.append((label, op, lam))
    return out


def _top_eigs(op, k):
    from workbench import spectral as sp

    return sp.top_eigs(op, k, tol=TOL, seed=0).values


def _arpack(op, k):
    from scipy.sparse.linalg import eigsh

    return eigsh(op.to_scipy(), k=k, which="LA", tol=TOL, v0=np.ones(op.shape[0]))[0]


def _power_deflation(op, k):
    from workbench import spectral as sp

    return sp.power_iteration(op, k, residual_tol=TOL, max_iter=5000, seed=0).values


def _power_pyhessian_rule(op, k):
    from workbench import spectral as sp

    return sp.power_iteration(op, k, tol=1e-3, max_iter=100, seed=0).values


# (name, solver(op, k) -> eigenvalues); the first is the reference of the ratios
SOLVERS = (
    ("top_eigs", _top_eigs),
    ("eigsh (ARPACK)", _arpack),
    ("power+deflation", _power_deflation),
    ("power (PyHessian rule 1e-3)", _power_pyhessian_rule),
)


def _run(solver, op, k):
    op.reset_counter()
    t0 = time.perf_counter()
    vals = solver(op, k)
    return np.sort(np.asarray(vals))[::-1], op.num_matvecs, time.perf_counter() - t0


def bench_top_eigs(sizes, ks):
    rows = []
    for label, op, lam in _operators(sizes):
        exact = lam[::-1]
        for k in ks:
            base = None
            for name, solver in SOLVERS:
                vals, mv, sec = _run(solver, op, k)
                err = float(np.max(np.abs(vals - exact[:k]) / np.abs(exact[:k])))
                if base is None:
                    base = (mv, sec)
                rows.append((label, k, name, mv, sec, err, mv / base[0], sec / base[1]))
    return rows


def bench_density(n, budgets):
    from scipy.stats import wasserstein_distance

    from workbench import spectral as sp
    from workbench.spectral.synthetic import implicit_known_spectrum

    lam = hessian_like_spectrum(n)
    op = implicit_known_spectrum(lam, 1)
    rows = []
    for P, m in budgets:
        for method, reorth in (("slq", "full"), ("slq", "none"), ("kpm", "-")):
            if method == "kpm" and m < 40:
                continue
            t0 = time.perf_counter()
            if method == "kpm":
                d = sp.spectral_density(op, P, 2 * m, seed=0, method="kpm")
                w1 = wasserstein_distance(lam, d.grid, None, d.density)
            else:
                d = sp.spectral_density(op, P, m, seed=0, reorth=reorth)
                x, w = d.node_samples()
                w1 = wasserstein_distance(lam, x, None, w)
            sec = time.perf_counter() - t0
            name = method if method == "kpm" else f"slq reorth={reorth}"
            rows.append((P, d.num_steps, name, d.num_matvecs, sec, w1))
    return rows


def _print_eigs(rows):
    print(f"top-k eigenvalues, stopping rule ||Av - lv|| <= {TOL:g} |l_1| "
          "(ratios vs top_eigs in the same run)")
    hdr = (f"{'operator':18s} {'k':>3s} {'solver':28s} {'matvecs':>8s} {'seconds':>8s} "
           f"{'max rel err':>11s} {'matvec ratio':>12s} {'time ratio':>10s}")
    print(hdr)
    print("-" * len(hdr))
    for label, k, name, mv, sec, err, rmv, rsec in rows:
        print(f"{label:18s} {k:3d} {name:28s} {mv:8d} {sec:8.3f} {err:11.1e} "
              f"{rmv:11.1f}x {rsec:9.1f}x")


def _print_density(rows, n):
    print(f"\nspectral_density on the implicit n={n:,} operator: cost as probes x steps grow "
          "(W1 = Wasserstein distance to the exact eigenvalues)")
    hdr = (f"{'probes':>6s} {'steps':>6s} {'method':18s} {'matvecs':>8s} {'seconds':>8s} "
           f"{'W1':>9s}  (KPM: steps = Chebyshev moments, 2 per matvec)")
    print(hdr)
    print("-" * len(hdr))
    for P, m, name, mv, sec, w1 in rows:
        print(f"{P:6d} {m:6d} {name:18s} {mv:8d} {sec:8.3f} {w1:9.2e}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_engine", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller problems (~20 s)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS/torch threads for every solver (default 1: the products "
                         "here are BLAS-1/2 sized, where extra threads on a shared machine "
                         "only add contention)")
    args = ap.parse_args(argv)
    from workbench.backends import cap_threads

    print(f"threads: {cap_threads(args.threads)}")
    sizes = (500, 5000) if args.quick else (2000, 20000)
    ks = (1, 5) if args.quick else (1, 5, 20)
    t0 = time.perf_counter()
    rows = bench_top_eigs(sizes, ks)
    _print_eigs(rows)
    n_d = sizes[-1]
    budgets = [(5, 20), (10, 40), (20, 80)] if not args.quick else [(5, 20), (10, 40)]
    _print_density(bench_density(n_d, budgets), n_d)
    ours = {(r[0], r[1]): r[3] for r in rows if r[2] == "top_eigs"}
    pw = [(r[3] / ours[(r[0], r[1])]) for r in rows if r[2] == "power+deflation"]
    ar = [(r[3] / ours[(r[0], r[1])]) for r in rows if r[2] == "eigsh (ARPACK)"]
    print(f"\nsummary: power iteration with deflation needs {min(pw):.1f}x-{max(pw):.1f}x the "
          f"matvecs of top_eigs; ARPACK {min(ar):.2f}x-{max(ar):.2f}x. "
          f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
