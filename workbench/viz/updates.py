"""Plots of weight-update spectra (:class:`workbench.lowrank.update_run.UpdateView`): the
singular values of dW with the kept ones, the energy kept per rank with the target, and the
rank-r error of the Eckart–Young optimum. Pure shaping: views in, columns / HoloViews out.

Markers: the rank r is a dotted line in ``RANK_COLOR``; the rank a LoRA adapter needs for
the energy target (and the target itself) a dashed line in ``TARGET_COLOR``.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options
import numpy as np

RANK_COLOR = "#2f4b7c"
TARGET_COLOR = "#d62728"
_X_SV, _Y_SV = "index i", "singular value s_i"
_X_R = "rank r"
TEXT = ("ΔW = W(after) − W(before) per layer of the digits MLP this workbench trains "
        "(64-256-128-10): how many directions did training move? Grey: all singular values "
        "of ΔW (log scale), blue: the r kept, dotted: your rank r; red dashed: the energy "
        "target and the rank it needs. Right: ‖ΔW − [ΔW]_r‖_F / ‖ΔW‖_F, the best any rank-r "
        "adapter can do.")
#: what an uploaded adapter file holds (the upload box's line)
ADAPTER_FILE = ("a LoRA adapter (.safetensors / .npz with `<layer>.lora_A.weight` r x n and "
                "`<layer>.lora_B.weight` m x r)")


def updates_text(run, view) -> str:
    """The summary line of an UpdateView of `run` (Markdown): the rank the energy target
    needs, and the energy and best error at the rank chosen."""
    lora = f" · adapter rank {view.lora_rank}" if view.lora_rank else ""
    return (f"**{run.label}** · {view.layer} ({view.shape[0]} x {view.shape[1]}){lora}  \n"
            f"A LoRA adapter needs rank **{view.rank_for_energy}** to keep "
            f"{view.energy:.1%} of ‖ΔW‖²_F · rank **{view.rank}** keeps "
            f"**{view.energy_at_rank:.1%}**, best relative error "
            f"**{view.error_at_rank:.4f}** (Eckart–Young)")


def update_sv_title(view) -> str:
    """Title of the singular value plot of an UpdateView."""
    return f"s_i of ΔW: {view.layer} ({view.shape[0]} x {view.shape[1]})"


def _floor(s: np.ndarray) -> float:
    """Singular values below s_1 * 1e-10 (rounding: an input pixel that never varies
    leaves a zero column) are drawn there, so they do not stretch the log axis."""
    return float(s[0]) * 1e-10 if len(s) and s[0] > 0 else 1e-300


def _named(name: str):
    """A hook naming the Bokeh model of a marker line (``LiveFigure.move_span`` finds it)."""
    def hook(plot, _element):
        plot.handles["glyph"].name = name
    return hook


def _line(x: float, name: str, color: str, dash: str, hline: bool = False):
    """A marker line at `x` named `name` (vertical; `hline`: horizontal)."""
    return (hv.HLine if hline else hv.VLine)(x).opts(color=color, line_dash=dash,
                                                     line_width=1.5, hooks=[_named(name)])


def update_sv_columns(view) -> dict:
    """``LiveFigure.write_columns`` of ``update_sv_plot``: "sources" (the r kept s_i),
    "layer" (every s_i: written when the layer changes; zeros lifted to the log floor),
    "spans" (the rank and the energy target's rank) and "title"."""
    s = np.asarray(view.singular_values, dtype=np.float64)
    y = np.maximum(s, _floor(s))
    i = np.arange(1, len(s) + 1)
    return {"sources": {"kept": {_X_SV: i[:view.rank], _Y_SV: y[:view.rank]}},
            "layer": {"all": {_X_SV: i, _Y_SV: y}},
            "spans": {"rank": view.rank + 0.5, "target": view.rank_for_energy + 0.5},
            "title": update_sv_title(view)}


def update_sv_plot(view, height: int = 300) -> hv.Overlay:
    """Singular values of the update (log y), the kept r highlighted, markers at r and at
    the rank for the energy target."""
    c = update_sv_columns(view)
    return hv.Overlay([
        hv.Curve(c["layer"]["all"], _X_SV, _Y_SV, label="all").opts(color="#999999",
                                                                    line_width=1.5),
        hv.Scatter(c["sources"]["kept"], _X_SV, _Y_SV, label="kept").opts(color=RANK_COLOR,
                                                                          size=6),
        _line(view.rank + 0.5, "rank", RANK_COLOR, "dotted"),
        _line(view.rank_for_energy + 0.5, "target", TARGET_COLOR, "dashed"),
    ]).opts(logy=True, height=height, responsive=True, show_grid=True, tools=["hover"],
            show_legend=False, title=c["title"], backend="bokeh")


def energy_columns(view) -> dict:
    """``LiveFigure.write_columns`` of ``energy_plot``: "sources" (the point at the rank),
    "layer" (energy kept by r = 0..k), "spans" (the rank, the target's rank, the target)."""
    e = np.concatenate([[0.0], np.asarray(view.energy_curve, dtype=np.float64)])
    return {"sources": {"at r": {_X_R: np.array([view.rank]),
                                 "energy kept": np.array([e[view.rank]])}},
            "layer": {"energy": {_X_R: np.arange(len(e)), "energy kept": e}},
            "spans": {"rank": view.rank, "target": view.rank_for_energy,
                      "energy target": view.energy}}


def energy_plot(view, height: int = 300) -> hv.Overlay:
    """Energy kept (sum of the r largest s_i^2 / sum of all) against r, the target as a
    dashed line and the rank it needs, the chosen rank dotted."""
    c = energy_columns(view)
    return hv.Overlay([
        hv.Curve(c["layer"]["energy"], _X_R, "energy kept", label="energy").opts(
            color=RANK_COLOR, line_width=2),
        hv.Scatter(c["sources"]["at r"], _X_R, "energy kept", label="at r").opts(
            color=RANK_COLOR, size=9),
        _line(view.energy, "energy target", TARGET_COLOR, "dashed", hline=True),
        _line(view.rank_for_energy, "target", TARGET_COLOR, "dashed"),
        _line(view.rank, "rank", RANK_COLOR, "dotted"),
    ]).opts(height=height, responsive=True, show_grid=True, ylim=(0, 1.02), tools=["hover"],
            show_legend=False, title="Energy kept by rank r",
            backend="bokeh")


def error_columns(view) -> dict:
    """``LiveFigure.write_columns`` of ``error_plot``: "sources" (the point at r), "layer"
    (||dW - [dW]_r||_F / ||dW||_F for r = 0..k) and "spans" (the rank)."""
    e = np.asarray(view.error_curve, dtype=np.float64)
    return {"sources": {"at r": {_X_R: np.array([view.rank]),
                                 "relative error": np.array([e[view.rank]])}},
            "layer": {"optimum": {_X_R: np.arange(len(e)), "relative error": e}},
            "spans": {"rank": view.rank}}


def error_plot(view, height: int = 300) -> hv.Overlay:
    """The rank-r error of the Eckart–Young optimum (the best any rank-r adapter can do)
    with the chosen rank marked."""
    c = error_columns(view)
    return hv.Overlay([
        hv.Curve(c["layer"]["optimum"], _X_R, "relative error", label="optimum").opts(
            color="#222222", line_dash="dashed", line_width=2),
        hv.Scatter(c["sources"]["at r"], _X_R, "relative error", label="at r").opts(
            color=RANK_COLOR, size=9),
        _line(view.rank, "rank", RANK_COLOR, "dotted"),
    ]).opts(height=height, responsive=True, show_grid=True, ylim=(0, 1.02), tools=["hover"],
            show_legend=False, title="Best rank-r error (Eckart–Young)", backend="bokeh")
