"""Plots of curvature spectra and training runs. Pure functions: arrays / results in,
HoloViews elements out (no eigenvalue computation, no Panel).

    from workbench.hessian.spectrum import density_curve
    from workbench.viz.hessian import density_plot, sharpness_plot
    grid, dens = density_curve(spec.density)
    density_plot(grid, dens, spec.top_values, spec.num_outliers, spec.min_value)
    sharpness_plot(run.sharpness_steps, run.sharpness, lr=0.4)

The density and top-k functions also take a ``workbench.hessian.HessianView`` (what
``HessianRun.at(...)`` returns) in place of the arrays: ``density_plot(view)``,
``density_columns(view, logy=...)``, ``top_eigs_columns(view)``.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options even before hv.extension
import numpy as np
import pandas as pd

OUTLIER, TOPK, NEGATIVE, BULK = "#d62728", "#7f7f7f", "#1f77b4", "#4c72b0"
KIND_COLORS = {"hessian": "#1f77b4", "ggn": "#ff7f0e", "fisher": "#2ca02c"}
KIND_LABELS = {"hessian": "Hessian", "ggn": "Gauss-Newton (GGN)", "fisher": "empirical Fisher"}
_BASE = dict(responsive=True, show_grid=True)
#: colours of curves that are not one of the three curvatures (e.g. a model's layers)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def _floor(density: np.ndarray, logy: bool) -> float:
    top = float(np.max(density)) if density.size else 1.0
    return max(top, 1e-300) * 1e-5 if logy else 0.0


ROLES = (("top-k", TOPK, "dotted"), ("outlier", OUTLIER, "solid"),
         ("most negative", NEGATIVE, "dashed"))
SEGMENT_COLUMNS = ("x0", "y0", "x1", "y1", "role", "name")


def _unpack(view_or_grid, density, top_values, num_outliers, min_value):
    """(grid, density, top_values, num_outliers, min_value) of a HessianView or of the
    arrays given."""
    if hasattr(view_or_grid, "grid"):
        v = view_or_grid
        return v.grid, v.density, v.top_values, v.num_outliers, v.min_value
    return view_or_grid, density, top_values, num_outliers, min_value


def density_title(view) -> str:
    """Title of the density plot of a HessianView."""
    return (f"Hessian spectral density at step {view.step} ({view.num_outliers} outliers, "
            f"{view.num_classes} classes)")


def top_eigs_title(view) -> str:
    """Title of the top-k plot of a HessianView."""
    return f"Top {len(view.top_values)} eigenvalues at step {view.step}"


def over_training_title(view) -> str:
    """Title of the over-training plot of a HessianView (earlier checkpoints may still be
    computing)."""
    return ("Top eigenvalues at the checkpoints" if view.checkpoints_ready
            else "Top eigenvalues (earlier checkpoints: computing…)")


def model_density_title(label: str, view) -> str:
    """Title of the density plot of a ModelView of the model called `label`."""
    return (f"Hessian spectral density of {label} ({view.num_outliers} outliers, "
            f"broadening {view.broadening:g})")


def model_summary(run, view) -> str:
    """The summary of a model's Hessian run (Markdown): size, loss, λ1, λmin, trace,
    outliers, products, and a table of its layers' top eigenvalues and traces."""
    rows = "\n".join(f"| {r.block} | {r.num_params:,} | {r.top_eigenvalue:.4g} | "
                     f"{r.trace:.4g} ± {r.trace_std:.2g} |" for r in view.layers.itertuples())
    return (f"**{view.num_params:,} parameters**, loss {run.loss:.4g} · "
            f"λ1 = {view.top_values[0]:.4g}, λmin = {view.min_value:.3g} · "
            f"trace = {view.trace:.4g} ± {view.trace_std:.2g} (XTrace) · "
            f"**{view.num_outliers} outliers** · {view.num_matvecs:,} Hessian-vector "
            f"products\n\n| layer | parameters | top eigenvalue | trace |\n|---|---|---|---|\n"
            + rows)


def _density_parts(grid, density, top_values, num_outliers, min_value, logy):
    """What density_plot draws: grid, clipped density, baseline, and the marker segments
    per role ({role: list of (x0, y0, x1, y1, role, name)})."""
    grid, density, top_values, num_outliers, min_value = _unpack(
        grid, density, top_values, num_outliers, min_value)
    grid = np.asarray(grid, dtype=float)
    dens = np.asarray(density, dtype=float)
    lo = _floor(dens, logy)
    peak = float(dens.max()) if dens.size else 1.0
    y = np.maximum(dens, lo) if logy else dens
    base = np.full_like(y, lo if logy else 0.0)
    top = np.asarray(top_values, dtype=float)
    rows = {role: [] for role, _, _ in ROLES}
    for i, v in enumerate(top):
        role = "outlier" if i < num_outliers else "top-k"
        rows[role].append((v, lo, v, peak, role, f"λ{i + 1}"))
    if min_value is not None and np.isfinite(min_value) and min_value < 0:
        rows["most negative"].append((min_value, lo, min_value, peak, "most negative", "λmin"))
    return grid, y, base, lo, peak, rows


def density_plot(grid, density=None, top_values=(), num_outliers: int = 0,
                 min_value: float | None = None, logy: bool = True, title: str = "",
                 height: int = 340, all_roles: bool = False) -> hv.Overlay:
    """The spectral density (area under the curve = 1) with the top-k eigenvalues as spikes:
    outliers red, the other top-k grey, the most negative eigenvalue (if < 0) blue. With
    ``logy`` the density is clipped at 1e-5 of its peak so the tails and the isolated
    outliers stay visible. ``all_roles`` keeps a (possibly empty) layer per marker role, for
    a plot whose data `density_columns` replaces later. `grid` may be a HessianView (then
    the title defaults to ``density_title(view)``). O(len(grid) + k)."""
    if hasattr(grid, "grid") and not title:
        title = density_title(grid)
    grid, y, base, _, _, rows = _density_parts(grid, density, top_values, num_outliers,
                                               min_value, logy)
    curve = hv.Area((grid, y, base), "eigenvalue", ["density", "baseline"]).opts(
        color=BULK, alpha=0.35, line_color=BULK, line_width=1.5, logy=logy,
        tools=["hover"], backend="bokeh")
    layers = [curve]
    for role, color, dash in ROLES:
        if rows[role] or all_roles:
            sub = pd.DataFrame(rows[role], columns=list(SEGMENT_COLUMNS))
            layers.append(hv.Segments(sub, ["x0", "y0", "x1", "y1"], ["role", "name"],
                                      label=role).opts(
                color=color, line_width=2, line_dash=dash, tools=["hover"], backend="bokeh"))
    return hv.Overlay(layers).opts(
        height=height, title=title, xlabel="eigenvalue", ylabel="density" +
        (" (log)" if logy else ""), legend_position="top_right", logy=logy, **_BASE,
        backend="bokeh")


def density_columns(grid, density=None, top_values=(), num_outliers: int = 0,
                    min_value: float | None = None, logy: bool = True) -> dict:
    """The data of ``density_plot(..., all_roles=True)`` as its rendered Bokeh sources hold
    it, for updating a shown plot in place instead of rendering a new one: "area" ({x, y}:
    the outline of the filled band, as HoloViews draws an Area), "markers" ({role: {x0,
    y0, x1, y1, role, name}}, possibly empty), and the axis limits "xlim" (grid and
    markers) and "ylim" (the clip floor or 0 up to above the peak). O(len(grid) + k)."""
    grid, y, base, lo, peak, rows = _density_parts(grid, density, top_values,
                                                   num_outliers, min_value, logy)
    out = {"area": {"x": np.concatenate([grid, grid[::-1]]),
                    "y": np.concatenate([base, y[::-1]])}}
    xs = [grid[:1], grid[-1:]]
    out["markers"] = markers = {}
    for role, _, _ in ROLES:
        cols = list(zip(*rows[role], strict=True)) or [()] * len(SEGMENT_COLUMNS)
        markers[role] = {name: np.asarray(col, dtype=float) if i < 4 else list(col)
                     for i, (name, col) in enumerate(zip(SEGMENT_COLUMNS, cols,
                                                         strict=True))}
        xs.append(markers[role]["x0"])
    xs = np.concatenate(xs) if grid.size else np.array([0.0, 1.0])
    x0, x1 = float(xs.min()), float(xs.max())
    top = max(peak, 1e-300)
    out["xlim"] = (x0, x1) if x1 > x0 else (x0 - 1.0, x1 + 1.0)
    out["ylim"] = (lo, top * 2.5) if logy else (0.0, top * 1.08)
    return out


def _top_columns(values, num_outliers: int) -> dict:
    v = np.asarray(values, dtype=float)
    out = [i < num_outliers for i in range(v.size)]
    return {"index": [f"λ{i + 1}" for i in range(v.size)], "eigenvalue": v,
            "role": ["outlier" if o else "bulk / top-k" for o in out],
            "color": [OUTLIER if o else TOPK for o in out]}


def top_eigs_plot(values, num_outliers: int = 0, title: str = "Top eigenvalues",
                  height: int = 300) -> hv.Bars:
    """Bars of the top-k eigenvalues (λ1 the largest), outliers red; `values` may be a
    HessianView (its top-k, titled by ``top_eigs_title``). O(k)."""
    if hasattr(values, "top_values"):
        values, num_outliers, title = (values.top_values, values.num_outliers,
                                       top_eigs_title(values))
    df = pd.DataFrame(_top_columns(values, num_outliers))
    return hv.Bars(df, "index", ["eigenvalue", "role", "color"]).opts(
        color="color", height=height, title=title, tools=["hover"], xlabel="",
        ylabel="eigenvalue", xrotation=90 if len(df) > 12 else 0, **_BASE, backend="bokeh")


def top_eigs_columns(values, num_outliers: int = 0) -> dict:
    """The data of `top_eigs_plot` as its rendered Bokeh source holds it ({index,
    eigenvalue, role, color}), the bar labels "factors" and "ylim" (0 and the extreme
    values, padded), for updating a shown plot in place; `values` may be a HessianView.
    O(k)."""
    if hasattr(values, "top_values"):
        values, num_outliers = values.top_values, values.num_outliers
    cols = _top_columns(values, num_outliers)
    v = cols["eigenvalue"]
    lo = min(0.0, float(v.min())) if v.size else 0.0
    hi = max(0.0, float(v.max())) if v.size else 1.0
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    return {"source": cols, "factors": list(cols["index"]),
            "ylim": (lo - pad if lo < 0 else 0.0, hi + pad)}


def loss_plot(steps, loss, snapshot_steps=(), snapshot_loss=(), current_step=None,
              height: int = 300, title: str = "Training loss") -> hv.Overlay:
    """Loss per step (log y), the full-data loss at the snapshots as dots, the shown
    checkpoint as a vertical line."""
    st = np.asarray(steps, dtype=float)
    ls = np.maximum(np.asarray(loss, dtype=float), 1e-12)
    layers = [hv.Curve((st, ls), "step", "loss", label="loss of the step's batch").opts(
        color="#555555", line_width=1.5, tools=["hover"], backend="bokeh")]
    if len(snapshot_steps):
        layers.append(hv.Scatter((np.asarray(snapshot_steps, float),
                                  np.maximum(np.asarray(snapshot_loss, float), 1e-12)),
                                 "step", "loss", label="full-data loss at checkpoints").opts(
            color=OUTLIER, size=8, tools=["hover"], backend="bokeh"))
    if current_step is not None:
        layers.append(hv.VLine(float(current_step)).opts(color=OUTLIER, line_dash="dashed",
                                                         line_width=1, backend="bokeh"))
    return hv.Overlay(layers).opts(height=height, title=title, logy=True,
                                   legend_position="top_right", **_BASE, backend="bokeh")


def sharpness_plot(steps, sharpness, lr: float, current_step=None, height: int = 300,
                   title: str = "Sharpness (top Hessian eigenvalue) vs 2/η") -> hv.Overlay:
    """Tracked sharpness over training against the stability threshold 2/lr of gradient
    descent (dashed). When 2/lr is more than 3x the largest sharpness (small steps, SGD)
    the y range follows the sharpness and the legend gives the threshold's value."""
    st = np.asarray(steps, dtype=float)
    sh = np.asarray(sharpness, dtype=float)
    thr = 2.0 / float(lr)
    smax = float(sh.max()) if sh.size else 0.0
    top = (max(smax, thr) if thr <= 3 * smax or smax <= 0 else smax) * 1.15
    layers = [hv.Curve((st, sh), "step", "sharpness", label="sharpness λ1").opts(
                  color="#1f77b4", line_width=2, tools=["hover"], backend="bokeh"),
              hv.Scatter((st, sh), "step", "sharpness").opts(color="#1f77b4", size=4,
                                                             backend="bokeh"),
              hv.Curve(([st.min() if st.size else 0.0, st.max() if st.size else 1.0],
                        [thr, thr]), "step", "sharpness", label=f"2/η = {thr:.3g}" + (" (above the plot)" if thr > top else "")).opts(
                  color=OUTLIER, line_dash="dashed", line_width=2, backend="bokeh")]
    if current_step is not None:
        layers.append(hv.VLine(float(current_step)).opts(color=OUTLIER, line_dash="dotted",
                                                         line_width=1, backend="bokeh"))
    return hv.Overlay(layers).opts(height=height, title=title, ylim=(0, top),
                                   legend_position="bottom_right", **_BASE, backend="bokeh")


def over_training_plot(steps, top_values, num_outliers=(), current_step=None,
                       num_show: int = 6, height: int = 300,
                       title: str = "Top eigenvalues at the checkpoints") -> hv.Overlay:
    """λ1..λ{num_show} at each checkpoint (rows of `top_values`: one per step), the shown
    checkpoint marked."""
    st = np.asarray(steps, dtype=float)
    tv = np.atleast_2d(np.asarray(top_values, dtype=float))
    layers = []
    for j in range(min(num_show, tv.shape[1])):
        col = OUTLIER if j == 0 else TOPK
        layers.append(hv.Curve((st, tv[:, j]), "step", "eigenvalue", label=f"λ{j + 1}" if j < 1
                               else "λ2…").opts(color=col, alpha=1.0 if j == 0 else 0.6,
                                                line_width=2, tools=["hover"],
                                                backend="bokeh"))
        if j == 0:
            layers.append(hv.Scatter((st, tv[:, j]), "step", "eigenvalue").opts(
                color=col, size=6, backend="bokeh"))
    if current_step is not None:
        layers.append(hv.VLine(float(current_step)).opts(color=OUTLIER, line_dash="dashed",
                                                         line_width=1, backend="bokeh"))
    return hv.Overlay(layers).opts(height=height, title=title, legend_position="top_left",
                                   **_BASE, backend="bokeh")


def _compare_curves(curves, logy: bool):
    curves = getattr(curves, "curves", curves)  # a CompareView or {kind: (grid, density)}
    peak = max((float(np.max(d)) for _, d in curves.values() if len(d)), default=1.0)
    lo = peak * 1e-5 if logy else 0.0
    out = {}
    for kind, (g, d) in curves.items():
        d = np.asarray(d, float)
        out[kind] = (np.asarray(g, float), np.where(d >= lo, d, np.nan) if logy else d)
    return out, lo, peak


def compare_density_plot(curves: dict, logy: bool = True, height: int = 340,
                         title: str = "Spectral densities on the same model") -> hv.Overlay:
    """Densities of several curvatures overlaid: curves = {kind: (grid, density)}. With
    ``logy`` values below 1e-5 of the highest peak are left out (gaps, not a floor).
    O(total grid points)."""
    shown, _, _ = _compare_curves(curves, logy)
    layers = []
    for i, (kind, (g, y)) in enumerate(shown.items()):
        layers.append(hv.Curve((g, y), "eigenvalue", "density",
                               label=KIND_LABELS.get(kind, kind)).opts(
            color=KIND_COLORS.get(kind, PALETTE[i % len(PALETTE)]), line_width=2,
            tools=["hover"], backend="bokeh"))
    return hv.Overlay(layers).opts(height=height, title=title, logy=logy,
                                   legend_position="top_right", **_BASE, backend="bokeh")


def compare_density_columns(curves: dict, logy: bool = True) -> dict:
    """The data of `compare_density_plot` as its rendered Bokeh sources hold it: {legend
    label: {eigenvalue, density}}, plus "xlim" (the grids) and "ylim" (1e-5 of the highest
    peak or 0, to above the peak), for updating a shown plot in place. O(total grid
    points)."""
    shown, lo, peak = _compare_curves(curves, logy)
    out = {"sources": {KIND_LABELS.get(kind, kind): {"eigenvalue": g, "density": y}
                       for kind, (g, y) in shown.items()}}
    xs = [g for g, _ in shown.values() if g.size]
    out["xlim"] = ((float(min(g.min() for g in xs)), float(max(g.max() for g in xs)))
                   if xs else (0.0, 1.0))
    top = max(peak, 1e-300)
    out["ylim"] = (lo, top * 2.5) if logy else (0.0, top * 1.08)
    return out


SHORT = {"hessian": "H", "ggn": "GGN", "fisher": "F"}


def compare_top_plot(table: pd.DataFrame, height: int = 300,
                     title: str = "Top eigenvalues side by side: H = Hessian (blue), "
                                  "GGN = Gauss-Newton (orange), F = empirical Fisher "
                                  "(green)") -> hv.Bars:
    """Grouped bars from a table with columns index (λ1, λ2, ...), kind and eigenvalue (or
    a CompareView: its first 8); short labels (H, GGN, F) inside each group, colours as
    in compare_density_plot."""
    df = table.copy() if isinstance(table, pd.DataFrame) else table.table()
    df["curvature"] = df["kind"].map(lambda k: SHORT.get(k, k))
    df["color"] = df["kind"].map(lambda k: KIND_COLORS.get(k, "#333333"))
    order = [SHORT[k] for k in ("hessian", "ggn", "fisher") if k in set(df["kind"])]
    order += [c for c in dict.fromkeys(df["curvature"]) if c not in order]
    kd = ["index", hv.Dimension("curvature", values=order)]
    return hv.Bars(df, kd, ["eigenvalue", "color"]).opts(
        height=height, title=title, tools=["hover"], xlabel="", ylabel="eigenvalue",
        color="color", multi_level=True, fontsize={"title": 10}, **_BASE, backend="bokeh")


def layer_top_columns(table: pd.DataFrame) -> dict:
    """The data of `layer_top_plot` ({layer, top eigenvalue, trace}) from a table with
    columns block, top_eigenvalue, trace (``ModelView.layers``)."""
    return {"layer": [str(b) for b in table["block"]],
            "top eigenvalue": np.asarray(table["top_eigenvalue"], dtype=float),
            "trace": np.asarray(table["trace"], dtype=float)}


def layer_top_plot(table: pd.DataFrame, height: int = 300,
                   title: str = "Top eigenvalue of each layer's Hessian block") -> hv.Bars:
    """Bars of each layer's top eigenvalue (hover: its trace). O(layers)."""
    df = pd.DataFrame(layer_top_columns(table))
    return hv.Bars(df, "layer", ["top eigenvalue", "trace"]).opts(
        color=BULK, height=height, title=title, tools=["hover"], xlabel="",
        xrotation=90 if len(df) > 8 else 0, **_BASE, backend="bokeh")
