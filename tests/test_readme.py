"""The README's API example runs as written (on small stand-ins for the user's data)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _api_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    api = [b for b in blocks if "import workbench as wb" in b and "top_eigs" in b]
    assert len(api) == 1, "the README has one API example"
    return api[0]


@pytest.mark.slow
def test_readme_api_example_runs():
    import torch

    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 40))
    A = A @ A.T  # symmetric, as the engine lines need
    X = np.vstack([rng.normal(c, 0.3, (50, 2)) for c in (-3, 0, 3)])
    Xt = torch.randn(32, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (32,))
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 3)).double()
    weights = {"w1": rng.standard_normal((80, 40)), "w2": rng.standard_normal((60, 30))}
    from workbench.clustering import planted_attributed_graph

    graph = planted_attributed_graph(300, 3, 10.0, n_attributes=30, seed=0)
    after = {k: v + 0.1 * np.outer(rng.standard_normal(v.shape[0]), rng.standard_normal(
        v.shape[1])) for k, v in weights.items()}  # a rank-1 fine-tuning update per layer
    env = dict(A=A, X=Xt, y=y, model=model, loss_fn=torch.nn.CrossEntropyLoss(),
               model_or_matrices=weights, points=X, k=3, rank=5, before=weights,
               after=after, adjacency=graph.adjacency, attributes=graph.attributes)
    code = _api_block()
    # the user's own file: a safetensors file written from the same weights
    import tempfile

    from safetensors.numpy import save_file

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.safetensors"
        save_file({k: v.astype(np.float32) for k, v in weights.items()}, str(path))
        code = code.replace('"model.safetensors"', repr(str(path)))
        if not torch.cuda.is_available():  # the GPU lines run the same code on the CPU here
            code = code.replace('device="cuda"', 'device="cpu"')
        ns = dict(env)
        exec(compile(code, str(README), "exec"), ns)  # noqa: S102
    # and what it computed is right
    top = np.linalg.eigvalsh(A)[::-1][:5]
    np.testing.assert_allclose(ns["vals"], top, rtol=1e-6)
    assert ns["pp"].n_clusters_ == 3
    # rank 5 on 200 x 200 observed at 30% (12x the degrees of freedom): exact recovery
    assert np.abs(ns["done"].X - ns["prob"].truth).max() < 1e-6 * np.abs(ns["prob"].truth).max()
    np.testing.assert_allclose(ns["s"], np.linalg.svd(A, compute_uv=False)[:5], rtol=1e-3)
    # the lines added for the papers: each computed what it says
    assert set(ns["kron"]) == {"0", "2"} and all(
        b.errors["optimal"] <= b.errors["kfac"] + 1e-12 for b in ns["kron"].values())
    assert ns["step"].shape == (ns["mfac"].d,)
    assert set(ns["ov"]) == {"optimal", "kfac", "shampoo"} and ns["ar"].mfac.rel_error[-1] < 1e-6
    assert ns["ncv"].metrics.nc1 == ns["nc"].nc1  # the same model at both checkpoints
    assert list(ns["layers"].table()["block"]) == ["0", "2"]  # per-layer run: one row a layer
    assert np.isfinite(ns["nc"].nc1) and 0 <= ns["nc"].nc4 <= 1
    assert ns["ag"].labels_.shape == (300,)
    assert ns["inc"].shape == A.shape
    assert ns["stream"].at(0).error_ratio == pytest.approx(1.0)  # the first block: a fresh SVD
    assert (ns["table"]["rank_for_energy"] == 1).all()  # rank-1 updates need rank 1
    assert ns["upd"].rank_for_energy == 1 and ns["upd"].error_at_rank < 1e-12  # rank 1: exact
    assert ns["att"].ari["attributed"] > ns["att"].ari["structure"]


@pytest.mark.slow
def test_readme_explorer_cells_open_on_the_users_objects(tmp_path):
    """The README's "your own objects" cells run as written (small stand-ins for the
    user's model, points, matrix and sweep folder) and every explorer shows a result."""
    import torch
    from helpers import wait_until

    from workbench.sweep import Grid, run_sweep
    from workbench.sweep.experiments import demo  # noqa: F401 - registers the experiment

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    cells = [b for b in blocks if "HessianExplorer.from_model" in b]
    assert len(cells) == 1, "the README has one block of explorer cells"
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    # the first layer is 16 x 10: ten eigenvalues, enough for a spectrum's fit
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 3))
    X, y = torch.randn(40, 10), torch.randint(0, 3, (40,))
    points = np.vstack([rng.normal(c, 0.3, (40, 2)) for c in (-3, 0, 3)])
    A = rng.standard_normal((50, 5)) @ rng.standard_normal((5, 30))
    run_sweep("demo.random_top_eig", Grid.product(n=[10, 20], seed=[0], k=[2]),
              tmp_path / "widths", scheduler="serial", progress=False)
    ns = dict(model=model, loss_fn=torch.nn.CrossEntropyLoss(), X=X, y=y, points=points, A=A)
    code = cells[0].replace('"runs/widths"', repr(str(tmp_path / "widths")))
    exec(compile(code, str(README), "exec"), ns)  # noqa: S102
    explorers = [ns[k] for k in ("hessian", "weights", "clusters", "lowrank", "sweep")]
    for ex in explorers:
        ex.view()
    wait_until(lambda: not any(ex.busy for ex in explorers), timeout=600,
               what=lambda: "the explorers' background work: still busy " + str(
                   [type(ex).__name__ for ex in explorers if ex.busy]))
    assert [ex.message for ex in explorers] == [""] * 5
    assert ns["hessian"].runs == 1 and ns["hessian"].density.source("0").data["y"].size
    np.testing.assert_allclose(ns["lowrank"].run.source.sv[:5],
                               np.linalg.svd(A, compute_uv=False)[:5], rtol=1e-8)
    assert ns["clusters"].clusters.view.labels.shape == (120,)
    assert ns["weights"].run is not None and ns["sweep"].loaded
