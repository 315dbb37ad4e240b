"""Plots of an attributed graph's clusterings (:mod:`workbench.clustering.attributed_run`):
the embedding scatter coloured by labels and the ARI of the three clusterings. Pure
shaping: views in, columns / HoloViews elements out; at most ``MAX_POINTS`` points are
sent (every s-th vertex of a larger graph).
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd

from workbench.clustering.attributed_run import UPLOAD_MAX_VERTICES
from workbench.viz.clustering import PALETTE, cluster_scatter, label_columns

MAX_POINTS = 20_000
METHOD_COLORS = {"attributed": "#2ca02c", "structure": "#1f77b4", "attributes": "#ff7f0e"}
COLOR_NAMES = {"clusters": "its clusters", "truth": "planted groups"}  #: what colours a view
ATTRIBUTED_NOTE = (
    "Vertices carry attributes (words, tags): each attribute becomes a vertex joined to "
    "those that carry it, and the Laplacian embedding of this augmented graph (AMG-"
    "preconditioned LOBPCG) finds groups that neither the edges nor the attributes reveal "
    "alone.")
#: the upload box's line: what a graph file holds
UPLOAD_TEXT = (
    f"a graph of at most {UPLOAD_MAX_VERTICES:,} vertices (.npz: `adjacency_indptr/_indices/"
    "_data`, `attributes_indptr/_indices/_data`, `attributes_shape`, optional `labels`)")


def _stride(n: int, max_points: int) -> int:
    return max(1, -(-n // max_points))


def attributed_scatter_columns(view, max_points: int = MAX_POINTS) -> dict:
    """The columns of the drawn scatter (x, y: eigenvectors 2 and 3 of the method's
    embedding; cluster and color: the labels it is coloured by), every s-th vertex."""
    step = _stride(len(view.labels), max_points)
    xy = np.asarray(view.xy)[::step]
    return {"x": xy[:, 0], "y": xy[:, 1], **label_columns(np.asarray(view.labels)[::step])}


def attributed_scatter(view, method_label: str = "", height: int = 360):
    """The embedding scatter of `view` (a Bokeh scatter of at most ``MAX_POINTS``)."""
    c = attributed_scatter_columns(view)
    xy = np.column_stack([c["x"], c["y"]])
    return cluster_scatter(xy, c["cluster"], title=scatter_title(view, method_label),
                           xlabel="u2", ylabel="u3", height=height,
                           rasterize_above=MAX_POINTS + 1)


def scatter_title(view, method_label: str = "") -> str:
    step = _stride(len(view.labels), MAX_POINTS)
    every = f", every {step}th vertex" if step > 1 else ""
    return f"Embedding ({method_label or view.method}): {COLOR_NAMES[view.color]}{every}"


def attributed_text(run) -> str:
    """The Markdown line under the tab's settings: the graph, each clustering's ARI against
    the planted groups ("n/a" without them) and seconds."""
    def fmt(m):
        return "n/a" if run.ari[m] is None else f"{run.ari[m]:.3f}"

    truth = "" if run.truth is not None else " · the file has no `labels`: no ARI"
    return (f"**{run.name}**, {run.n_edges:,} edges, {run.n_attributes:,} attributes, "
            f"k = {run.n_clusters}{truth}  \nARI: edges + attributes "
            f"**{fmt('attributed')}** · edges only {fmt('structure')} · attributes "
            f"only {fmt('attributes')} (seconds: "
            + ", ".join(f"{run.seconds[m]:.2f}" for m in METHOD_COLORS) + ")")


def ari_bars(table: pd.DataFrame, height: int = 360) -> hv.Bars:
    """ARI against the planted groups, one bar a clustering (table: method, ARI)."""
    df = table.assign(ARI=table["ARI"].astype(float).fillna(0.0))
    colors = list(METHOD_COLORS.values())[:len(df)] or [PALETTE[0]]
    return hv.Bars(df, "method", "ARI").opts(
        color=hv.dim("method").categorize(dict(zip(df["method"], colors, strict=True))),
        height=height, responsive=True, ylim=(min(0.0, float(df["ARI"].min())), 1.0),
        title="Adjusted Rand index against the planted groups", show_grid=True,
        tools=["hover"], xrotation=0, backend="bokeh")
