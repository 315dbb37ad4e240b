"""Plots of per-layer curvature ("which layers are sharp"): horizontal bars of a number per
block (top eigenvalue, trace) in the network's order, the selected block highlighted, the
trace's standard errors as error bars, and the density of one block. Pure functions: a ``workbench.hessian.layers`` LayerRun /
LayerView in, columns or HoloViews elements out.

    bars = layer_bars_plot(lrun.table(), "top_eigenvalue", selected="2")
    cols = layer_bars_columns(lrun.table(), "top_eigenvalue", selected="4")  # in place
    layer_bars_plot(lrun.table(), "trace")   # bars and error bars (one std. error)
    layer_density_plot(lrun.at(block="2"))
"""

from __future__ import annotations

import re

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options even before hv.extension
import numpy as np
import pandas as pd

from workbench.viz import hessian as vh

SELECTED, SHARPEST, OTHER, UNREACHED = "#d62728", "#ff7f0e", "#4c72b0", "#bbbbbb"
METRICS = {"top_eigenvalue": "top eigenvalue", "trace": "trace"}
_LAYER = re.compile(r"^(?:.*\.)?(?:layer|layers|h|block|blocks)\.(\d+)\.(attention|mlp)$")
LAYERS_TEXT = (
    "**Which layers are sharp.** The Hessian restricted to one layer's (or module's) "
    "parameters is a diagonal block of the full Hessian; its top eigenvalue and trace say "
    "how sharply the loss curves along that layer's weights alone. Each block costs a few "
    "dozen Hessian-vector products of the whole model. Pick a block to see its spectral "
    "density. *MiniLM*: the pretrained sentence encoder (22.7M parameters) under a "
    "paraphrase head on bundled sentence pairs, split into the attention and the MLP of "
    "each layer; this takes minutes on a CPU.")
#: column names of a LayerView's table as the page's table shows them
TABLE_NAMES = {"num_params": "parameters", "top_eigenvalue": "top eigenvalue",
               "trace_std": "trace ± (std. error)", "num_matvecs": "HVPs"}


def layers_text(lrun) -> str:
    """The summary line of a LayerRun (Markdown): parameters, blocks, the sharpest block,
    products, seconds and the operator's memory plan."""
    blocks, labels = lrun.blocks(), list(lrun.spectra["label"])
    return (f"**{lrun.description}**: {lrun.num_params:,} parameters in {len(blocks)} "
            f"blocks; sharpest: **{labels[blocks.index(lrun.sharpest())]}**; "
            f"{lrun.num_matvecs:,} Hessian-vector products in {lrun.seconds:.1f} s · "
            f"{lrun.plan_text()}")


def short_name(block: str) -> str:
    """A readable label of a block name: "encoder.encoder.layer.3.attention" -> "layer 3
    attention"; other names unchanged."""
    m = _LAYER.match(block)
    return f"layer {m.group(1)} {m.group(2)}" if m else block


def layer_bars_columns(table: pd.DataFrame, metric: str = "top_eigenvalue",
                       selected: str | None = None) -> dict:
    """The data of ``layer_bars_plot`` as its rendered Bokeh source holds it: "source"
    ({block, label, value, num_params, color}: one row a block, in the network's order
    from the top, the selected block red, the one with the largest value orange, blocks
    the loss does not reach grey), "factors" (the labels, for the categorical axis) and
    "lim" (the value axis: 0 up to the largest value, padded) and "errors": for the trace
    (a stochastic estimate: XTrace from a few products a block) the error bars of one
    standard error (table column "trace_std") as the rendered Whisker source holds them
    ({base: labels, lower, upper}, same order), else None. O(blocks)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    values = np.asarray(table[metric], dtype=float)
    blocks = [str(b) for b in table["block"]]
    top = int(np.argmax(values)) if values.size else -1
    notes = list(table["note"]) if "note" in table else [""] * len(blocks)
    colors = [SELECTED if b == selected else SHARPEST if i == top
              else UNREACHED if "not reached" in str(notes[i]) else OTHER
              for i, b in enumerate(blocks)]
    labels = [str(x) for x in table["label"]] if "label" in table else \
        [short_name(b) for b in blocks]
    # bars from the top down in the network's order: the categorical axis counts upwards
    src = {"label": labels[::-1], "value": values[::-1], "block": blocks[::-1],
           "num_params": np.asarray(table["num_params"], dtype=float)[::-1],
           "color": colors[::-1]}
    errors, ends = None, values
    if metric == "trace" and "trace_std" in table:
        se = np.nan_to_num(np.abs(np.asarray(table["trace_std"], dtype=float)))
        errors = {"base": labels[::-1], "lower": (values - se)[::-1],
                  "upper": (values + se)[::-1]}
        ends = np.concatenate([values - se, values + se])
    lo = min(0.0, float(ends.min())) if ends.size else 0.0
    hi = max(0.0, float(ends.max())) if ends.size else 1.0
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    return {"source": src, "factors": labels[::-1],
            "lim": (lo - pad if lo < 0 else 0.0, hi + pad), "errors": errors}


def layer_bars_title(metric: str, name: str = "") -> str:
    what = "Top eigenvalue" if metric == "top_eigenvalue" else "Trace (± std. error)"
    return f"{what} per block" + (f" ({name})" if name else "")


def layer_bars_plot(table: pd.DataFrame, metric: str = "top_eigenvalue",
                    selected: str | None = None, name: str = "",
                    height: int | None = None) -> hv.Bars | hv.Overlay:
    """Horizontal bars of `metric` ("top_eigenvalue" or "trace") per block of a
    ``LayerRun.table()``, the network's first block on top; colours as in
    ``layer_bars_columns``; the trace with error bars of one standard error (an Overlay:
    the bars are its source "0", the whiskers "1"). Height grows with the number of
    blocks. O(blocks)."""
    cols = layer_bars_columns(table, metric, selected)
    df = pd.DataFrame(cols["source"])
    height = height or max(260, 60 + 24 * len(df))
    label = hv.Dimension("label", label="layer / module")
    value = hv.Dimension("value", label=METRICS[metric])
    bars = hv.Bars(df, label, [value, "block", "num_params", "color"]).opts(
        invert_axes=True, color="color", height=height, tools=["hover"],
        title=layer_bars_title(metric, name), responsive=True, show_grid=True,
        ylim=cols["lim"], backend="bokeh")
    if cols["errors"] is None:
        return bars
    e = cols["errors"]
    err = pd.DataFrame({"label": e["base"], "value": df["value"],
                        "err": np.asarray(e["upper"]) - df["value"].to_numpy()})
    whiskers = hv.ErrorBars(err, label, [value, "err"]).opts(
        invert_axes=True, color="#808080", line_width=1.5, backend="bokeh")
    return (bars * whiskers).opts(responsive=True, height=height,
                                  title=layer_bars_title(metric, name), backend="bokeh")


def layer_density_title(view) -> str:
    return (f"Hessian density of block {getattr(view, 'label', short_name(view.block))} "
            f"({view.num_params:,} parameters; λ1 = {view.top_values[0]:.4g})")


def layer_density_plot(view, logy: bool = True, height: int = 320) -> hv.Overlay:
    """The density of one block (a LayerView) with its top eigenvalues as spikes, drawn by
    ``viz.hessian.density_plot(..., all_roles=True)`` (``layer_density_columns`` updates
    it in place). O(grid + k)."""
    return vh.density_plot(view.grid, view.density, view.top_values, 0, None, logy=logy,
                           title=layer_density_title(view), height=height, all_roles=True)


def layer_density_columns(view, logy: bool = True) -> dict:
    """``viz.hessian.density_columns`` of a LayerView (area, markers, xlim, ylim)."""
    return vh.density_columns(view.grid, view.density, view.top_values, 0, None, logy=logy)
