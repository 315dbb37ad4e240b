"""Plots of weight eigenspectra. Pure functions: results in, HoloViews elements out (no
eigenvalue computation, no Panel; only histogramming of given values for display).

    from workbench.viz.eigenspectra import alpha_bars, esd_plot
    alpha_bars(df)                         # per-layer alpha coloured by health
    esd_plot(fit_layer(spec, mp_fit=True), spec)   # log-log ESD + power law + MP bulk
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


def alpha_bars_data(df: pd.DataFrame, selected: str | None = None) -> dict:
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
    return hv.Bars(d, "layer", vdims).opts(
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


def _log_hist(values: np.ndarray, bins: int):
    v = values[values > 0]
    if v.size < 2 or v.max() <= v.min():
        return np.array([]), np.array([])
    edges = np.logspace(np.log10(v.min()), np.log10(v.max()), bins + 1)
    counts, _ = np.histogram(v, edges)
    dens = counts / (values.size * np.diff(edges))
    centers = np.sqrt(edges[1:] * edges[:-1])
    keep = dens > 0
    return centers[keep], dens[keep]


ESD_PARTS = ("esd", "esd_points", "pl", "xmin", "mp", "lambda_plus")
"""The elements of :func:`esd_overlay`, in overlay order (a part may be absent)."""


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


def esd_parts(layer_fit, spec=None, bins: int = 60, title: str | None = None) -> dict:
    """The data :func:`esd_plot` draws, part by part (for a plot drawn once and then fed
    new data, as the dashboard does).

    Returns a dict: ``esd`` (bin centres, density) of the log-binned histogram and
    ``esd_steps``, the same as the step line a "steps-mid" curve draws; ``pl`` (x,
    y) of the fitted (truncated) power law above xmin and its legend ``pl_label``, empty
    when the fit failed; ``xmin`` (NaN when the fit failed); ``mp`` (x, y) of the
    Marchenko–Pastur density in raw units and ``mp_label`` (empty without an MP fit, for
    FARMS, or without ``spec``); ``lambda_plus`` (NaN without an MP fit); ``title``;
    ``xlim`` / ``ylim`` (log-axis limits covering everything drawn). Cost: one histogram
    of the eigenvalues, 50 + 200 density evaluations.
    """
    ev = np.asarray(layer_fit.esd, dtype=float)
    x, dens = _log_hist(ev, bins)
    row = layer_fit.row
    empty = (np.array([]), np.array([]))
    out = {"esd": (x, dens), "esd_steps": _midsteps(x, dens), "pl": empty, "pl_label": "", "xmin": float("nan"), "mp": empty,
           "mp_label": "", "lambda_plus": float("nan"),
           "title": title or f"{row['name']} — alpha = {row['alpha']:.3g}"}
    pl = layer_fit.powerlaw
    if pl.ok and x.size:
        xs = np.logspace(np.log10(pl.xmin), np.log10(max(pl.xmax, pl.xmin * 1.0001)), 50)
        frac = pl.num_pl_spikes / max(ev[ev > 0].size, 1)
        if pl.fit == "truncated_power_law" and np.isfinite(pl.Lambda):
            shape = (xs / pl.xmin) ** (-pl.alpha) * np.exp(-pl.Lambda * (xs - pl.xmin))
            norm = np.trapezoid(shape, xs) if xs.size > 1 else 1.0
            ys = frac * shape / norm
            out["pl_label"] = f"truncated PL alpha={pl.alpha:.2f}"
        else:
            ys = frac * (pl.alpha - 1) / pl.xmin * (xs / pl.xmin) ** (-pl.alpha)
            out["pl_label"] = f"power law alpha={pl.alpha:.2f}"
        out["pl"], out["xmin"] = (xs, ys), float(pl.xmin)
    mp = layer_fit.mp
    if mp is not None and spec is not None and not row.get("farms", False):
        from workbench.eigenspectra.rmt import mp_density

        lo = max(mp.lambda_minus, ev[ev > 0].min() if np.any(ev > 0) else 1e-12)
        xs = np.logspace(np.log10(max(lo, 1e-12)), np.log10(mp.lambda_plus), 200)
        ys = mp_density(xs / spec.N, mp.Q, mp.sigma_mp) / spec.N
        keep = ys > 0
        if keep.any():
            out["mp"], out["mp_label"] = (xs[keep], ys[keep]), \
                f"MP bulk ({mp.num_spikes} spikes)"
        out["lambda_plus"] = float(mp.lambda_plus)
    out["xlim"] = log_limits([x, out["pl"][0], out["mp"][0], out["xmin"],
                              out["lambda_plus"]], pad=0.02)
    out["ylim"] = log_limits([dens, out["pl"][1], out["mp"][1]], pad=0.05)
    return out


def esd_overlay(parts: dict, height: int = 360, complete: bool = False) -> hv.Overlay:
    """The log-log ESD plot of :func:`esd_parts` output. ``complete=True`` keeps every part
    of ``ESD_PARTS`` in that order, empty ones included (a curve without points, a marker
    at x = 1), so that one rendered figure can show any layer; the caller hides them."""
    def curve(xy, label, **style):
        return hv.Curve(xy, "eigenvalue", "density", label=label).opts(**style)

    els = [curve(parts["esd"], "ESD", interpolation="steps-mid", color="#1f77b4",
                 line_width=2),
           hv.Scatter(parts["esd"], "eigenvalue", "density").opts(color="#1f77b4", size=3)]
    if parts["pl_label"] or complete:
        els.append(curve(parts["pl"], parts["pl_label"] or "power law", color=_PL,
                         line_dash="dashed", line_width=2))
    if np.isfinite(parts["xmin"]) or complete:
        x = parts["xmin"] if np.isfinite(parts["xmin"]) else 1.0
        els.append(hv.VLine(x, label="xmin").opts(color=_XMIN, line_width=1,
                                                  line_dash="dotted"))
    if parts["mp_label"] or complete:
        els.append(curve(parts["mp"], parts["mp_label"] or "MP bulk", color=_MP,
                         line_width=2))
    if np.isfinite(parts["lambda_plus"]) or complete:
        x = parts["lambda_plus"] if np.isfinite(parts["lambda_plus"]) else 1.0
        els.append(hv.VLine(x).opts(color=_MP, line_dash="dotted", line_width=1))
    return hv.Overlay(els).opts(logx=True, logy=True, height=height, responsive=True,
                                title=parts["title"], legend_position="bottom_left",
                                xlabel="eigenvalue of W^T W", ylabel="density",
                                xlim=parts["xlim"], ylim=parts["ylim"])


def esd_plot(layer_fit, spec=None, bins: int = 60, height: int = 360,
             title: str | None = None) -> hv.Overlay:
    """Log-log ESD of one layer with the fitted power law above xmin and the MP bulk.

    ``layer_fit``: :class:`workbench.eigenspectra.LayerFit` (``fit_layer`` output);
    ``spec``: its :class:`LayerSpectrum` (for N, used to draw the MP density in raw units).
    Density is per unit eigenvalue, normalised over the eigenvalues shown. The data is
    :func:`esd_parts`' (one histogram).
    """
    return esd_overlay(esd_parts(layer_fit, spec, bins, title), height)


def ks_parts(layer_fit) -> dict:
    """The data :func:`ks_plot` draws: ``ks`` (candidate xmins, KS distance D, for D < 1),
    the chosen ``xmin`` (NaN when the fit failed), ``xlim`` (log axis) and ``ylim``."""
    pl = layer_fit.powerlaw
    keep = pl.Ds < 1
    x, d = np.asarray(pl.xmins)[keep], np.asarray(pl.Ds)[keep]
    if d.size:
        lo, hi = float(d.min()), float(d.max())
        pad = 0.1 * (hi - lo) if hi > lo else 0.05
        ylim = (lo - pad, hi + pad)
    else:
        ylim = (0.0, 1.0)
    return {"ks": (x, d), "xmin": float(pl.xmin) if pl.ok else float("nan"),
            "xlim": log_limits([x, pl.xmin if pl.ok else []]), "ylim": ylim}


def ks_overlay(parts: dict, height: int = 240, complete: bool = False) -> hv.Overlay:
    """The KS plot of :func:`ks_parts` output: the curve, then the xmin marker (kept at
    x = 1 when ``complete`` and there is none)."""
    els = [hv.Curve(parts["ks"], "xmin", "KS distance D").opts(color="#1f77b4", logx=True)]
    if np.isfinite(parts["xmin"]) or complete:
        x = parts["xmin"] if np.isfinite(parts["xmin"]) else 1.0
        els.append(hv.VLine(x).opts(color=_XMIN, line_dash="dotted"))
    return hv.Overlay(els).opts(height=height, responsive=True, logx=True,
                                title="KS distance over candidate xmin",
                                xlim=parts["xlim"], ylim=parts["ylim"])


def ks_plot(layer_fit, height: int = 240) -> hv.Overlay:
    """KS distance D against the candidate xmin, with the chosen xmin."""
    return ks_overlay(ks_parts(layer_fit), height)


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

    x, dens = _log_hist(np.asarray(evals, float), bins)
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
