"""Plots of the spectral engine's results. Pure functions: results in, HoloViews elements
out (no linear algebra, no Panel).

    from workbench.spectral.playground import run_playground
    from workbench.viz.spectral import density_plot, nodes_plot, ritz_plot, race_plot
    run = run_playground("bulk+outliers", 2000); view = run.at(12)
    density_plot(run.hist_edges, run.hist_density, view.slq, view.kpm)
    ritz_plot(view.ritz, run.marks, max_steps=run.steps_run)
    race_plot(run.race)

The ``*_columns`` functions give the data a layer draws (the columns of its Bokeh source):
a dashboard renders each figure once and then writes new columns into it per step, which
costs a few ms instead of a HoloViews re-render.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options even before hv.extension
import numpy as np

EXACT, SLQ, KPM, NODES = "#9a9a9a", "#1f77b4", "#ff7f0e", "#4f7cc4"
METHOD_COLORS = {"top_eigs": "#1f77b4", "power iteration": "#d62728"}
_BASE = dict(responsive=True, show_grid=True)
DENSITY_TITLE = "Spectral density: SLQ and KPM vs the exact eigenvalues"
NODES_TITLE = "SLQ quadrature nodes (Ritz values of every probe)"
RITZ_TITLE = "Ritz values per Lanczos step (grey dashes: exact)"
NODES_LABEL, RITZ_LABEL = "Ritz value (node)", "Ritz values"


def log_floor(hist_density) -> float:
    """Lowest value drawn on a log density axis: 1e-5 of the histogram's peak."""
    h = np.asarray(hist_density, dtype=float)
    top = float(np.max(h)) if h.size else 1.0
    return max(top, 1e-300) * 1e-5


def exact_histogram(hist_edges, hist_density, logy: bool = False) -> hv.Histogram:
    """The exact eigenvalue histogram as grey bars (clipped at log_floor with logy)."""
    hist = np.asarray(hist_density, dtype=float)
    floor = log_floor(hist)
    shown = np.maximum(hist, floor) if logy else hist
    el = hv.Histogram((np.asarray(hist_edges, dtype=float), shown), kdims="eigenvalue",
                      vdims="density", label="exact").opts(
        color=EXACT, line_color="white", alpha=0.55, logy=logy, backend="bokeh")
    return el.opts(ylim=(floor, None), backend="bokeh") if logy else el


def density_columns(res, floor: float = 0.0) -> dict:
    """The columns a density curve draws: ``eigenvalue`` (the grid) and ``density`` of a
    DensityResult, values below `floor` raised to it (for a log axis)."""
    y = np.maximum(res.density, floor) if floor > 0 else np.asarray(res.density)
    return {"eigenvalue": np.asarray(res.grid), "density": y}


def density_curves(slq=None, kpm=None, floor: float = 0.0) -> hv.Overlay:
    """The SLQ (blue) and KPM (orange, dashed) density curves of DensityResults, values
    below `floor` raised to it (for a log axis)."""
    layers = []
    for res, color, dash, name in ((slq, SLQ, "solid", "SLQ"), (kpm, KPM, "dashed", "KPM")):
        if res is None:
            continue
        layers.append(hv.Curve(density_columns(res, floor), "eigenvalue", "density",
                               label=name).opts(
            color=color, line_width=2.2, line_dash=dash, tools=["hover"], backend="bokeh"))
    return hv.Overlay(layers)


def _density_opts(logy: bool, height: int, title: str) -> dict:
    return dict(height=height, title=title, xlabel="eigenvalue",
                ylabel="density" + (" (log)" if logy else ""), logy=logy,
                legend_position="top_right", **_BASE)


def density_plot(hist_edges, hist_density, slq=None, kpm=None, logy: bool = False,
                 title: str = DENSITY_TITLE, height: int = 380) -> hv.Overlay:
    """The exact eigenvalue histogram (grey bars) with the SLQ (blue) and KPM (orange,
    dashed) density curves of DensityResults on top. With ``logy`` values are clipped at
    1e-5 of the histogram's peak so that empty bins and tails stay drawable."""
    floor = log_floor(hist_density) if logy else 0.0
    layers = [exact_histogram(hist_edges, hist_density, logy),
              *density_curves(slq, kpm, floor)]
    return hv.Overlay(layers).opts(**_density_opts(logy, height, title), backend="bokeh")


def curves_columns(view) -> dict:
    """The density curves of a PlaygroundView as columns (a dashboard's CSV export):
    ``eigenvalue`` (the grid), ``slq_density`` and ``kpm_density``."""
    return {"eigenvalue": np.asarray(view.slq.grid), "slq_density": np.asarray(view.slq.density),
            "kpm_density": np.asarray(view.kpm.density)}


def nodes_columns(slq) -> dict:
    """The columns of the quadrature-node plot: every probe's Gauss nodes (``node``), their
    weights (``weight``, only positive ones: the axis is log) and the ``probe`` index."""
    x = np.asarray(slq.nodes, dtype=float).ravel()
    w = np.asarray(slq.weights, dtype=float).ravel()
    probe = np.repeat(np.arange(slq.nodes.shape[0]), slq.nodes.shape[1])
    keep = w > 0
    return {"node": x[keep], "weight": w[keep], "probe": probe[keep]}


def nodes_plot(slq, title: str = NODES_TITLE, height: int = 320) -> hv.Overlay:
    """Every probe's Gauss nodes (Ritz values) against their weights, log y: an outlier
    holds weight ~1/n in each probe, invisible in a density, but stands alone here."""
    pts = hv.Scatter(nodes_columns(slq), "node", ["weight", "probe"],
                     label=NODES_LABEL).opts(
        color=NODES, size=6, alpha=0.55, tools=["hover"], backend="bokeh")
    return hv.Overlay([pts]).opts(height=height, title=title, xlabel="eigenvalue",
                                  ylabel="quadrature weight (log)", logy=True,
                                  show_legend=False, **_BASE, backend="bokeh")


def ritz_columns(ritz) -> dict:
    """The columns of the Ritz-value plot of a RitzSteps: ``step``, ``Ritz value`` and its
    ``residual`` ||A y - theta y||."""
    return {"step": np.asarray(ritz.step), "Ritz value": np.asarray(ritz.value),
            "residual": np.asarray(ritz.residual)}


def ritz_points(ritz, clim=None) -> hv.Scatter:
    """Ritz values (y) against the Lanczos step (x), coloured by their residual
    ||A y - theta y|| on a log colour scale (dark = converged); `clim` fixes the colour
    range (e.g. over all steps, so colours keep their meaning as steps are added)."""
    opts = dict(color="residual", cmap="viridis", logz=True, colorbar=True, size=6,
                tools=["hover"], colorbar_opts={"title": "residual"})
    if clim is not None:
        opts["clim"] = tuple(float(c) for c in clim)
    return hv.Scatter(ritz_columns(ritz), "step", ["Ritz value", "residual"],
                      label=RITZ_LABEL).opts(**opts, backend="bokeh")


def residual_range(ritz) -> tuple[float, float]:
    """(lowest, highest) residual of a RitzSteps: the Ritz plot's colour range over all
    of a run's steps, so that colours keep their meaning as steps are added."""
    return float(np.min(ritz.residual)), float(np.max(ritz.residual))


def exact_marks(marks, max_steps: int) -> hv.Scatter:
    """The exact eigenvalues as grey dashes right of step `max_steps`."""
    marks = np.asarray(marks, dtype=float)
    return hv.Scatter((np.full(len(marks), max_steps + 1.5), marks), "step", "Ritz value",
                      label="exact eigenvalues").opts(
        color="#555555", marker="dash", size=14, angle=0, alpha=0.8, backend="bokeh")


def _ritz_opts(max_steps: int, height: int, title: str) -> dict:
    return dict(height=height, title=title, xlabel="Lanczos step (matvecs)",
                ylabel="Ritz value", xlim=(0.3, max_steps + 2.5), show_legend=False,
                **_BASE)


def ritz_plot(ritz, exact_eigenvalue_marks, max_steps: int, clim=None,
              title: str = RITZ_TITLE, height: int = 400) -> hv.Overlay:
    """Ritz values against the Lanczos step for the steps in `ritz` (a RitzSteps),
    coloured by residual, with the exact eigenvalues as grey dashes right of the last
    step: the extreme Ritz values settle on the outliers within a few steps while the
    bulk fills in slowly."""
    return hv.Overlay([exact_marks(exact_eigenvalue_marks, max_steps),
                       ritz_points(ritz, clim)]).opts(
        **_ritz_opts(max_steps, height, title), backend="bokeh")


def race_plot(race, title: str | None = None, height: int = 300) -> hv.Overlay:
    """How many of the k largest-magnitude eigenvalues each solver has found to the race's
    tolerance (|theta_i - lambda_i| <= tol |lambda_1|) against matvecs (log x), as steps:
    top_eigs finds the outliers together, power iteration with deflation one at a time."""
    layers = []
    for name, curve in race.curves.items():
        found = curve.found(race.tol)
        layers.append(hv.Curve((np.asarray(curve.matvecs), found), "matvecs",
                               "eigenvalues found", label=name).opts(
            color=METHOD_COLORS.get(name, "#333333"), line_width=2.5,
            interpolation="steps-post", tools=["hover"], backend="bokeh"))
    title = title or f"Top-{race.k} eigenvalues found (to {race.tol:g}) vs matvecs"
    return hv.Overlay(layers).opts(
        height=height, title=title, xlabel="matvecs (log)", ylabel="eigenvalues found",
        logx=True, ylim=(-0.2, race.k + 0.4), legend_position="top_left", **_BASE,
        backend="bokeh")
