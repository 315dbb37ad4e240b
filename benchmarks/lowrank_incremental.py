"""Incremental truncated SVD (``workbench.lowrank.IncrementalSVD``) against recomputing
the truncated SVD after every block, dense and sparse, rows and columns. Part of
``python -m benchmarks lowrank`` (``--incremental``: this part only).

For each case a rank-k SVD of the first block is updated as blocks of rows (or columns)
arrive; after every block the peers recompute the rank-k SVD of the whole grown matrix:
scikit-learn's ``randomized_svd`` (its defaults) and scipy's ``svds`` (ARPACK). Printed:
the total time of the updates against the total time of each peer's recomputations (the
speed ratio, measured in the same run, methods interleaved per block) and, at the end,
the accuracy of the updated factors against a fresh exact truncated SVD of the final
matrix: max relative error of the k singular values and ||A - U S V^T||_F divided by the
Eckart-Young optimum ||A - [A]_k||_F (1 is optimal).

Matrices: dense, rank 30 plus 1 % noise (the update is exact up to the noise it drops);
sparse, a term-document-like CSR matrix (each row draws its nonzeros mostly from one of
k topics' columns), the case of "Fast Updating Truncated SVD for Representation Learning
with Sparse Matrices".
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp

K = 20


def _dense_case(rng, m, n, rank=30):
    U = np.linalg.qr(rng.standard_normal((m, rank)))[0]
    V = np.linalg.qr(rng.standard_normal((n, rank)))[0]
    s = np.geomspace(100, 1, rank)
    A = (U * s) @ V.T
    return A + 0.01 * rng.standard_normal((m, n)) * np.linalg.norm(A) / np.sqrt(m * n)


def _sparse_case(rng, m, n, topics=K, per_row=30):
    owner = rng.integers(0, topics, n)
    cols = [np.flatnonzero(owner == t) for t in range(topics)]
    rows, idx = [], []
    topic = rng.integers(0, topics, m)
    for i in range(m):
        own = rng.random(per_row) < 0.7
        c = np.where(own, rng.choice(cols[topic[i]], per_row), rng.integers(0, n, per_row))
        rows.append(np.full(per_row, i))
        idx.append(c)
    r, c = np.concatenate(rows), np.concatenate(idx)
    A = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(m, n))
    A.sum_duplicates()
    return A


def _peers(seed=0):
    from scipy.sparse.linalg import svds
    from sklearn.utils.extmath import randomized_svd

    return {"sklearn randomized_svd": lambda A: randomized_svd(A, K, random_state=seed),
            "scipy svds (ARPACK)": lambda A: svds(A, k=K, random_state=seed)}


def _accuracy(inc, A) -> tuple[float, float]:
    Ad = A.toarray() if sp.issparse(A) else A
    s = np.linalg.svd(Ad, compute_uv=False)
    U, sk, Vt = inc
    sv_err = float(np.max(np.abs(sk - s[:K]) / s[:K]))
    opt = float(np.sqrt(np.sum(s[K:] ** 2)))
    return sv_err, float(np.linalg.norm(Ad - (U * sk) @ Vt)) / opt


def _case(name: str, A, axis: str, first: int, blocks: int) -> None:
    from workbench.lowrank import IncrementalSVD

    stack = sp.vstack if sp.issparse(A) else np.vstack
    hstack = sp.hstack if sp.issparse(A) else np.hstack
    size = A.shape[0] if axis == "rows" else A.shape[1]
    step = (size - first) // blocks
    cut = (lambda a, b: A[a:b]) if axis == "rows" else (lambda a, b: A[:, a:b])
    t0 = time.perf_counter()
    inc = IncrementalSVD.fit(cut(0, first), K)
    fit_s = time.perf_counter() - t0
    peers = _peers()
    update_s, peer_s = 0.0, {p: 0.0 for p in peers}
    update_c, peer_c = 0.0, {p: 0.0 for p in peers}
    grown = cut(0, first)
    for b in range(blocks):
        E = cut(first + b * step, first + (b + 1) * step)
        t, c = time.perf_counter(), time.process_time()
        inc.add_rows(E) if axis == "rows" else inc.add_columns(E)
        update_s += time.perf_counter() - t
        update_c += time.process_time() - c
        grown = stack([grown, E]) if axis == "rows" else hstack([grown, E])
        if sp.issparse(grown):
            grown = sp.csr_matrix(grown)
        for p, fn in peers.items():
            t, c = time.perf_counter(), time.process_time()
            fn(grown)
            peer_s[p] += time.perf_counter() - t
            peer_c[p] += time.process_time() - c
    sv_err, fro = _accuracy(inc, grown)
    kind = "sparse" if sp.issparse(A) else "dense"
    print(f"\n{name}: {kind} {grown.shape[0]} x {grown.shape[1]}, rank {K}, first "
          f"{first} {axis} then {blocks} blocks of {step} (first SVD {fit_s:.2f} s)")
    print(f"  incremental: {update_s:.3f} s wall, {update_c:.3f} s CPU for all updates; "
          f"accuracy vs a fresh SVD: max sv error {sv_err:.1e}, fro / optimum {fro:.6f}")
    for p, secs in peer_s.items():
        print(f"  recomputing with {p:24s} {secs:8.3f} s wall, {peer_c[p]:8.3f} s CPU -> "
              f"incremental {secs / update_s:6.1f}x faster (wall), "
              f"{peer_c[p] / max(update_c, 1e-9):6.1f}x (CPU)")


def bench_incremental(quick: bool = False) -> None:
    rng = np.random.default_rng(0)
    m, n = (1200, 400) if quick else (4000, 1000)
    print(f"\nincremental truncated SVD, rank {K} (times under whatever load the machine "
          "has: the ratios are from this run)")
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        A = _dense_case(rng, m, n)
        _case("add rows", A, "rows", m // 2, 10)
        _case("add columns", A, "columns", n // 2, 10)
        S = _sparse_case(rng, 2 * m, 2 * n)
        _case("add rows", S, "rows", m, 10)
        _case("add columns", S, "columns", n, 10)


if __name__ == "__main__":
    import sys

    bench_incremental("--quick" in sys.argv)
