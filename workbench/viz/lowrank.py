"""Plots of low-rank approximations: a matrix or photo as an image, the singular value
decay with the kept part highlighted, error against rank next to the Eckart–Young optimum,
and the progress of matrix completion. Pure functions: arrays / DataFrames in, HoloViews
elements out; large matrices are block-averaged on the server before being sent.
"""

from __future__ import annotations

import warnings

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options even before hv.extension
import numpy as np
import pandas as pd

#: the optimum (Eckart-Young) curve: a grey that reads on both themes' backgrounds
OPT_COLOR = "#8c8c8c"
PALETTE = {"svd": "#1f77b4", "randomized": "#ff7f0e", "krylov": "#2ca02c",
           "cur_leverage": "#d62728", "cur_qr": "#9467bd", "id": "#8c564b",
           "nystrom": "#e377c2", "altmin": "#1f77b4", "softimpute": "#ff7f0e"}
MAX_PIXELS = 480
#: the kept singular values and the rank line: a blue that reads on the light and the dark
#: theme's background (the page's header navy vanished on the dark one)
KEPT = "#1f77b4"
CURVES_TEXT = ("Every method computed once at the largest rank and evaluated at 14 ranks; "
               "the dashed line is the best any rank-k matrix can do. The table shows the "
               "rank nearest the slider.")
PHASE_TEXT = ("Right: success rate over 2 random matrices per fraction; grey dashed: samples "
              "= degrees of freedom r(m + n − r), below which no method can succeed; red "
              "dotted: your observed fraction.")


def block_mean(M: np.ndarray, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """M shrunk for display to at most `max_pixels` per side by averaging f x f blocks
    (f = ceil(max side / max_pixels); a ragged last block averages what it has; NaN-aware
    so unobserved entries stay unobserved only where a whole block is). A few ms for a
    2000 x 2000 matrix — cheap enough for a slider, unlike a datashader regrid."""
    M = np.asarray(M, dtype=np.float32)
    m, n = M.shape
    f = int(np.ceil(max(m, n) / max_pixels))
    if f <= 1:
        return M
    mp, np_ = -(-m // f) * f, -(-n // f) * f
    if not np.isnan(M).any():  # (a reconstruction, a photo: the rank slider's case)
        # block sums of the zero-padded matrix over the entries each block has: a
        # fraction of nanmean's cost (~1 ms for a photo, issue #18)
        P = np.zeros((mp, np_), dtype=np.float32)
        P[:m, :n] = M
        S = P.reshape(mp, np_ // f, f).sum(axis=2).reshape(mp // f, f, np_ // f).sum(axis=1)
        rows = np.minimum(f, m - np.arange(0, mp, f))
        cols = np.minimum(f, n - np.arange(0, np_, f))
        return (S / np.outer(rows, cols)).astype(np.float32)
    P = np.full((mp, np_), np.nan, dtype=np.float32)
    P[:m, :n] = M
    B = P.reshape(mp // f, f, np_ // f, f)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN blocks stay NaN
        return np.nanmean(B, axis=(1, 3))


def _image_element(M: np.ndarray, max_pixels: int = MAX_PIXELS) -> hv.Image:
    """hv.Image of M (first row at the top, as a photo or a matrix is read) in float32,
    block-averaged to at most `max_pixels` per side — what is sent to the browser."""
    m, n = np.shape(M)
    return hv.Image(block_mean(M, max_pixels), bounds=(0, 0, n, m),
                    kdims=["column", "row"], vdims=["value"])


def _image_opts(shape: tuple[int, int], kind: str, clim, title: str, height: int,
                colorbar: bool = False) -> dict:
    """Fixed frame: `height` pixels high, width by the aspect ratio (kept between 0.4 and
    2.2 of the height, so very tall or wide matrices stay readable)."""
    if kind == "image":
        cmap, lim = "gray", clim or (0.0, 1.0)
    else:
        c = max(abs(clim[0]), abs(clim[1])) if clim else 1.0
        cmap, lim = "RdBu_r", (-c, c)
    m, n = shape
    width = int(height * min(2.2, max(0.4, n / m)))
    return dict(cmap=cmap, clim=lim, title=title, frame_height=height, frame_width=width,
                xaxis=None, yaxis=None, colorbar=colorbar and kind != "image",
                clipping_colors={"NaN": "#dddddd"}, tools=["hover"], toolbar="above")


def matrix_image_columns(M: np.ndarray, max_pixels: int = MAX_PIXELS) -> dict:
    """The columns of :func:`matrix_image`'s source for matrix M (the image block-averaged
    to at most `max_pixels` per side, float32, and its frame): what a cheap update writes
    into a rendered image (``LiveFigure.write``). Bokeh draws an image's first row at the
    bottom, so the rows go in reversed, as HoloViews renders the hv.Image (row 0 on top)."""
    m, n = np.shape(M)
    return {"image": [np.flipud(block_mean(M, max_pixels))], "x": [0], "y": [0],
            "dw": [n], "dh": [m]}


def matrix_image(M: np.ndarray, title: str = "", kind: str = "matrix",
                 clim: tuple[float, float] | None = None, height: int = 300,
                 max_pixels: int = MAX_PIXELS, colorbar: bool = False) -> hv.Image:
    """A matrix as an image: row 0 at the top, column 0 at the left.

    kind="image": grey scale with clim (0, 1) by default (a photo); "matrix": a diverging
    colour map centred at 0 (clim symmetric, from `clim` or the largest |entry|). NaN
    entries (unobserved) are drawn light grey. Matrices with more than `max_pixels` rows
    or columns are block-averaged to that size before sending.
    """
    M = np.asarray(M, dtype=np.float64)
    if kind != "image" and clim is None:
        c = float(np.nanmax(np.abs(M))) if np.isfinite(M).any() else 1.0
        clim = (-(c or 1.0), c or 1.0)
    return _image_element(M, max_pixels).opts(
        **_image_opts(M.shape, kind, clim, title, height, colorbar), backend="bokeh")


def _sv_floor(sv: np.ndarray) -> float:
    """The smallest value drawn on the log axis (zeros sit 16 decades below s_1)."""
    return float(sv[0]) * 1e-16 if len(sv) and sv[0] > 0 else 1e-300


def singular_value_columns(view) -> dict:
    """The "kept" points of :func:`singular_value_plot` for a low-rank view (anything
    with ``kept_sv``, the top-k singular values): index i and s_i, zeros lifted to the
    plot's floor."""
    s = np.asarray(view.kept_sv, dtype=np.float64)
    return {"index i": np.arange(1, len(s) + 1),
            "singular value s_i": np.maximum(s, _sv_floor(s))}


def singular_value_plot(sv: np.ndarray, rank: int, estimated: np.ndarray | None = None,
                        method: str = "", height: int = 300) -> hv.Overlay:
    """All singular values of A (log-log, grey), the `rank` kept ones highlighted (legend
    "kept"), a method's own estimates (crosses, all it computed) when it makes any, and a
    dotted line after the kept ones."""
    sv = np.asarray(sv, dtype=np.float64)
    i = np.arange(1, len(sv) + 1)
    floor = _sv_floor(sv)
    s = np.maximum(sv, floor)
    k = int(min(rank, len(sv)))
    els = [hv.Curve((i, s), "index i", "singular value s_i", label="all (exact)").opts(
               color="#999999", line_width=1.5),
           hv.Scatter((i[:k], s[:k]), "index i", "singular value s_i", label="kept").opts(
               color=KEPT, size=6)]
    if estimated is not None and len(estimated):
        e = np.maximum(np.asarray(estimated, dtype=np.float64), floor)
        els.append(hv.Scatter((np.arange(1, len(e) + 1), e), "index i",
                              "singular value s_i", label=f"{method} estimate").opts(
            color="#ff7f0e", marker="x", size=7, line_width=1.5))
    els.append(hv.VLine(k + 0.5).opts(color=KEPT, line_dash="dotted", line_width=1))
    return hv.Overlay(els).opts(logy=True, logx=True, height=height, responsive=True,
                                legend_position="bottom_left", show_grid=True,
                                title="Singular value decay (log-log)", tools=["hover"],
                                backend="bokeh")


def run_sv_plot(run, rank: int) -> hv.Overlay:
    """``singular_value_plot`` of a LowRankRun's matrix at `rank`, with its rank path's own
    estimates when its method makes any. O(min(m, n))."""
    from workbench.lowrank.settings import METHOD_LABELS

    path = run.path
    if path is None:
        return singular_value_plot(run.source.sv, int(rank))
    est = path.base.singular_values if path.base is not None else None
    return singular_value_plot(run.source.sv, int(rank), est,
                               METHOD_LABELS.get(path.method, ""))


def error_vs_rank_plot(df: pd.DataFrame, rank: int | None = None, height: int = 340,
                       labels: dict[str, str] | None = None) -> hv.Layout:
    """Two panels against the rank, one curve per method (columns method, rank, fro,
    fro_opt, fro_ratio): the relative Frobenius error ||A - A_k||_F / ||A||_F with the
    Eckart–Young optimum as a dashed black line (log scale), and the error divided by the
    optimum (1 = optimal). A dotted vertical marker shows the current rank."""
    labels = labels or {}
    if df is None or df.empty:
        empty = hv.Curve([], "rank", "relative error").opts(height=height, responsive=True)
        return hv.Layout([empty, hv.Curve([], "rank", "error / optimum").opts(
            height=height, responsive=True)]).opts(backend="bokeh")
    opt = df.groupby("rank", sort=True)["fro_opt"].first().reset_index()
    floor = 1e-16
    err, ratio = [], []
    for method, sub in df.groupby("method", sort=False):
        sub = sub.sort_values("rank")
        col = PALETTE.get(method, "#7f7f7f")
        lab = labels.get(method, method)
        y = np.maximum(sub["fro"].to_numpy(), floor)
        err += [hv.Curve((sub["rank"], y), "rank", "relative error", label=lab).opts(
                    color=col, line_width=2),
                hv.Scatter((sub["rank"], y), "rank", "relative error", label=lab).opts(
                    color=col, size=5)]
        q = sub["fro_ratio"].to_numpy()
        ratio += [hv.Curve((sub["rank"], q), "rank", "error / optimum", label=lab).opts(
                      color=col, line_width=2),
                  hv.Scatter((sub["rank"], q), "rank", "error / optimum", label=lab).opts(
                      color=col, size=5)]
    yo = np.maximum(opt["fro_opt"].to_numpy(), floor)
    err.append(hv.Curve((opt["rank"], yo), "rank", "relative error",
                        label="optimum (truncated SVD)").opts(color=OPT_COLOR,
                                                              line_dash="dashed", line_width=2))
    ratio.append(hv.HLine(1.0).opts(color=OPT_COLOR, line_dash="dashed", line_width=2))
    lo = float(min(yo.min(), df["fro"].min()))
    hi = float(max(yo.max(), df["fro"].max()))
    lo = max(lo, hi * 1e-12, floor)
    qmax = float(np.nanmax(df["fro_ratio"].replace(np.inf, np.nan))) if len(df) else 2.0
    common = dict(height=height, responsive=True, show_grid=True, tools=["hover"])
    left = dict(common, logy=True, ylim=(lo / 1.5, hi * 1.5), show_legend=False,
                title="Relative error ||A - A_k||_F / ||A||_F (dashed: optimum)")
    right = dict(common, ylim=(0.95, max(1.1, min(qmax, 10.0) * 1.05)),
                 legend_position="right", title="Error / optimum (1 = Eckart–Young)")

    def marker():
        return [hv.VLine(rank).opts(color=KEPT, line_dash="dotted", line_width=1)] \
            if rank is not None else []

    a, b = hv.Overlay(err + marker()), hv.Overlay(ratio + marker())
    return (a.opts(**left) + b.opts(**right)).opts(shared_axes=False).cols(2).opts(
        backend="bokeh")


def completion_history_plot(history: pd.DataFrame, height: int = 300) -> hv.Overlay:
    """Errors over the sweeps of a completion run: on the fitted entries (train), on
    held-out observed entries, and against the truth when known (columns iteration,
    train_error, holdout_error, true_error)."""
    cols = [("train_error", "fitted entries", "#1f77b4"),
            ("holdout_error", "held-out entries", "#ff7f0e"),
            ("true_error", "all entries (truth)", "#2ca02c")]
    els = []
    for col, lab, color in cols:
        if history is not None and col in history and history[col].notna().any():
            y = np.maximum(history[col].to_numpy(dtype=float), 1e-16)
            els.append(hv.Curve((history["iteration"], y), "sweep", "relative error",
                                label=lab).opts(color=color, line_width=2))
    if not els:
        els = [hv.Curve([], "sweep", "relative error")]
    els.append(hv.HLine(1e-6).opts(color="#999999", line_dash="dashed", line_width=1))
    return hv.Overlay(els).opts(logy=True, height=height, responsive=True, show_grid=True,
                                legend_position="top_right", title="Error over sweeps "
                                "(dashed: 1e-6, the recovery threshold)", backend="bokeh")


def _named(name: str):
    """A hook naming the Bokeh model of a marker line (``LiveFigure.move_span`` finds it)."""
    def hook(plot, _element):
        plot.handles["glyph"].name = name
    return hook


def completion_plots(done, height: int = 280) -> tuple:
    """(observed, recovered, error history) of a CompletionRun: the observed entries (grey:
    missing) and the completed matrix as images in the same colour scale, and
    ``completion_history_plot``. O(matrix pixels)."""
    res = done.result
    return (matrix_image(done.observed, f"observed {done.mask.mean():.0%} (grey: missing)",
                         kind=done.kind, clim=done.clim, height=height),
            matrix_image(res.X, f"recovered, rank {res.rank}", kind=done.kind,
                         clim=done.clim, height=height),
            completion_history_plot(done.history))


def phase_title(size: int, true_rank: int) -> str:
    """Title of the phase diagram of random `size` x `size` matrices of rank `true_rank`."""
    return f"When is completion possible? ({size} x {size}, rank {true_rank})"


def phase_transition_plot(df: pd.DataFrame, fraction: float | None = None,
                          height: int = 300) -> hv.Overlay:
    """Success rate against the observed fraction (columns fraction, success,
    oversampling), with a line where samples = degrees of freedom and a marker at the
    current fraction."""
    if df is None or df.empty:
        return hv.Overlay([hv.Curve([], "observed fraction", "success rate")]).opts(
            height=height, responsive=True, backend="bokeh")
    els = [hv.Curve((df["fraction"], df["success"]), "observed fraction",
                    "success rate", label="recovered to 1e-6").opts(color=KEPT,
                                                                     line_width=2),
           hv.Scatter((df["fraction"], df["success"]), "observed fraction",
                      "success rate").opts(color=KEPT, size=6)]
    over = df["oversampling"].to_numpy()
    fr = df["fraction"].to_numpy()
    if over[0] < 1 < over[-1]:
        f_dof = float(np.interp(1.0, over, fr))
        els.append(hv.VLine(f_dof, label="samples = degrees of freedom").opts(
            color="#999999", line_dash="dashed"))
    if fraction is not None:  # named: the dashboard moves it (LiveFigure.move_span)
        els.append(hv.VLine(fraction).opts(color="#d62728", line_dash="dotted",
                                           hooks=[_named("fraction")]))
    return hv.Overlay(els).opts(height=height, responsive=True, show_grid=True,
                                ylim=(-0.05, 1.05), legend_position="bottom_right",
                                title="When is completion possible?", backend="bokeh")
