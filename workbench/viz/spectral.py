"""Plots of the spectral engine's results. Pure functions: results in, HoloViews elements
out (no linear algebra, no Panel).

    from workbench.spectral.playground import run_playground
    from workbench.viz.spectral import density_plot, nodes_plot, ritz_plot, race_plot
    run = run_playground("bulk+outliers", 2000); view = run.at(12)
    density_plot(run.hist_edges, run.hist_density, view.slq, view.kpm)
    ritz_plot(view.ritz, run.marks, step=12, max_steps=run.steps_run)
    race_plot(run.race)
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options even before hv.extension
import numpy as np
import pandas as pd

EXACT, SLQ, KPM, NODES = "#9a9a9a", "#1f77b4", "#ff7f0e", "#4f7cc4"
METHOD_COLORS = {"top_eigs": "#1f77b4", "power iteration": "#d62728"}
_BASE = dict(responsive=True, show_grid=True)


def _log_floor(values: np.ndarray) -> float:
    top = float(np.max(values)) if values.size else 1.0
    return max(top, 1e-300) * 1e-5


def density_plot(hist_edges, hist_density, slq=None, kpm=None, logy: bool = False,
                 title: str = "Spectral density: estimates vs exact eigenvalues",
                 height: int = 380) -> hv.Overlay:
    """The exact eigenvalue histogram (grey bars) with the SLQ (blue) and KPM (orange,
    dashed) density curves of DensityResults on top. With ``logy`` values are clipped at
    1e-5 of the histogram's peak so that empty bins and tails stay drawable."""
    edges = np.asarray(hist_edges, dtype=float)
    hist = np.asarray(hist_density, dtype=float)
    peak = max([float(hist.max()) if hist.size else 1.0]
               + [float(r.density.max()) for r in (slq, kpm) if r is not None])
    floor = _log_floor(hist) if logy else 0.0
    shown = np.maximum(hist, floor) if logy else hist
    layers = [hv.Histogram((edges, shown), kdims="eigenvalue", vdims="density",
                           label="exact").opts(
        color=EXACT, line_color="white", alpha=0.55, logy=logy, backend="bokeh")]
    for res, color, dash, name in ((slq, SLQ, "solid", "SLQ"), (kpm, KPM, "dashed", "KPM")):
        if res is None:
            continue
        label = (f"{name} ({res.num_probes} probes x {res.num_steps} "
                 f"{'steps' if name == 'SLQ' else 'moments'}, {res.num_matvecs} matvecs)")
        y = np.maximum(res.density, floor) if logy else res.density
        layers.append(hv.Curve((res.grid, y), "eigenvalue", "density", label=label).opts(
            color=color, line_width=2.2, line_dash=dash, tools=["hover"], backend="bokeh"))
    return hv.Overlay(layers).opts(
        height=height, title=title, xlabel="eigenvalue",
        ylabel="density" + (" (log)" if logy else ""), logy=logy,
        ylim=(floor, 3.0 * peak) if logy else (0.0, 1.08 * peak),
        legend_position="top_right", **_BASE, backend="bokeh")


def nodes_plot(slq, title: str = "SLQ quadrature nodes (Ritz values of every probe)",
               height: int = 320) -> hv.Overlay:
    """Every probe's Gauss nodes (Ritz values) against their weights, log y: an outlier
    holds weight ~1/n in each probe, invisible in a density, but stands alone here."""
    x = np.asarray(slq.nodes, dtype=float).ravel()
    w = np.asarray(slq.weights, dtype=float).ravel()
    probe = np.repeat(np.arange(slq.nodes.shape[0]), slq.nodes.shape[1])
    keep = w > 0
    df = pd.DataFrame({"node": x[keep], "weight": w[keep], "probe": probe[keep]})
    pts = hv.Scatter(df, "node", ["weight", "probe"], label="Ritz value (node)").opts(
        color=NODES, size=6, alpha=0.55, tools=["hover"], backend="bokeh")
    return hv.Overlay([pts]).opts(height=height, title=title, xlabel="eigenvalue",
                                  ylabel="quadrature weight (log)", logy=True,
                                  show_legend=False, **_BASE, backend="bokeh")


def ritz_plot(ritz, exact_marks, step: int, max_steps: int, clim=None,
              title: str = "Ritz values at each Lanczos step (grey dashes: exact)",
              height: int = 400
              ) -> hv.Overlay:
    """Ritz values (y) against the Lanczos step (x) for steps 1..step, coloured by their
    residual ||A y - theta y|| (log colour scale: dark = converged), with the exact
    eigenvalues as grey dashes right of the last step and the current step as a dotted
    line. The extreme Ritz values settle on the outliers within a few steps while the
    bulk fills in slowly. `clim`: residual range of the colour bar (fixed across steps)."""
    marks = np.asarray(exact_marks, dtype=float)
    df = pd.DataFrame({"step": np.asarray(ritz.step), "Ritz value": np.asarray(ritz.value),
                       "residual": np.asarray(ritz.residual)})
    opts = dict(color="residual", cmap="viridis", logz=True, colorbar=True, size=6,
                tools=["hover"], colorbar_opts={"title": "residual"})
    if clim is not None:
        opts["clim"] = tuple(float(c) for c in clim)
    pts = hv.Scatter(df, "step", ["Ritz value", "residual"], label="Ritz values").opts(
        **opts, backend="bokeh")
    x_exact = max_steps + 1.5
    exact = hv.Scatter(pd.DataFrame({"step": np.full(len(marks), x_exact),
                                     "Ritz value": marks}),
                       "step", "Ritz value", label="exact eigenvalues").opts(
        color="#555555", marker="dash", size=14, angle=0, alpha=0.8, backend="bokeh")
    now = hv.VLine(float(step)).opts(color="#444444", line_dash="dotted", line_width=1.5,
                                     backend="bokeh")
    return hv.Overlay([now, exact, pts]).opts(
        height=height, title=title, xlabel="Lanczos step (matvecs)", ylabel="Ritz value",
        xlim=(0.3, max_steps + 2.5), show_legend=False, **_BASE,
        backend="bokeh")


def race_plot(race, title: str | None = None, height: int = 300) -> hv.Overlay:
    """How many of the k largest-magnitude eigenvalues each solver has found to the race's
    tolerance (|theta_i - lambda_i| <= tol |lambda_1|) against matvecs (log x), as steps:
    top_eigs finds the outliers together, power iteration with deflation one at a time."""
    layers = []
    for name, curve in race.curves.items():
        done = "converged" if curve.converged else "budget spent"
        label = f"{name}: {curve.num_matvecs} matvecs ({done})"
        found = curve.found(race.tol)
        layers.append(hv.Curve((np.asarray(curve.matvecs), found), "matvecs",
                               "eigenvalues found", label=label).opts(
            color=METHOD_COLORS.get(name, "#333333"), line_width=2.5,
            interpolation="steps-post", tools=["hover"], backend="bokeh"))
    title = title or (f"Top-{race.k} eigenvalues found (to {race.tol:g}): top_eigs vs "
                      "power iteration")
    return hv.Overlay(layers).opts(
        height=height, title=title, xlabel="matvecs (log)", ylabel="eigenvalues found",
        logx=True, ylim=(-0.2, race.k + 0.4), legend_position="top_left", **_BASE,
        backend="bokeh")
