"""Streaming rows into a truncated SVD: a matrix's rows arrive in blocks; the incremental
SVD (:class:`workbench.lowrank.incremental.IncrementalSVD`) is updated with each block and
compared, after every block, with a fresh SVD of the rows seen so far.

    run = run_stream(A, rank=20, blocks=8)     # the costly part, once
    step = run.at(3)                           # after the 4th block: plain data
    step.error_ratio, step.sv_incremental, step.sv_fresh

Costs: one rank-k fit of the first block, ``blocks - 1`` updates, and one exact SVD of
the rows seen per step (O(m n min(m, n)) each) for the reference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from workbench.errors import RankError, ShapeError
from workbench.lowrank.incremental import IncrementalSVD
from workbench.lowrank.results import error_ratio, relative_fro_error

__all__ = ["StreamRun", "StreamStep", "run_stream"]

ROUNDOFF = 1e-12  # relative Frobenius errors below this are round-off


@dataclass(frozen=True)
class StreamStep:
    """The SVD after `rows` rows: the incremental factors' singular values against a fresh
    SVD's top `rank`, the Frobenius error of each (relative to the rows' norm) and their
    ratio (1: the incremental SVD is as good as the optimum)."""

    step: int
    rows: int
    sv_incremental: np.ndarray
    sv_fresh: np.ndarray
    error_incremental: float
    error_optimal: float

    @property
    def error_ratio(self) -> float:
        """error_incremental / error_optimal, both floored at ROUNDOFF (relative errors
        below it are float64 round-off: an exactly low-rank matrix gives 1)."""
        return error_ratio(max(self.error_incremental, ROUNDOFF),
                           max(self.error_optimal, ROUNDOFF))

    @property
    def max_sv_rel_error(self) -> float:
        """max_i |s_i - s_i(fresh)| / s_1(fresh) over the top `rank` values."""
        top = float(self.sv_fresh[0]) if self.sv_fresh.size and self.sv_fresh[0] > 0 else 1.0
        return float(np.max(np.abs(self.sv_incremental - self.sv_fresh)) / top)


@dataclass(frozen=True)
class StreamRun:
    """Every step of one streaming run (``steps``), the rank, and the seconds spent in the
    incremental updates against the fresh SVDs. ``at(step)`` is a tuple look-up."""

    rank: int
    steps: tuple[StreamStep, ...]
    seconds_incremental: float
    seconds_fresh: float

    def at(self, step: int) -> StreamStep:
        """The state after block `step` (clamped to the run's steps)."""
        return self.steps[int(np.clip(step, 0, len(self.steps) - 1))]

    def curve(self) -> dict[str, np.ndarray]:
        """{rows, error_ratio, max_sv_rel_error}: one entry per step."""
        return {"rows": np.array([s.rows for s in self.steps], dtype=float),
                "error_ratio": np.array([s.error_ratio for s in self.steps]),
                "max_sv_rel_error": np.array([s.max_sv_rel_error for s in self.steps])}


def run_stream(A, rank: int = 20, blocks: int = 8) -> StreamRun:
    """Stream the rows of the dense matrix `A` in `blocks` equal blocks into a rank-`rank`
    incremental SVD; after each block compare with a fresh SVD of the rows seen. Raises
    ShapeError for fewer rows than blocks, RankError when `rank` exceeds the first block."""
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ShapeError(f"expected a 2-D matrix, got shape {A.shape}")
    blocks = int(blocks)
    if blocks < 1 or A.shape[0] < blocks:
        raise ShapeError(f"cannot split {A.shape[0]} rows into {blocks} blocks")
    edges = np.linspace(0, A.shape[0], blocks + 1).astype(int)
    first = edges[1]
    if not 1 <= rank <= min(first, A.shape[1]):
        raise RankError(f"rank {rank} must be between 1 and {min(first, A.shape[1])} "
                        f"(the first block is {first} x {A.shape[1]})")
    t_inc = t_fresh = 0.0
    steps = []
    for b in range(blocks):
        t0 = time.perf_counter()
        if b == 0:
            inc = IncrementalSVD.fit(A[:first], rank)
        else:
            inc.add_rows(A[edges[b]:edges[b + 1]])
        t_inc += time.perf_counter() - t0
        seen = A[:edges[b + 1]]
        t0 = time.perf_counter()
        sv = np.linalg.svd(seen, compute_uv=False)
        t_fresh += time.perf_counter() - t0
        U, s, Vt = inc
        norm = float(np.sqrt(np.sum(sv**2)))
        steps.append(StreamStep(
            step=b, rows=int(edges[b + 1]), sv_incremental=np.asarray(s[:rank]).copy(),
            sv_fresh=sv[:rank].copy(),
            error_incremental=relative_fro_error(seen, (U * s) @ Vt, norm),
            error_optimal=float(np.sqrt(np.sum(sv[rank:] ** 2))) / norm if norm else 0.0))
    return StreamRun(rank=int(rank), steps=tuple(steps), seconds_incremental=t_inc,
                     seconds_fresh=t_fresh)
