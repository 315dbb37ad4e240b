"""Plots of weight eigenspectra. Pure functions: results in, HoloViews elements out (no
eigenvalue computation, no Panel; only histogramming of given values for display).

    from workbench.viz.eigenspectra import alpha_bars, esd_plot, esd_columns
    alpha_bars(df)                         # per-layer alpha coloured by health
    esd_plot(run.at(layer=3))              # log-log ESD + power law + MP bulk
    esd_columns(run.at(layer=3))           # the same as data, for a figure drawn once

``*_columns(view)`` give the data ``*_plot(view)`` draws (names of sources, legend texts,
marker lines, limits) so a dashboard renders once and writes new data into the figure.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options even before hv.extension
import numpy as np
import pandas as pd

HEALTH_COLORS = {"typical (2 < alpha < 6)": "#2ca02c", "over-trained (alpha < 2)": "#d62728",
                 "under-trained (alpha > 6)": "#ff7f0e", "fit failed": "#7f7f7f",
                 "exponential tail (no power law)": "#8c6d31"}
_PL, _MP, _XMIN = "#d62728", "#9467bd", "#d62728"


def health(alpha: float, status: str = "success", warning: str = "") -> str:
    """Health label of one alpha (WeightWatcher's 2 < alpha < 6 "typical" range)."""
    if status != "success" or not np.isfinite(alpha):
        return "fit failed"
    if warning == "exponential tail":
        return "exponential tail (no power law)"
    if alpha < 2:
        return "over-trained (alpha < 2)"
    if alpha > 6:
        return "under-trained (alpha > 6)"
    return "typical (2 < alpha < 6)"


def _col(df: pd.DataFrame, name: str, default) -> pd.Series:
    return df[name] if name in df.columns else pd.Series([default] * len(df), index=df.index)


_ABBREV = (("encoder.layer.", "L"), ("decoder.layer.", "D"), ("layers.", "L"),
           ("attention.self.", "attn."), ("attention.output.dense", "attn.out"),
           ("intermediate.dense", "ffn.in"), ("output.dense", "ffn.out"),
           ("embeddings.", "emb."), ("_embeddings", ""), (".weight", ""))


def short_name(name: str, width: int = 18) -> str:
    """A short axis label for a layer name ("encoder.layer.0.attention.self.key.weight" ->
    "L0.attn.key"); long names keep their end."""
    full = name
    for long, short in _ABBREV:
        name = name.replace(long, short)
    if name.replace(".", "").isdigit():  # "0.weight" -> "0": keep what identifies it
        name = full
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _bars_frame(df: pd.DataFrame, selected: str | None) -> pd.DataFrame:
    d = pd.DataFrame({
        "layer": [f"{i} · {short_name(n)}" for i, n in zip(df["layer_id"], df["name"])],
        "alpha": df["alpha"].fillna(0.0).clip(upper=20).to_numpy(),
        "alpha_value": df["alpha"].to_numpy(),
        "name": df["name"].to_numpy(),
        "health": [health(a, s, w) for a, s, w in
                   zip(df["alpha"], _col(df, "status", "success"), _col(df, "warning", ""))],
        "reason": _col(df, "reason", "").fillna("").to_numpy(),
    })
    d["color"] = d["health"].map(HEALTH_COLORS)
    d["line"] = selected_line(d["name"], selected)
    return d


def selected_line(names, selected: str | None) -> np.ndarray:
    """Outline width of each bar of :func:`alpha_bars_element`: 3 for the ``selected``
    layer name, 0 for the others."""
    return np.where(np.asarray(names, dtype=object) == selected, 3.0, 0.0)


def bars_columns(df: pd.DataFrame, selected: str | None = None) -> dict:
    """The columns of the rendered bars of :func:`alpha_bars_element` (for writing new
    values into a drawn plot): one entry per layer, as numpy arrays."""
    d = _bars_frame(df, selected)
    out = {c: d[c].to_numpy() for c in d.columns}
    out["line_width"] = out["line"]  # the glyph's mapped copy of the "line" column
    return out


def alpha_ylim(df: pd.DataFrame | None) -> tuple[float, float]:
    """The alpha axis of :func:`alpha_bars_element`: from 0 to the tallest (clipped) bar,
    plus 8 %."""
    if df is None or df.empty:
        return (0.0, 1.0)
    top = float(np.nanmax(df["alpha"].fillna(0.0).clip(upper=20).to_numpy(), initial=0.0))
    return (0.0, max(top, 1.0) * 1.08)


def alpha_bars_element(df: pd.DataFrame | None, selected: str | None = None,
                       height: int = 320) -> hv.Bars:
    """The bars of :func:`alpha_bars` alone (a tap-able element for a Selection1D stream).
    Bars are clipped at alpha = 20 for display; the hover shows the value and reason."""
    vdims = ["alpha", "alpha_value", "name", "health", "reason", "color", "line"]
    if df is None or df.empty:
        d = pd.DataFrame({c: [] for c in ["layer", *vdims]})
    else:
        d = _bars_frame(df, selected)
    return hv.Bars(d, "layer", vdims, group="Alpha").opts(
        color="color", line_color="black", line_width="line",
        tools=["hover", "tap"], xrotation=90, height=height, responsive=True,
        ylabel="alpha", xlabel="layer (click a bar to inspect it)", ylim=alpha_ylim(df),
        fontsize={"xticks": 7}, show_legend=False, nonselection_alpha=1.0,
        selection_alpha=1.0, hover_tooltips=[("layer", "@name"), ("alpha", "@{alpha_value}"),
                                             ("health", "@health"), ("note", "@reason")],
        title="Power-law alpha per layer (green: typical 2 < alpha < 6, red: < 2, "
              "orange: > 6, grey: fit failed)")


def alpha_guides() -> hv.Overlay:
    """Dashed lines at alpha = 2 and alpha = 6 (WeightWatcher's typical range)."""
    return (hv.HLine(2.0).opts(color="#555555", line_dash="dashed", line_width=1)
            * hv.HLine(6.0).opts(color="#555555", line_dash="dashed", line_width=1))


def alpha_bars(df: pd.DataFrame, selected: str | None = None, height: int = 320) -> hv.Overlay:
    """Bar per layer of ``alpha`` coloured by health; the ``selected`` layer outlined.
    Failed fits are drawn at 0 height in grey (their reason is in the hover)."""
    return (alpha_bars_element(df, selected, height) * alpha_guides()).opts(
        height=height, responsive=True)


ESD_SOURCES = ("ESD", "ESDpoints", "power law", "MP bulk")
"""Names of the ESD figure's data sources (:func:`esd_columns`' ``sources``)."""
ESD_SPANS = ("xmin", "lambda_plus")
"""Names of the ESD figure's marker lines (:func:`esd_columns`' ``spans``)."""


def log_limits(values, pad: float = 0.0, default=(1e-3, 1.0)) -> tuple[float, float]:
    """Axis limits for a log axis covering the positive finite ``values`` (any nesting of
    arrays and numbers), padded by ``pad`` times the span in log10 units on each side.
    Cost: one pass over the values."""
    v = np.concatenate([np.ravel(np.asarray(x, dtype=float)) for x in values] or [[]])
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return default
    lo, hi = np.log10(v.min()), np.log10(v.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    d = pad * (hi - lo)
    return float(10 ** (lo - d)), float(10 ** (hi + d))


def _midsteps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from holoviews.operation import interpolate_curve

    xs, (ys,) = interpolate_curve.pts_to_midstep(np.asarray(x, float), (np.asarray(y, float),))
    return xs, ys


def _xy(xy) -> dict:
    return {"eigenvalue": np.asarray(xy[0], dtype=float), "density": np.asarray(xy[1], dtype=float)}


def _as_view(layer_view_or_fit, spec=None, bins: int = 60):
    """A LayerView as is; a LayerFit (with its LayerSpectrum) viewed by the topic."""
    if hasattr(layer_view_or_fit, "powerlaw_label"):
        return layer_view_or_fit
    from workbench.eigenspectra.run import layer_view

    return layer_view(layer_view_or_fit, spec, bins)


def esd_columns(view, title: str | None = None) -> dict:
    """What the ESD figure of a :class:`workbench.eigenspectra.LayerView` shows.

    Returns ``sources`` ({name in ESD_SOURCES: {"eigenvalue", "density"}}: the ESD as the
    step line a "steps-mid" curve draws, its points, the fitted power law and the MP bulk,
    empty when absent), ``labels`` (legend text of "power law" / "MP bulk", "" to hide),
    ``spans`` ({"xmin", "lambda_plus"}: NaN to hide), ``title``, ``xlim`` / ``ylim``
    (log-axis limits covering everything drawn). Pure shaping, no fitting."""
    x, dens = view.esd
    row = view.row
    return {
        "sources": {"ESD": _xy(_midsteps(x, dens)), "ESDpoints": _xy(view.esd),
                    "power law": _xy(view.powerlaw), "MP bulk": _xy(view.mp)},
        "labels": {"power law": view.powerlaw_label, "MP bulk": view.mp_label},
        "spans": {"xmin": view.xmin, "lambda_plus": view.lambda_plus},
        "title": title or f"{row['name']} — alpha = {row['alpha']:.3g}",
        "xlim": log_limits([x, view.powerlaw[0], view.mp[0], view.xmin, view.lambda_plus],
                           pad=0.02),
        "ylim": log_limits([dens, view.powerlaw[1], view.mp[1]], pad=0.05),
    }


def _named(name: str):
    """A hook naming the Bokeh model of a marker line, so it can be moved by name."""
    def hook(plot, _element):
        plot.handles["glyph"].name = name
    return hook


def _vline(x: float, name: str, complete: bool, **style):
    if not (np.isfinite(x) or complete):
        return []
    return [hv.VLine(x if np.isfinite(x) else 1.0).opts(hooks=[_named(name)], **style)]


def esd_plot(layer_view, spec=None, bins: int = 60, height: int = 360,
             title: str | None = None, complete: bool = False) -> hv.Overlay:
    """Log-log ESD of one layer with the fitted power law above xmin and the MP bulk.

    ``layer_view``: a :class:`workbench.eigenspectra.LayerView` (``run.at(...)``), or a
    :class:`workbench.eigenspectra.LayerFit` with its ``spec`` (LayerSpectrum, for N: the
    MP density in raw units) and ``bins``. Density is per unit eigenvalue, normalised over
    the eigenvalues shown. ``complete=True`` keeps every part, empty ones included (a
    curve without points, a marker at x = 1): one rendered figure can then show any layer
    through :func:`esd_columns`; the caller hides the empty parts.
    """
    view = _as_view(layer_view, spec, bins)
    c = esd_columns(view, title)
    src, labels = c["sources"], c["labels"]

    def curve(name, **style):
        return hv.Curve(src[name], "eigenvalue", "density", label=name).opts(**style)

    els = [curve("ESD", interpolation="steps-mid", color="#1f77b4", line_width=2),
           hv.Scatter(_xy(view.esd), "eigenvalue", "density", group="ESDpoints").opts(
               color="#1f77b4", size=3)]
    # complete: every part under its name (a figure drawn once is written by name and
    # its legend texts set by esd_columns' labels); else the legend says what was fitted
    if labels["power law"] or complete:
        els.append(hv.Curve(src["power law"], "eigenvalue", "density",
                            label="power law" if complete else labels["power law"]).opts(
            color=_PL, line_dash="dashed", line_width=2))
    els += _vline(view.xmin, "xmin", complete, color=_XMIN, line_width=1, line_dash="dotted")
    if labels["MP bulk"] or complete:
        els.append(hv.Curve(src["MP bulk"], "eigenvalue", "density",
                            label="MP bulk" if complete else labels["MP bulk"]).opts(
            color=_MP, line_width=2))
    els += _vline(view.lambda_plus, "lambda_plus", complete, color=_MP, line_dash="dotted",
                  line_width=1)
    return hv.Overlay(els).opts(logx=True, logy=True, height=height, responsive=True,
                                title=c["title"], legend_position="bottom_left",
                                xlabel="eigenvalue of W^T W", ylabel="density",
                                xlim=c["xlim"], ylim=c["ylim"])


def ks_columns(view) -> dict:
    """What the KS figure of a LayerView shows: ``sources`` ({"KS": {"xmin", "KS distance
    D"}}: candidate xmins with D < 1), ``spans`` ({"xmin": the chosen one, NaN when the
    fit failed}), ``xlim`` (log axis) and ``ylim``."""
    x, d = view.ks
    if d.size:
        lo, hi = float(d.min()), float(d.max())
        pad = 0.1 * (hi - lo) if hi > lo else 0.05
        ylim = (lo - pad, hi + pad)
    else:
        ylim = (0.0, 1.0)
    return {"sources": {"KS": {"xmin": np.asarray(x, float), "KS distance D": np.asarray(d, float)}},
            "spans": {"xmin": view.xmin},
            "xlim": log_limits([x, view.xmin if np.isfinite(view.xmin) else []]),
            "ylim": ylim}


def ks_plot(layer_view, height: int = 240, complete: bool = False) -> hv.Overlay:
    """KS distance D against the candidate xmin, with the chosen xmin (``layer_view``: a
    LayerView or a LayerFit; ``complete``: keep the marker at x = 1 when there is none)."""
    view = _as_view(layer_view)
    c = ks_columns(view)
    els = [hv.Curve(c["sources"]["KS"], "xmin", "KS distance D", group="KS").opts(
        color="#1f77b4", logx=True)]
    els += _vline(view.xmin, "xmin", complete, color=_XMIN, line_dash="dotted")
    return hv.Overlay(els).opts(height=height, responsive=True, logx=True,
                                title="KS distance over candidate xmin",
                                xlim=c["xlim"], ylim=c["ylim"])


def alpha_trajectories(df: pd.DataFrame, x: str = "epoch", height: int = 300) -> hv.Overlay:
    """alpha against ``x`` (e.g. epoch), one line per layer (long table: x, name, alpha)."""
    if df is None or df.empty:
        return hv.Overlay([hv.Curve([], x, "alpha")]).opts(height=height, responsive=True)
    curves = []
    for name, sub in df.groupby("name", sort=False):
        sub = sub.sort_values(x)
        curves.append(hv.Curve(sub, x, "alpha", label=str(name)).opts(line_width=2))
        curves.append(hv.Scatter(sub, x, "alpha").opts(size=5))
    return hv.Overlay(curves).opts(height=height, responsive=True, legend_position="right",
                                   title="alpha during training")


# ----------------------------------------------------------------- random-matrix demos


def _lin_hist(values: np.ndarray, bins: int, lo=None, hi=None):
    lo = float(values.min()) if lo is None else lo
    hi = float(values.max()) if hi is None else hi
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi), density=True)
    return edges, counts


def mp_demo_plot(evals: np.ndarray, Q: float, sigma: float, bins: int = 60,
                 height: int = 340) -> hv.Overlay:
    """Histogram of sampled W^T W / N eigenvalues with the MP density and its edges."""
    from workbench.eigenspectra.rmt import mp_density, mp_edges

    lo, hi = mp_edges(Q, sigma)
    edges, counts = _lin_hist(evals, bins, 0.0, max(float(evals.max()), hi) * 1.05)
    xs = np.linspace(max(lo, 1e-9), hi, 400)
    return hv.Overlay([
        hv.Histogram((edges, counts), kdims=["eigenvalue"], vdims=["density"], label="sample").opts(
            alpha=0.5, color="#1f77b4", line_color=None),
        hv.Curve((xs, mp_density(xs, Q, sigma)), "eigenvalue", "density",
                 label=f"Marchenko-Pastur Q={Q:.2f}").opts(color=_MP, line_width=2),
        hv.VLine(hi).opts(color=_MP, line_dash="dotted"),
    ]).opts(height=height, responsive=True, title=f"MP law: lambda+ = {hi:.3g}",
            legend_position="top_right")


def bbp_plot(evals: np.ndarray, theta: float, gamma: float, overlap: float,
             bins: int = 60, height: int = 340) -> hv.Overlay:
    """Spiked covariance sample: bulk histogram, MP density, predicted and observed spike."""
    from workbench.eigenspectra.rmt import (
        bbp_threshold,
        mp_density,
        mp_edges,
        spike_location,
        spike_overlap,
    )

    Q = 1.0 / gamma
    lo, hi = mp_edges(Q, 1.0)
    pred = spike_location(theta, gamma)
    top = float(evals.max())
    edges, counts = _lin_hist(evals, bins, 0.0, max(top, pred, hi) * 1.08)
    xs = np.linspace(max(lo, 1e-9), hi, 400)
    above = theta > bbp_threshold(gamma)
    title = (f"Spiked covariance: theta {'>' if above else '<'} sqrt(gamma) = "
             f"{bbp_threshold(gamma):.2f}")
    del overlap, spike_overlap  # shown by overlap_plot
    return hv.Overlay([
        hv.Histogram((edges, counts), kdims=["eigenvalue"], vdims=["density"], label="sample").opts(
            alpha=0.5, color="#1f77b4", line_color=None),
        hv.Curve((xs, mp_density(xs, Q, 1.0)), "eigenvalue", "density",
                 label="MP bulk").opts(color=_MP, line_width=2),
        hv.Spikes(evals[evals > hi * 1.02], "eigenvalue", label="outliers").opts(
            color="black", line_width=3, spike_length=float(counts.max()) * 0.25),
        hv.VLine(pred, label="predicted top").opts(color=_PL, line_dash="dashed",
                                                   line_width=2),
        hv.VLine(top, label="observed top").opts(color="black", line_dash="dotted"),
    ]).opts(height=height, responsive=True, title=title, legend_position="top_right")


def overlap_plot(gamma: float, thetas: np.ndarray | None = None,
                 observed: tuple[float, float] | None = None, height: int = 260) -> hv.Overlay:
    """Theory |<v, u>|^2 against theta (zero below the BBP threshold), plus an observation."""
    from workbench.eigenspectra.rmt import spike_overlap

    if thetas is None:
        hi = max(4 * max(np.sqrt(gamma), 0.25), 1.15 * (observed[0] if observed else 0.0))
        thetas = np.linspace(0.0, hi, 200)
    curve = hv.Curve((thetas, [spike_overlap(t, gamma) for t in thetas]), "theta",
                     "overlap |<v,u>|^2", label="theory").opts(color=_PL, line_width=2)
    els = [curve, hv.VLine(np.sqrt(gamma)).opts(color="#555555", line_dash="dotted")]
    if observed is not None:
        els.append(hv.Scatter([observed], "theta", "overlap |<v,u>|^2", label="sample").opts(
            color="black", size=10))
    return hv.Overlay(els).opts(height=height, responsive=True, ylim=(0, 1.05),
                                title="Eigenvector overlap (BBP)", legend_position="top_left")


def semicircle_plot(evals: np.ndarray, sigma: float, bins: int = 60,
                    height: int = 300) -> hv.Overlay:
    """Wigner eigenvalues with the semicircle law."""
    from workbench.eigenspectra.rmt import semicircle_density

    r = 2 * sigma
    edges, counts = _lin_hist(evals, bins, min(-r, float(evals.min())) * 1.05,
                              max(r, float(evals.max())) * 1.05)
    xs = np.linspace(-r, r, 400)
    return hv.Overlay([
        hv.Histogram((edges, counts), kdims=["eigenvalue"], vdims=["density"], label="sample").opts(
            alpha=0.5, color="#1f77b4", line_color=None),
        hv.Curve((xs, semicircle_density(xs, sigma)), "eigenvalue", "density",
                 label="semicircle").opts(color=_MP, line_width=2),
    ]).opts(height=height, responsive=True, title="Wigner semicircle",
            legend_position="top_right")


def heavy_tail_plot(evals: np.ndarray, mu: float, fit=None, bins: int = 60,
                    height: int = 300) -> hv.Overlay:
    """Log-log ESD of a heavy-tailed random matrix with the theoretical tail slope."""
    from workbench.eigenspectra.rmt import heavy_tail_alpha
    from workbench.eigenspectra.run import log_histogram

    x, dens = log_histogram(evals, bins)
    els = [hv.Curve((x, dens), "eigenvalue", "density", label="ESD").opts(
        interpolation="steps-mid", color="#1f77b4", line_width=2)]
    a = heavy_tail_alpha(mu)
    if fit is not None and fit.ok and x.size:
        xs = np.logspace(np.log10(fit.xmin), np.log10(fit.xmax), 50)
        frac = fit.num_pl_spikes / max(evals.size, 1)
        els.append(hv.Curve((xs, frac * (fit.alpha - 1) / fit.xmin * (xs / fit.xmin)
                             ** (-fit.alpha)), "eigenvalue", "density",
                            label=f"fit alpha={fit.alpha:.2f}").opts(color=_PL,
                                                                     line_dash="dashed"))
    title = (f"Heavy-tailed entries: theory alpha = 1 + mu/2 = {a:.2f}" if np.isfinite(a)
             else f"Heavy-tailed entries, mu = {mu:.2f} >= 2: no universal alpha")
    return hv.Overlay(els).opts(logx=True, logy=True, height=height, responsive=True,
                                title=title, legend_position="bottom_left")


def rmt_demo_plots(d) -> dict:
    """Every figure of an ``RMTDemos`` `d` by name: "mp" (Marchenko–Pastur), "bbp" (the
    spiked spectrum), "overlap" (eigenvector overlap), "wigner" (semicircle), "heavy"
    (heavy tails)."""
    return {"mp": mp_demo_plot(d.mp, d.Q_eff, d.sigma),
            "bbp": bbp_plot(d.spiked, d.theta, d.gamma, d.overlap),
            "overlap": overlap_plot(d.gamma, observed=(d.theta, d.overlap)),
            "wigner": semicircle_plot(d.wigner, d.sigma),
            "heavy": heavy_tail_plot(d.heavy, d.mu, d.heavy_fit)}


def run_status(model: str, farms: bool = False) -> str:
    """The progress line while the eigenvalues of `model`'s layers are computed."""
    what = {"mlp": "Training the digits MLP and computing its spectra…",
            "minilm": "Eigenvalues of every MiniLM layer…"}.get(model, "Computing spectra…")
    return what.rstrip("…") + " (+ FARMS)…" if farms else what


def training_intro(epochs: int) -> str:
    """The Training tab's line before the digits MLP is trained (`epochs` of training)."""
    return ("Train a small MLP on scikit-learn's digits (64-256-128-10, "
            f"{epochs} epochs, a few seconds) and watch the alpha of each weight matrix "
            "move during training.")
