"""Plots of the neural-collapse run (``workbench.eigenspectra.collapse_run``): NC1-NC4
over training with the shown checkpoint marked, and the within- / between-class
covariance spectra at a checkpoint. ``*_columns(view)`` next to ``*_plot(view)``; pure
shaping.
"""

from __future__ import annotations

import numpy as np

from workbench.viz.lines import lines_columns, lines_plot

NC_LABELS = {"nc1": "NC1 tr(ΣW ΣB⁺)/C", "nc2": "NC2 means vs simplex ETF",
             "nc3": "NC3 classifier vs means", "nc4": "NC4 ≠ nearest centre"}
COLORS = {NC_LABELS["nc1"]: "#1f77b4", NC_LABELS["nc2"]: "#ff7f0e",
          NC_LABELS["nc3"]: "#2ca02c", NC_LABELS["nc4"]: "#d62728",
          "within-class ΣW": "#1f77b4", "between-class ΣB": "#d62728"}


COLLAPSE_NOTE = (
    "**Neural collapse** (Papyan, Han & Donoho 2020). Late in training, the penultimate "
    "features of each class shrink to their class mean (**NC1**: within-class variability "
    "against between-class, tr(ΣW ΣB⁺)/C, falls), the class means spread into a simplex "
    "equiangular tight frame (**NC2**: distance of their Gram matrix from the simplex's), "
    "the last layer's weights line up with the means (**NC3**) and the classifier becomes "
    "the nearest-class-centre rule (**NC4**: share of samples where they disagree). The "
    "right plot shows why NC1 falls: the within-class covariance's eigenvalues against the "
    "between-class one's (rank C − 1). *MiniLM + head*: a small MLP head trained on frozen "
    "pretrained MiniLM sentence-pair features (2 classes: NC2 is 0 by construction); loading "
    "MiniLM takes a few seconds.")
SOURCE_STATUS = {"mlp": "Training the digits MLP and measuring its collapse…",
                 "minilm": "Loading MiniLM and training a head on its features…"}
"""The progress line while a source's collapse run is computed."""


def collapse_text(view) -> str:
    """The Markdown line above the figures: the checkpoint's accuracy and NC1-NC4."""
    m = view.metrics
    return (f"**{view.label}** at {view.step_name} {view.step}: training accuracy "
            f"{view.accuracy:.1%} · NC1 = {m.nc1:.3g}, NC2 = {m.nc2:.3g}, NC3 = {m.nc3:.3g}, "
            f"NC4 = {m.nc4:.1%} · {m.num_classes} classes, {m.num_samples} samples, "
            f"features of dimension {m.dim}.")


ROUNDOFF = 1e-10  #: eigenvalues below this share of the largest are round-off


def metrics_curves(view) -> dict:
    return {NC_LABELS[k]: (view.steps, view.over[k]) for k in NC_LABELS}


def metrics_columns(view) -> dict:
    """Sources of ``metrics_plot`` ({label: {<step name>, value}}), the marker's step and
    the title."""
    return {"sources": lines_columns(metrics_curves(view), view.step_name, "value",
                                     logy=True),
            "marker": float(view.step),
            "title": f"NC1–NC4 over training · {view.label.split(' (')[0]}"}


def metrics_plot(view, height: int = 320):
    """NC1-NC4 against the training step (log y), the shown checkpoint marked."""
    return lines_plot(metrics_curves(view), view.step_name, "value", COLORS,
                      metrics_columns(view)["title"], logy=True, marker=view.step,
                      height=height, legend="right")


def spectra_curves(view) -> dict:
    w = np.asarray(view.within, dtype=float)
    b = np.asarray(view.between, dtype=float)[:max(view.metrics.num_classes - 1, 1)]
    top = max(float(w.max()) if w.size else 0.0, float(b.max()) if b.size else 0.0)
    w = np.where(w > ROUNDOFF * top, w, np.nan)  # below: round-off (dead features), not shown
    return {"within-class ΣW": (np.arange(1, w.size + 1), w),
            "between-class ΣB": (np.arange(1, b.size + 1), b)}


def spectra_columns(view) -> dict:
    """Sources of ``spectra_plot`` ({label: {index, eigenvalue}}: the within-class
    eigenvalues above ROUNDOFF x the largest, the top C - 1 between-class ones: the rest
    is round-off), this view's y range and the title."""
    cols = lines_columns(spectra_curves(view), "index", "eigenvalue", logy=True)
    vals = np.concatenate([c["eigenvalue"] for c in cols.values()])
    vals = vals[np.isfinite(vals)]
    hi = float(vals.max()) if vals.size else 1.0
    lo = max(float(vals.min()) if vals.size else 1e-6, hi * ROUNDOFF)
    m = view.metrics
    return {"sources": cols, "ylim": (lo / 2, hi * 2),
            "title": (f"Covariance spectra at {view.step_name} {view.step}: tr ΣW = "
                      f"{m.within_trace:.3g}, tr ΣB = {m.between_trace:.3g}")}


def spectra_plot(view, height: int = 320):
    """Eigenvalues of the within- and between-class covariances at one checkpoint."""
    return lines_plot(spectra_curves(view), "index", "eigenvalue", COLORS,
                      spectra_columns(view)["title"], logy=True, height=height)
