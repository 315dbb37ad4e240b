"""Sweep machinery without a cluster: grids, keys, outputs, the result store, tables, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from workbench.errors import InputFormatError, RankError, ShapeError, WorkbenchError
from workbench.sweep import Grid, SweepStore, load_sweep, long_table, run_sweep, task_key
from workbench.sweep.experiments.demo import random_top_eig
from workbench.sweep.registry import Experiment, import_target, register, resolve
from workbench.sweep.tables import array_columns, output_columns, scalar_columns
from workbench.sweep.tasks import pinned_threads, run_task, tidy_outputs


# ---------------------------------------------------------------- grids
def test_product_order_and_size():
    g = Grid.product(width=[8, 16, 32], seed=[0, 1])
    assert len(g) == 6
    assert g[0] == {"width": 8, "seed": 0} and g[1] == {"width": 8, "seed": 1}
    assert g.names == ("width", "seed")
    assert [p["width"] for p in g] == [8, 8, 16, 16, 32, 32]


def test_list_dedupes_and_normalizes_numpy():
    g = Grid.from_list([{"a": np.int64(3), "b": (1, 2)}, {"a": 3, "b": [1, 2]}, {"a": 4}])
    assert len(g) == 2
    assert g[0] == {"a": 3, "b": [1, 2]} and type(g[0]["a"]) is int


def test_grid_concat_fixed_and_coerce():
    g = Grid.product(n=[1, 2]) + [{"n": 2}, {"n": 3}]
    assert [p["n"] for p in g] == [1, 2, 3]
    assert all(p["k"] == 5 for p in g.with_fixed(k=5))
    assert len(Grid.coerce({"x": [1, 2], "y": "a"})) == 2  # a bare string is one value


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": float("nan")}, {"_x": 1},
                                 {"1x": 2}])
def test_bad_parameters_raise(bad):
    with pytest.raises(InputFormatError):
        Grid.from_list([bad])


def test_empty_value_list_raises():
    with pytest.raises(RankError, match="empty"):
        Grid.product(x=[])


# ---------------------------------------------------------------- keys
def test_key_ignores_dict_order_and_tracks_every_ingredient():
    k = task_key("e", {"a": 1, "b": 2.5}, "v1")
    assert k == task_key("e", {"b": 2.5, "a": 1}, "v1")
    assert len({k, task_key("e", {"a": 2, "b": 2.5}, "v1"), task_key("f", {"a": 1, "b": 2.5},
               "v1"), task_key("e", {"a": 1, "b": 2.5}, "v2")}) == 4
    # 1 and 1.0 are different parameters (an int width vs a float scale)
    assert task_key("e", {"a": 1}, "v") != task_key("e", {"a": 1.0}, "v")


def test_key_is_stable_across_processes():
    # Python's hash() is salted per process; the key must not be.
    code = ("from workbench.sweep import task_key; "
            "print(task_key('e', {'a': 1, 'b': [1, 2], 'c': 'x'}, 'v'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.strip()
    assert out == task_key("e", {"c": "x", "b": [1, 2], "a": 1}, "v")


# ---------------------------------------------------------------- registry
def test_import_of_sweep_is_lazy():
    code = ("import sys, workbench.sweep as s; s.names(); "
            "print(sorted(m for m in ('distributed', 'dask', 'torch', 'workbench.hessian', "
            "'workbench.clustering', 'workbench.sweep.experiments.hessian') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_resolve_names_paths_and_functions():
    exp = resolve("demo.random_top_eig")
    assert exp.load() is random_top_eig
    assert resolve("workbench.sweep.experiments.demo:random_top_eig").load() is random_top_eig
    assert resolve(random_top_eig).name.endswith("random_top_eig")
    with pytest.raises(InputFormatError, match="unknown experiment"):
        resolve("no.such")
    with pytest.raises(InputFormatError, match="cannot import"):
        import_target("workbench.no_such_module:f")
    with pytest.raises(InputFormatError, match="already registered"):
        register("demo.random_top_eig", random_top_eig)


def test_code_version_follows_source_or_explicit_version():
    auto = resolve("demo.random_top_eig").code_version()
    assert auto.startswith("0.") and "src-" in auto
    assert Experiment("x", random_top_eig, version="7").code_version().endswith(":7")


# ---------------------------------------------------------------- outputs and tasks
def test_tidy_outputs_converts_and_rejects():
    import torch

    out = tidy_outputs({"a": np.float32(1.5), "v": np.arange(3), "t": torch.tensor([1.0, 2.0]),
                        "s": "x", "z": torch.tensor(4.0), "none": None})
    assert out == {"a": 1.5, "v": [0, 1, 2], "t": [1.0, 2.0], "s": "x", "z": 4.0, "none": None}
    with pytest.raises(ShapeError, match="shape"):
        tidy_outputs({"m": np.zeros((2, 2))})
    with pytest.raises(InputFormatError):
        tidy_outputs([1, 2])
    with pytest.raises(InputFormatError):
        tidy_outputs({"_meta": 1})


def test_pinned_threads_limits_blas_and_torch_then_restores():
    import torch
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    with pinned_threads(1):
        assert torch.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert torch.get_num_threads() == before


def test_run_task_matches_direct_call():
    payload = run_task("workbench.sweep.experiments.demo:random_top_eig",
                       {"n": 30, "k": 2, "seed": 4}, threads=1)
    direct = random_top_eig(n=30, k=2, seed=4)
    assert payload["outputs"]["top"] == direct["top"]
    assert payload["meta"]["threads"] == 1 and payload["meta"]["seconds"] >= 0


def test_demo_experiment_against_dense_eigh():
    # ground truth: the same matrix built here and decomposed by eigh
    rng = np.random.default_rng(3)
    g = rng.standard_normal((40, 40))
    vals = np.linalg.eigh((g + g.T) / np.sqrt(80.0))[0][::-1]
    out = random_top_eig(n=40, k=3, seed=3)
    np.testing.assert_allclose(out["top_k"], vals[:3], rtol=1e-12)  # same LAPACK call
    with pytest.raises(RankError):
        random_top_eig(n=3, k=5)


@pytest.mark.slow
def test_hessian_experiment_against_dense_hessian():
    from workbench.sweep.experiments.hessian import top_eigs

    out = top_eigs(width=6, seed=1, num_samples=64, train_steps=10, k=2, exact=True)
    # top_eigs stops at residual <= 1e-8 * ||H||, so the eigenvalue error is below that
    assert out["top_eig"] == pytest.approx(out["top_eig_exact"], rel=1e-7)
    assert out["top_k"][0] == out["top_eig"] and out["top_k"][1] <= out["top_eig"]
    assert out["num_params"] == 8 * 6 + 6 + 6 * 4 + 4 and 0 <= out["accuracy"] <= 1
    assert np.isnan(out["trace"])
    with pytest.raises(InputFormatError, match="dtype"):
        top_eigs(width=4, dtype="float16")


def test_clustering_experiment_recovers_blobs_then_fails_with_noise(tmp_path):
    from sklearn.datasets import make_blobs

    from workbench.sweep.experiments.clustering import quality

    clean = quality(noise=0.5, num_samples=600, num_clusters=4, seed=0)
    # well-separated blobs (std 0.5 in a box of half-width 10): the planted partition is the
    # k-means optimum, so the fit finds it and its inertia equals the planted one
    assert clean["ari"] == 1.0 and clean["nmi"] == pytest.approx(1.0)
    assert clean["inertia"] == pytest.approx(clean["planted_inertia"], rel=1e-9)
    X, y = make_blobs(n_samples=600, n_features=2, centers=4, cluster_std=0.5,
                      center_box=(-10, 10), random_state=0)
    expected = sum(((X[y == c] - X[y == c].mean(0)) ** 2).sum() for c in range(4))
    assert clean["planted_inertia"] == pytest.approx(expected, rel=1e-12)
    noisy = quality(noise=12.0, num_samples=600, num_clusters=4, seed=0)
    assert noisy["ari"] < 0.3  # std 12 >> centre spacing: little structure left to find
    with pytest.raises(RankError, match="num_clusters"):
        quality(num_clusters=0)
    res = run_sweep("clustering.quality", Grid.product(noise=[0.5, 12.0], num_samples=[600]),
                    tmp_path,
                    scheduler="serial", progress=False)
    assert res.failed == 0
    assert res.table.sort_values("noise")["ari"].tolist() == [clean["ari"], noisy["ari"]]


@pytest.mark.slow
def test_eigenspectra_experiment_equals_analyze_of_the_checkpoint(tmp_path):
    from workbench.eigenspectra import analyze, train_digits_mlp
    from workbench.sweep.experiments.eigenspectra import alphas

    out = alphas(epoch=3, seed=1, width=64)
    (ckpt,) = train_digits_mlp(epochs=3, checkpoints=(3,), hidden=(64, 32), seed=1)
    ref = analyze({k: v for k, v in ckpt.weights.items() if k.endswith("weight")},
                  mp_fit=True, seed=1)
    assert list(out["layer"]) == ref["name"].tolist() == ["0.weight", "2.weight", "4.weight"]
    np.testing.assert_allclose(out["alpha"], ref["alpha"].to_numpy(float), rtol=1e-12)
    np.testing.assert_allclose(out["num_spikes"], ref["num_spikes"].to_numpy(float))
    assert out["test_accuracy"] == pytest.approx(ckpt.test_accuracy)
    # string and float arrays survive the Parquet round trip of a sweep
    res = run_sweep("eigenspectra.alphas", Grid.product(epoch=[3], seed=[1], width=[64]),
                    tmp_path, scheduler="serial", progress=False)
    row = load_sweep(tmp_path).iloc[0]
    assert res.failed == 0 and list(row["layer"]) == list(out["layer"])
    np.testing.assert_allclose(list(row["alpha"]), out["alpha"], rtol=1e-12)


# ---------------------------------------------------------------- store and tables
def test_serial_sweep_writes_one_file_per_task_and_resumes(tmp_path):
    grid = Grid.product(n=[10, 20], seed=[0, 1, 2])
    res = run_sweep("demo.random_top_eig", grid, tmp_path, scheduler="serial", progress=False)
    assert (res.total, res.cached, res.computed, res.failed) == (6, 0, 6, 0)
    files = sorted((tmp_path / "results").glob("*.parquet"))
    assert len(files) == 6
    assert not list((tmp_path / "results").glob(".*tmp*"))  # atomic writes left no temp files
    for row in res.table.itertuples():
        assert row.top == random_top_eig(n=row.n, seed=row.seed)["top"]
    again = run_sweep("demo.random_top_eig", grid + [{"n": 30, "seed": 0}], tmp_path,
                      scheduler="serial", progress=False)
    assert (again.cached, again.computed) == (6, 1)
    assert [(r.n, r.seed) for r in again.table.itertuples()] == \
        [(p["n"], p["seed"]) for p in grid + [{"n": 30, "seed": 0}]]
    table = load_sweep(tmp_path)
    assert len(table) == 7 and set(table["_experiment"]) == {"demo.random_top_eig"}
    assert json.loads((tmp_path / "sweep.json").read_text())["experiment"] == \
        "demo.random_top_eig"


def test_failures_are_recorded_then_cleared(tmp_path):
    grid = [{"n": 5, "k": 2}, {"n": 5, "k": 9}]
    res = run_sweep("demo.random_top_eig", grid, tmp_path, scheduler="serial", progress=False)
    assert (res.computed, res.failed) == (1, 1)
    assert "k=9" in res.failures[0][1] and "RankError" in res.failures[0][1]
    errs = SweepStore(tmp_path).errors()
    assert len(errs) == 1 and errs[0]["params"] == {"n": 5, "k": 9}
    # fixing nothing: a rerun retries only the failed task (and it fails again)
    res2 = run_sweep("demo.random_top_eig", grid, tmp_path, scheduler="serial", progress=False)
    assert (res2.cached, res2.computed, res2.failed) == (1, 0, 1)


def test_output_named_like_parameter_is_an_error(tmp_path):
    def clash(n):
        return {"n": n}

    res = run_sweep(clash, [{"n": 1}], tmp_path, scheduler="serial", progress=False)
    assert res.failed == 1 and "named like its parameters" in res.failures[0][1]


def test_tables_long_format(tmp_path):
    run_sweep("demo.random_top_eig", Grid.product(n=[10, 20], k=[3]), tmp_path,
              scheduler="serial", progress=False)
    df = load_sweep(tmp_path)
    assert array_columns(df) == ["top_k"]
    assert set(output_columns(df)) == {"top", "top_k", "trace", "spectral_gap"}
    assert "n" in scalar_columns(df, numeric=True) and "top_k" not in scalar_columns(df)
    long = long_table(df, "top_k", "rank")
    assert len(long) == 6 and list(long["rank"]) == [0, 1, 2, 0, 1, 2]
    first = long[long["n"] == 10]["top_k"].to_numpy()
    np.testing.assert_array_equal(first, random_top_eig(n=10, k=3)["top_k"])


def test_wide_table_spreads_an_array_output():
    import pandas as pd

    from workbench.sweep.tables import wide_table

    df = pd.DataFrame({"n": [10, 20, 30], "top_k": [[3.0, 2.0, 1.0], [5.0, 4.0], None],
                       "seed": [0, 1, 2]})
    wide = wide_table(df, "top_k", after="n")
    assert list(wide.columns) == ["n", "top_k[0]", "top_k[1]", "top_k[2]", "seed"]
    np.testing.assert_array_equal(wide["top_k[0]"], [3.0, 5.0, np.nan])
    np.testing.assert_array_equal(wide["top_k[2]"], [1.0, np.nan, np.nan])
    assert list(wide["seed"]) == [0, 1, 2]
    assert wide_table(df, "top_k", max_entries=2) is None  # too many entries for a table
    assert list(wide_table(df, "top_k").columns)[:3] == ["top_k[0]", "top_k[1]", "top_k[2]"]
    with pytest.raises(InputFormatError, match="no column"):
        wide_table(df, "nope")


def test_load_sweep_rejects_non_sweep_folder(tmp_path):
    with pytest.raises(InputFormatError, match="does not exist"):
        load_sweep(tmp_path / "nope")
    with pytest.raises(InputFormatError, match="not a sweep folder"):
        load_sweep(tmp_path)


# ---------------------------------------------------------------- CLI
def test_cli_run_show_missing(tmp_path, capsys):
    from workbench.cli_sweep import main, parse_grid_args

    g = parse_grid_args(["n=8,12", "seed=[0, 1]"], ["k=2", "scale=0.5"], None)
    assert len(g) == 4 and g[0] == {"n": 8, "seed": 0, "k": 2, "scale": 0.5}
    out = tmp_path / "s"
    assert main(["run", "demo.random_top_eig", str(out), "--grid", "n=8,12", "--set", "k=2",
                 "--cluster", "serial", "--no-progress"]) == 0
    assert "2 tasks, 0 cached, 2 computed" in capsys.readouterr().out
    assert main(["show", str(out), "--columns", "n,top"]) == 0
    shown = capsys.readouterr().out
    assert f"{random_top_eig(n=12, k=2)['top']:.6f}"[:6] in shown
    assert main(["missing", "demo.random_top_eig", str(out), "--grid", "n=8,12,16",
                 "--set", "k=2"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out.strip()) == {"k": 2, "n": 16} and "1 of 3" in cap.err
    assert main(["run", "no.such", str(out)]) == 2
    assert "unknown experiment" in capsys.readouterr().err
    csv = tmp_path / "t.csv"
    assert main(["show", str(out), "--csv", str(csv)]) == 0
    assert len(pd.read_csv(csv)) == 2


def test_cli_bad_grid_argument():
    from workbench.cli_sweep import parse_grid_args

    with pytest.raises(WorkbenchError, match="NAME=VALUE"):
        parse_grid_args(["width"], [], None)


def test_store_stamp_changes_when_results_arrive(tmp_path):
    store = SweepStore(tmp_path / "sweep")
    assert store.stamp() == (0, 0)  # no results folder yet
    store.results_dir.mkdir(parents=True)
    (store.results_dir / "a.parquet").write_bytes(b"x")
    (store.results_dir / "notes.txt").write_bytes(b"not a result")
    n, newest = store.stamp()
    assert n == 1 and newest == (store.results_dir / "a.parquet").stat().st_mtime_ns


def test_load_sweep_keeps_the_newest_result_per_parameters_across_code_versions(tmp_path):
    """A folder re-run after the code changed holds two results for the same parameters:
    the table shows the newest once (and counts the other), or both on request."""
    from workbench.sweep.store import make_row

    store = SweepStore(tmp_path)
    for i, (version, value) in enumerate([("v1", 1.0), ("v2", 2.0)]):
        for width in (4, 8):
            row = make_row(f"k{version}{width}", "demo", version, {"width": width},
                           {"top": value * width}, {"seconds": 0.1, "threads": 1})
            row["_finished"] = f"2026-01-0{i + 1}T00:00:00.000+00:00"
            store.write_result(row)
    latest = load_sweep(tmp_path)
    assert latest["width"].tolist() == [4, 8]
    assert latest["top"].tolist() == [8.0, 16.0]          # v2's values
    assert latest.attrs["older_results"] == 2
    both = load_sweep(tmp_path, versions="all")
    assert len(both) == 4 and both.attrs["older_results"] == 0
    with pytest.raises(InputFormatError, match="versions"):
        load_sweep(tmp_path, versions="newest")
