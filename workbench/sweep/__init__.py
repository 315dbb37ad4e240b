"""Parameter sweeps on Dask with results cached on disk.

Declare a grid of parameter sets for any experiment ``fn(**params) -> dict`` (a registered
topic experiment such as "hessian.top_eigs", or your own function), run it on a Dask
cluster (an in-process local one by default, or ``scheduler="tcp://host:port"``) and get a
tidy pandas table. Every result is written to ``<folder>/results/<key>.parquet`` the moment
it arrives, keyed by a hash of (experiment, parameters, code version), so an interrupted
sweep resumes: a rerun computes only what is missing.

    from workbench.sweep import Grid, run_sweep, load_sweep
    res = run_sweep("demo.random_top_eig", Grid.product(n=[50, 100], seed=[0, 1, 2]),
                    "runs/demo", n_workers=2)
    res.table[["n", "seed", "top"]]
    load_sweep("runs/demo")           # the same table, later, from disk

Importing this package imports neither Dask nor any topic code; both load when a sweep
runs. Command line: ``python -m workbench.sweep --help`` (also ``workbench sweep``).
"""

from workbench.sweep.grid import Grid
from workbench.sweep.keys import task_key
from workbench.sweep.progress import NotebookProgress, Progress, TextProgress
from workbench.sweep.registry import Experiment, experiment, names, register, resolve
from workbench.sweep.store import SweepStore, load_sweep, param_columns
from workbench.sweep.tables import long_table, output_columns, scalar_columns


def __getattr__(name):  # run_sweep & co. live in runner.py, which is cheap but keep it lazy
    if name in ("run_sweep", "SweepResult", "connect", "missing", "plan"):
        from workbench.sweep import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'workbench.sweep' has no attribute {name!r}")


__all__ = [
    "Experiment", "Grid", "NotebookProgress", "Progress", "SweepResult", "SweepStore",
    "TextProgress", "connect", "experiment", "load_sweep", "long_table", "missing", "names",
    "output_columns", "param_columns", "plan", "register", "resolve", "run_sweep",
    "scalar_columns", "task_key",
]
