"""A ready-made example sweep (for the dashboard and the docs): the top Hessian eigenvalue
of a small MLP across widths and seeds.

``example_sweep()`` computes it once into a folder (in this process, without Dask: 12
tasks of well under a second each after torch is imported) and returns the folder; later
calls find every result on disk and return at once.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from workbench.sweep.grid import Grid

EXAMPLE_EXPERIMENT = "hessian.top_eigs"
EXAMPLE_GRID = Grid.product(width=[4, 8, 16, 32], seed=[0, 1, 2], num_samples=[128],
                            train_steps=[30], k=[3])
_lock = threading.Lock()


def example_folder() -> Path:
    """Where the example lives: $WORKBENCH_SWEEP_EXAMPLE_DIR, else a folder in the system
    temporary directory."""
    env = os.environ.get("WORKBENCH_SWEEP_EXAMPLE_DIR")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / "spectral-workbench" / "sweep-example-hessian"


def example_sweep(folder: str | os.PathLike | None = None, on_result=None) -> Path:
    """Compute what is missing of the example sweep (hessian.top_eigs over width 4..32 x 3
    seeds, 12 tasks) into ``folder`` (default ``example_folder()``) and return the folder.
    Serialized by a lock, so concurrent dashboard sessions do not duplicate the work."""
    from workbench.sweep.runner import run_sweep

    path = Path(folder) if folder is not None else example_folder()
    with _lock:
        run_sweep(EXAMPLE_EXPERIMENT, EXAMPLE_GRID, path, scheduler="serial", progress=False,
                  threads=1, on_result=on_result)
    return path
