"""Two sessions run numba parallel kernels at once: the process must survive and compute
the same answers as one session alone.

numba's workqueue threading layer aborts the whole process (it cannot be caught) when two
threads launch parallel kernels concurrently, so each scenario runs in a child process and
the test reads its exit status. The kernels are the real ones: workbench.clustering.KMeans
with the numba backend (fused Lloyd step, k-means++ trials), called from the dashboard's
background pool (workbench.jobs._EXECUTOR, what ``run_background`` uses) and from two
plain threads. Ground truth is the same fit run alone, sequentially, in the same process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys, threading
    import numpy as np
    from sklearn.datasets import make_blobs
    from workbench.backends import cap_threads
    from workbench.backends.numba_support import threading_layer, parallel_guard
    from workbench.clustering import KMeans
    from workbench.jobs import _EXECUTOR

    cap_threads(2)
    data = [make_blobs(n_samples=4000, centers=5, n_features=8, cluster_std=0.6,
                       random_state=s) for s in range(4)]

    def fit(i):
        X, _ = data[i % len(data)]
        km = KMeans(5, backend="numba", random_state=i, max_iter=50).fit(X)
        return km.labels_.copy(), float(km.inertia_)

    reference = [fit(i) for i in range(8)]            # one at a time
    # two sessions' background work at once, on the dashboards' shared pool
    pooled = list(_EXECUTOR.map(fit, range(8)))
    # and from plain threads started together (more threads than the pool has)
    threaded = [None] * 8
    barrier = threading.Barrier(4)
    def worker(j):
        barrier.wait()
        for i in range(j, 8, 4):
            threaded[i] = fit(i)
    ts = [threading.Thread(target=worker, args=(j,)) for j in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()

    def same(a, b):
        # identical labels; inertia to 1e-9 relative: the parallel reduction is chunked
        # the same way whichever thread calls it, only summation order may differ
        return bool(np.array_equal(a[0], b[0]) and abs(a[1] - b[1]) <= 1e-9 * abs(b[1]))

    print(json.dumps({
        "layer": threading_layer(),
        "guard": type(parallel_guard()).__name__,
        "pooled_same": [same(p, r) for p, r in zip(pooled, reference)],
        "threaded_same": [same(t, r) for t, r in zip(threaded, reference)],
        "inertia": [r[1] for r in reference],
    }))
""")


def _run(env_extra: dict[str, str]) -> dict:
    env = dict(os.environ, **env_extra)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, (
        f"child process died (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_concurrent_numba_kmeans_default_layer_survives_and_agrees():
    out = _run({})
    # the server asks for a thread-safe layer; where one exists no lock is needed
    assert out["layer"] in ("omp", "tbb", "workqueue")
    if out["layer"] == "workqueue":
        assert out["guard"] != "nullcontext"
    assert all(out["pooled_same"]), out
    assert all(out["threaded_same"]), out
    assert all(x > 0 for x in out["inertia"])


@pytest.mark.slow
def test_concurrent_numba_kmeans_workqueue_fallback_is_serialized():
    """Forced onto numba's non-thread-safe workqueue layer, parallel_guard() serializes
    the kernels: the process still survives and the answers still agree."""
    out = _run({"NUMBA_THREADING_LAYER": "workqueue"})
    assert out["layer"] == "workqueue"
    assert out["guard"] != "nullcontext"
    assert all(out["pooled_same"]), out
    assert all(out["threaded_same"]), out
