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
    d["line"] = np.where(d["name"] == selected, 3.0, 0.0)
    return d


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
        ylabel="alpha", xlabel="layer (click a bar to inspect it)",
        fontsize={"xticks": 7}, show_legend=False, nonselection_alpha=1.0,
        selection_alpha=1.0, hover_tooltips=[("layer", "@name"), ("alpha", "@alpha_value"),
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


def esd_plot(layer_fit, spec=None, bins: int = 60, height: int = 360,
             title: str | None = None) -> hv.Overlay:
    """Log-log ESD of one layer with the fitted power law above xmin and the MP bulk.

    ``layer_fit``: :class:`workbench.eigenspectra.LayerFit` (``fit_layer`` output);
    ``spec``: its :class:`LayerSpectrum` (for N, used to draw the MP density in raw units).
    Density is per unit eigenvalue, normalised over the eigenvalues shown.
    """
    ev = np.asarray(layer_fit.esd, dtype=float)
    x, dens = _log_hist(ev, bins)
    row = layer_fit.row
    name = title or f"{row['name']} — alpha = {row['alpha']:.3g}"
    els = [hv.Curve((x, dens), "eigenvalue", "density", label="ESD").opts(
        interpolation="steps-mid", color="#1f77b4", line_width=2)]
    els.append(hv.Scatter((x, dens), "eigenvalue", "density").opts(color="#1f77b4", size=3))
    pl = layer_fit.powerlaw
    if pl.ok and x.size:
        xs = np.logspace(np.log10(pl.xmin), np.log10(max(pl.xmax, pl.xmin * 1.0001)), 50)
        frac = pl.num_pl_spikes / max(ev[ev > 0].size, 1)
        if pl.fit == "truncated_power_law" and np.isfinite(pl.Lambda):
            shape = (xs / pl.xmin) ** (-pl.alpha) * np.exp(-pl.Lambda * (xs - pl.xmin))
            norm = np.trapezoid(shape, xs) if xs.size > 1 else 1.0
            ys = frac * shape / norm
            label = f"truncated PL alpha={pl.alpha:.2f}"
        else:
            ys = frac * (pl.alpha - 1) / pl.xmin * (xs / pl.xmin) ** (-pl.alpha)
            label = f"power law alpha={pl.alpha:.2f}"
        els.append(hv.Curve((xs, ys), "eigenvalue", "density", label=label).opts(
            color=_PL, line_dash="dashed", line_width=2))
        els.append(hv.VLine(pl.xmin, label="xmin").opts(color=_XMIN, line_width=1,
                                                        line_dash="dotted"))
    mp = layer_fit.mp
    if mp is not None and spec is not None and not row.get("farms", False):
        from workbench.eigenspectra.rmt import mp_density

        lo = max(mp.lambda_minus, ev[ev > 0].min() if np.any(ev > 0) else 1e-12)
        xs = np.logspace(np.log10(max(lo, 1e-12)), np.log10(mp.lambda_plus), 200)
        ys = mp_density(xs / spec.N, mp.Q, mp.sigma_mp) / spec.N
        keep = ys > 0
        if keep.any():
            els.append(hv.Curve((xs[keep], ys[keep]), "eigenvalue", "density",
                                label=f"MP bulk ({mp.num_spikes} spikes)").opts(
                color=_MP, line_width=2))
        els.append(hv.VLine(mp.lambda_plus).opts(color=_MP, line_dash="dotted", line_width=1))
    return hv.Overlay(els).opts(logx=True, logy=True, height=height, responsive=True,
                                title=name, legend_position="bottom_left",
                                xlabel="eigenvalue of W^T W", ylabel="density")


def ks_plot(layer_fit, height: int = 240) -> hv.Overlay:
    """KS distance D against the candidate xmin, with the chosen xmin."""
    pl = layer_fit.powerlaw
    if pl.xmins.size == 0:
        return hv.Overlay([hv.Curve([], "xmin", "D")]).opts(height=height, responsive=True)
    keep = pl.Ds < 1
    c = hv.Curve((pl.xmins[keep], pl.Ds[keep]), "xmin", "KS distance D").opts(
        color="#1f77b4", logx=True)
    els = [c]
    if pl.ok:
        els.append(hv.VLine(pl.xmin).opts(color=_XMIN, line_dash="dotted"))
    return hv.Overlay(els).opts(height=height, responsive=True, logx=True,
                                title="KS distance over candidate xmin")


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
