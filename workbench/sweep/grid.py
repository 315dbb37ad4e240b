"""Parameter grids: the Cartesian product of value lists, or an explicit list of dicts.

A grid is an ordered, de-duplicated tuple of parameter sets (plain dicts). Values must be
JSON-friendly (None, bool, int, float, str, or lists/tuples of those) so every parameter set
has a stable cache key and can be written to Parquet and read back.

    >>> g = Grid.product(width=[8, 16], seed=[0, 1])
    >>> len(g), g[0]
    (4, {'width': 8, 'seed': 0})
    >>> (g + Grid.from_list([{"width": 32, "seed": 0}])).names
    ('width', 'seed')
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import InputFormatError, RankError

_SCALARS = (type(None), bool, int, float, str)


def normalize_value(value: Any, name: str = "value") -> Any:
    """A JSON-friendly copy of a parameter value: numpy scalars become Python scalars,
    tuples/arrays become lists. Raises InputFormatError for anything else (objects, NaN)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        raise InputFormatError(f"parameter {name!r} is {value}; sweep parameters must be finite")
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return [normalize_value(v, name) for v in value]
    raise InputFormatError(
        f"parameter {name!r} has a value of type {type(value).__name__} ({value!r}); sweep "
        "parameters must be numbers, strings, booleans, None or lists of those")


def normalize_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one parameter set: string names, JSON-friendly values (see normalize_value)."""
    if not isinstance(params, Mapping):
        raise InputFormatError(
            f"a parameter set must be a dict of name -> value, got {type(params).__name__}")
    out = {}
    for k, v in params.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise InputFormatError(f"parameter name {k!r} is not a valid Python identifier")
        if k.startswith("_"):
            raise InputFormatError(
                f"parameter name {k!r} starts with '_', which is reserved for sweep metadata")
        out[k] = normalize_value(v, k)
    return out


def _freeze(params: dict) -> str:
    import json

    return json.dumps(params, sort_keys=True)


@dataclass(frozen=True)
class Grid:
    """An ordered tuple of parameter sets (dicts). Build with ``Grid.product`` or
    ``Grid.from_list``; combine with ``+`` (concatenation, duplicates dropped)."""

    points: tuple[dict, ...]

    @classmethod
    def product(cls, **lists: Iterable[Any]) -> Grid:
        """All combinations of the given value lists (first name varies slowest).
        A bare scalar is a one-value list. Returns a Grid of prod(len(list)) points."""
        names = list(lists)
        values = []
        for name in names:
            v = lists[name]
            if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
                v = [v]
            v = list(v)
            if not v:
                raise RankError(f"parameter {name!r} has an empty list of values")
            values.append(v)
        return cls.from_list(dict(zip(names, combo)) for combo in itertools.product(*values))

    @classmethod
    def from_list(cls, records: Iterable[Mapping[str, Any]]) -> Grid:
        """An explicit list of parameter sets, in order, with exact duplicates dropped."""
        seen: set[str] = set()
        pts = []
        for rec in records:
            p = normalize_params(rec)
            key = _freeze(p)
            if key not in seen:
                seen.add(key)
                pts.append(p)
        return cls(tuple(pts))

    @classmethod
    def coerce(cls, spec: Grid | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Grid:
        """A Grid from a Grid, a dict of value lists (product) or a list of dicts."""
        if isinstance(spec, Grid):
            return spec
        if isinstance(spec, Mapping):
            return cls.product(**spec)
        if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
            return cls.from_list(spec)
        raise InputFormatError(
            "a sweep grid is a dict of value lists, a list of parameter dicts or a Grid; got "
            f"{type(spec).__name__}")

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in order of first appearance."""
        out: dict[str, None] = {}
        for p in self.points:
            out.update(dict.fromkeys(p))
        return tuple(out)

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self) -> Iterator[dict]:
        return (dict(p) for p in self.points)

    def __getitem__(self, i: int) -> dict:
        return dict(self.points[i])

    def __add__(self, other: Grid) -> Grid:
        return Grid.from_list([*self.points, *Grid.coerce(other).points])

    def with_fixed(self, **fixed: Any) -> Grid:
        """The same grid with extra parameters set to one value in every point."""
        return Grid.from_list({**p, **fixed} for p in self.points)
