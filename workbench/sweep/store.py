"""A sweep folder: one Parquet file per finished task, written the moment it arrives.

Layout of a folder::

    sweep.json                 manifest: experiment(s), grid of the last run, versions
    results/<key>.parquet      one row: parameters, outputs, metadata (columns "_...")
    errors/<key>.json          the error of a failed task (removed when it later succeeds)

Each result file is written to a temporary name and renamed (atomic on POSIX), so a sweep
killed at any moment leaves only complete files: a rerun finds them by key and computes
only the missing tasks. Nothing is pickled: Parquet (pyarrow) and JSON only.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import InputFormatError
from workbench.sweep.keys import canonical_json

META_COLUMNS = ("_key", "_experiment", "_version", "_params", "_seconds", "_threads",
                "_host", "_worker", "_finished")


def _param_cell(value: Any) -> Any:
    """Scalars stay as they are; lists become their JSON text (a categorical label)."""
    return canonical_json(value) if isinstance(value, list) else value


def make_row(key: str, experiment: str, version: str, params: dict, outputs: dict,
             meta: dict) -> dict[str, Any]:
    """One tidy row: parameters, outputs, then metadata columns (names start with '_')."""
    clash = sorted(set(params) & set(outputs))
    if clash:
        raise InputFormatError(f"experiment {experiment!r} returned outputs named like its "
                               f"parameters: {clash}; rename the outputs")
    row: dict[str, Any] = {k: _param_cell(v) for k, v in params.items()}
    row.update(outputs)
    row.update({
        "_key": key, "_experiment": experiment, "_version": version,
        "_params": canonical_json(params), "_seconds": float(meta.get("seconds", float("nan"))),
        "_threads": int(meta.get("threads", 0)), "_host": str(meta.get("host", "")),
        "_worker": str(meta.get("worker", "")),
        "_finished": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
    })
    return row


class SweepStore:
    """The files of one sweep folder (created on first write)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.results_dir = self.folder / "results"
        self.errors_dir = self.folder / "errors"

    # ---------------------------------------------------------------- queries
    def result_path(self, key: str) -> Path:
        return self.results_dir / f"{key}.parquet"

    def error_path(self, key: str) -> Path:
        return self.errors_dir / f"{key}.json"

    def keys(self) -> set[str]:
        """Keys of every finished task in the folder."""
        if not self.results_dir.is_dir():
            return set()
        return {p.name[:-len(".parquet")] for p in self.results_dir.glob("*.parquet")}

    def stamp(self) -> tuple[int, int]:
        """(number of result files, newest modification time in ns): changes when results
        arrive (a cache key for the folder's table). Cost: one directory scan."""
        n, newest = 0, 0
        if self.results_dir.is_dir():
            with os.scandir(self.results_dir) as it:
                for e in it:
                    if e.name.endswith(".parquet"):
                        n += 1
                        newest = max(newest, e.stat().st_mtime_ns)
        return n, newest

    def has(self, key: str) -> bool:
        return self.result_path(key).is_file()

    # ---------------------------------------------------------------- writing
    def _atomic_write(self, path: Path, write) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def write_result(self, row: dict[str, Any]) -> Path:
        """Write one finished task's row to results/<key>.parquet (atomically); removes an
        older error file of that key. Returns the path. Costs one small Parquet write."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        key = row["_key"]
        table = pa.Table.from_pylist([row])
        path = self.result_path(key)
        self._atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        err = self.error_path(key)
        if err.exists():
            err.unlink()
        return path

    def write_error(self, key: str, experiment: str, params: dict, message: str,
                    traceback_text: str = "") -> Path:
        """Record a failed task (JSON); a rerun retries it."""
        rec = dict(key=key, experiment=experiment, params=params, error=message,
                   traceback=traceback_text,
                   time=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        path = self.error_path(key)
        self._atomic_write(path, lambda tmp: tmp.write_text(json.dumps(rec, indent=1)))
        return path

    def write_manifest(self, experiment: str, version: str, grid: Iterable[dict],
                       description: str = "") -> None:
        """Write sweep.json: the experiment, its code version and the grid of this run
        (the experiment list accumulates over runs into the same folder)."""
        path = self.folder / "sweep.json"
        old = self.manifest()
        experiments = dict(old.get("experiments", {}))
        experiments[experiment] = dict(version=version, description=description)
        from workbench import __version__

        rec = dict(format=1, workbench=__version__, experiment=experiment,
                   experiments=experiments, grid=list(grid),
                   updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self._atomic_write(path, lambda tmp: tmp.write_text(json.dumps(rec, indent=1)))

    # ---------------------------------------------------------------- reading
    def manifest(self) -> dict:
        path = self.folder / "sweep.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputFormatError(f"{path} is not valid JSON: {exc}") from exc

    def errors(self) -> list[dict]:
        """The recorded failures (dicts with key, params, error, traceback)."""
        if not self.errors_dir.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.errors_dir.glob("*.json"))]

    def read_rows(self, keys: Iterable[str] | None = None,
                  extra_rows: Iterable[dict] = ()) -> pd.DataFrame:
        """The rows of the given keys (all finished tasks when None), in that order, then
        ``extra_rows`` (rows already in memory; they go through the same Arrow conversion
        so the table is the same as if read back). About 0.3 ms per file."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if keys is None:
            paths = sorted(self.results_dir.glob("*.parquet")) if self.results_dir.is_dir() \
                else []
        else:
            paths = [self.result_path(k) for k in keys]
        tables = [pq.ParquetFile(p).read(use_threads=False) for p in paths]
        extra = list(extra_rows)
        if extra:
            tables.append(pa.Table.from_pylist(extra))
        if not tables:
            return pd.DataFrame(columns=list(META_COLUMNS))
        try:
            df = pa.concat_tables(tables, promote_options="permissive").to_pandas()
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column changed type between runs
            with warnings.catch_warnings():  # all-NA columns (an output that was None)
                warnings.simplefilter("ignore", FutureWarning)
                df = pd.concat([t.to_pandas() for t in tables], ignore_index=True, sort=False)
        meta = [c for c in META_COLUMNS if c in df.columns]
        return df[[c for c in df.columns if c not in meta] + meta]


def load_sweep(folder: str | os.PathLike, experiment: str | None = None,
               versions: str = "latest") -> pd.DataFrame:
    """The tidy table of a saved sweep folder: one row per finished task, parameter and
    output columns, metadata columns starting with '_'. Rows are sorted by the parameter
    columns. ``experiment`` keeps only that experiment's rows. A folder re-run after the
    experiment's code changed holds one result per code version for the same parameters:
    ``versions="latest"`` keeps the newest finished one of each (how many were left out:
    ``df.attrs["older_results"]``), ``"all"`` keeps every row. Reads every result file
    once. Raises InputFormatError when the folder holds no sweep or `versions` is
    neither."""
    if versions not in ("latest", "all"):
        raise InputFormatError(f"versions must be 'latest' or 'all', got {versions!r}")
    store = SweepStore(folder)
    if not store.folder.is_dir():
        raise InputFormatError(f"sweep folder {str(folder)!r} does not exist")
    if not store.results_dir.is_dir() and not (store.folder / "sweep.json").is_file():
        raise InputFormatError(f"{str(folder)!r} is not a sweep folder (no results/ and no "
                               "sweep.json)")
    df = store.read_rows()
    if experiment is not None and "_experiment" in df:
        df = df[df["_experiment"] == experiment].reset_index(drop=True)
    older = 0
    if versions == "latest" and {"_experiment", "_params", "_finished"} <= set(df.columns):
        newest = df.sort_values("_finished", kind="stable").drop_duplicates(
            ["_experiment", "_params"], keep="last")
        older = len(df) - len(newest)
        df = newest
    df = sort_table(df)
    df.attrs["older_results"] = older
    return df


def param_columns(df: pd.DataFrame) -> list[str]:
    """Names of the parameter columns of a sweep table (from the _params JSON), in the
    table's column order (which is the grid's order of parameters)."""
    names: set[str] = set()
    if "_params" in df:
        for text in df["_params"].unique():
            names.update(json.loads(text))
    return [c for c in df.columns if c in names]


def sort_table(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by the parameter columns (then key), for a deterministic table."""
    if df.empty:
        return df
    by = [c for c in param_columns(df) if df[c].map(type).nunique() == 1] + ["_key"]
    try:
        return df.sort_values(by, kind="stable", na_position="last").reset_index(drop=True)
    except TypeError:
        return df.sort_values("_key").reset_index(drop=True)
