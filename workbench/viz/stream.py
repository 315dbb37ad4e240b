"""Plots of a streaming incremental SVD (:class:`workbench.lowrank.stream_run.StreamRun`):
the error against the Eckart–Young optimum as rows arrive, and one step's singular values
next to a fresh SVD's. Pure shaping: runs in, columns / HoloViews out."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options
import numpy as np

STEP_COLOR = "#2f4b7c"
_ROWS, _RATIO = "rows seen", "error / optimum"
_I, _S = "index i", "singular value s_i"
TEXT = ("The rows of the matrix arrive in blocks; a rank-k SVD is updated with each block "
        "(Zha–Simon, as in Deng et al. 2024) instead of recomputed. Left: its error over the "
        "best rank-k error of the rows seen; right: its singular values against a fresh "
        "SVD's.")


def stream_text(run) -> str:
    """The summary line of a StreamRun: blocks, rank, and the time of the updates against
    that of the fresh SVDs."""
    return (f"{len(run.steps)} blocks, rank {run.rank}: the updates took "
            f"{run.seconds_incremental * 1e3:.0f} ms in all, the fresh SVDs of the rows seen "
            f"{run.seconds_fresh * 1e3:.0f} ms.")


def stream_ratio_columns(run) -> dict:
    """{"sources": {"ratio": rows, error ratio per step}}."""
    c = run.curve()
    return {"sources": {"ratio": {_ROWS: c["rows"], _RATIO: c["error_ratio"]}}}


def stream_ratio_plot(run, step: int, height: int = 280) -> hv.Overlay:
    """Frobenius error of the incremental SVD over the optimum's, per block of rows (1:
    optimal); a dotted line at the step shown."""
    c = stream_ratio_columns(run)["sources"]["ratio"]
    return hv.Overlay([
        hv.Curve(c, _ROWS, _RATIO, label="ratio").opts(color=STEP_COLOR, line_width=2),
        hv.Scatter(c, _ROWS, _RATIO, label="ratio").opts(color=STEP_COLOR, size=6),
        hv.VLine(float(run.at(step).rows)).opts(color=STEP_COLOR, line_dash="dotted"),
    ]).opts(height=height, responsive=True, show_grid=True, show_legend=False,
            title=f"Rank {run.rank}: incremental error / Eckart–Young optimum",
            backend="bokeh")


def stream_sv_columns(step) -> dict:
    """{"sources": {"fresh", "incremental"}, "title"}: the step's top singular values."""
    i = np.arange(1, len(step.sv_fresh) + 1)
    return {"sources": {"fresh": {_I: i, _S: step.sv_fresh},
                        "incremental": {_I: i, _S: step.sv_incremental}},
            "title": (f"After {step.rows} rows: max |Δs_i| / s_1 = "
                      f"{step.max_sv_rel_error:.1e}, error ratio {step.error_ratio:.4f}")}


def stream_sv_plot(step, height: int = 280) -> hv.Overlay:
    """The step's singular values: fresh SVD (line) and incremental (points)."""
    c = stream_sv_columns(step)
    return hv.Overlay([
        hv.Curve(c["sources"]["fresh"], _I, _S, label="fresh").opts(color="#999999",
                                                                     line_width=2),
        hv.Scatter(c["sources"]["incremental"], _I, _S, label="incremental").opts(
            color=STEP_COLOR, size=6),
    ]).opts(height=height, responsive=True, show_grid=True, legend_position="top_right",
            title=c["title"], backend="bokeh")
