"""Command line of the sweeps: ``workbench sweep ...`` or ``python -m workbench.sweep ...``.

    workbench sweep list
    workbench sweep run demo.random_top_eig runs/demo --grid n=50,100,200 --grid seed=0,1,2
    workbench sweep run hessian.top_eigs runs/widths --grid width=8,16,32 --grid seed=0,1 \\
        --set epochs=20 --scheduler tcp://10.0.0.5:8786
    workbench sweep show runs/widths --columns width,seed,top_eig
    workbench sweep missing hessian.top_eigs runs/widths --grid width=8,16,32,64

``--grid NAME=V1,V2`` adds a swept parameter (values are JSON when they parse, e.g. 8, 0.5,
true, null, else strings; ``NAME=[[16,16],[32]]`` gives a JSON list of values). ``--set
NAME=V`` fixes a parameter. ``--grid-file F.json`` reads a dict of value lists or a list of
parameter dicts. Rerunning a command computes only the tasks whose results are missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.errors import WorkbenchError


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise WorkbenchError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def parse_grid_args(grid: list[str], fixed: list[str], grid_file: str | None):
    """A Grid from --grid / --set / --grid-file arguments (see the module docstring)."""
    from workbench.sweep.grid import Grid

    lists: dict[str, list] = {}
    for item in grid or []:
        name, value = _parse_assignment(item)
        if value.startswith("["):
            vals = _parse_value(value)
            if not isinstance(vals, list):
                raise WorkbenchError(f"--grid {item!r}: {value!r} is not a JSON list")
        else:
            vals = [_parse_value(v) for v in value.split(",") if v != ""]
        if not vals:
            raise WorkbenchError(f"--grid {item!r} gives no values")
        lists[name] = vals
    consts = {}
    for item in fixed or []:
        name, value = _parse_assignment(item)
        consts[name] = _parse_value(value)
    if grid_file:
        path = Path(grid_file)
        try:
            spec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise WorkbenchError(f"cannot read grid file {grid_file!r}: {exc}") from exc
        g = Grid.coerce(spec)
        if lists:
            g = Grid.from_list({**p, **q} for p in g for q in Grid.product(**lists))
    else:
        g = Grid.product(**lists) if lists else Grid.from_list([{}])
    return g.with_fixed(**consts) if consts else g


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench sweep",
        description="Parameter sweeps on Dask with results saved as they arrive.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list the registered experiments")

    def grid_opts(p):
        p.add_argument("experiment", help="registered name (see `list`) or module:function")
        p.add_argument("folder", help="results folder (created; reruns resume it)")
        p.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                       help="a swept parameter (repeat for a Cartesian product)")
        p.add_argument("--set", action="append", default=[], dest="fixed", metavar="NAME=V",
                       help="a parameter fixed for every task")
        p.add_argument("--grid-file", help="JSON: dict of value lists or list of dicts")

    run = sub.add_parser("run", help="run (or resume) a sweep")
    grid_opts(run)
    run.add_argument("--scheduler", default=None,
                     help="Dask scheduler address (tcp://host:8786); default: a local cluster")
    run.add_argument("--cluster", choices=["processes", "threads", "serial"],
                     default="processes", help="kind of local cluster (ignored with "
                     "--scheduler); serial runs in this process without Dask")
    run.add_argument("--workers", type=int, default=None, help="local cluster workers")
    run.add_argument("--threads-per-worker", type=int, default=1)
    run.add_argument("--threads", type=int, default=None,
                     help="BLAS/torch threads per task (default: cores / task slots)")
    run.add_argument("--retries", type=int, default=0)
    run.add_argument("--recompute", action="store_true", help="ignore saved results")
    run.add_argument("--no-progress", action="store_true")

    miss = sub.add_parser("missing", help="print the parameter sets not yet computed")
    grid_opts(miss)

    show = sub.add_parser("show", help="print the table of a saved sweep folder")
    show.add_argument("folder")
    show.add_argument("--columns", default=None, help="comma-separated columns to print")
    show.add_argument("--meta", action="store_true", help="include the '_' metadata columns")
    show.add_argument("--csv", default=None, help="write the table to this CSV file instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 some tasks failed, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished results are saved; rerun the same command to resume",
              file=sys.stderr)
        return 130


def _dispatch(args) -> int:
    from workbench.sweep import registry

    if args.command == "list":
        for name, exp in registry.registered().items():
            print(f"{name:24s} {exp.description}")
        return 0
    if args.command == "show":
        from workbench.sweep.store import load_sweep

        df = load_sweep(args.folder)
        if not args.meta:
            df = df[[c for c in df.columns if not str(c).startswith("_")]]
        if args.columns:
            cols = [c.strip() for c in args.columns.split(",")]
            unknown = [c for c in cols if c not in df.columns]
            if unknown:
                raise WorkbenchError(f"no columns {unknown} in the sweep; it has "
                                     f"{list(df.columns)}")
            df = df[cols]
        if args.csv:
            df.to_csv(args.csv, index=False)
            print(f"wrote {len(df)} rows to {args.csv}")
        else:
            import pandas as pd

            with pd.option_context("display.max_rows", 200, "display.width", 160):
                print(df.to_string(index=False))
        return 0

    grid = parse_grid_args(args.grid, args.fixed, args.grid_file)
    if args.command == "missing":
        from workbench.sweep.runner import missing

        todo = missing(args.experiment, grid, args.folder)
        for p in todo:
            print(json.dumps(p, sort_keys=True))
        print(f"{len(todo)} of {len(grid)} tasks missing", file=sys.stderr)
        return 0

    from workbench.sweep.runner import run_sweep

    scheduler = args.scheduler or args.cluster
    res = run_sweep(args.experiment, grid, args.folder, scheduler=scheduler,
                    n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                    threads=args.threads, progress=not args.no_progress,
                    recompute=args.recompute, retries=args.retries)
    print(f"{res.experiment}: {res.total} tasks, {res.cached} cached, {res.computed} "
          f"computed, {res.failed} failed in {res.seconds:.1f} s -> {res.folder}")
    for params, msg in res.failures:
        print(f"  failed {json.dumps(params, sort_keys=True)}: {msg}", file=sys.stderr)
    return 1 if res.failed else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
