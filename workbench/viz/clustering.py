"""Plots of clustering results. Pure functions: arrays/results in, HoloViews elements out
(no fitting, no linear algebra, no Panel; only rasterization of many points with
datashader through ``holoviews.operation.datashader`` and histogramming for display).

    from workbench.viz.clustering import cluster_scatter, eigenvalue_plot
    cluster_scatter(X, sc.labels_)                          # points coloured by cluster
    eigenvalue_plot(sc.laplacian_eigenvalues_, k=2)         # Laplacian spectrum, gap marked

Next to each ``*_plot`` (drawn once), what a cheap view change writes into the drawn
figure: ``label_columns`` (a ``cluster_scatter``'s label columns),
``eigenvalue_k_location`` (where ``eigenvalue_plot``'s dashed k line goes),
``projection_histogram_columns`` (the histograms' bars, one source per true cluster).
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the options even before hv.extension
import numpy as np
import pandas as pd

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
           "#7b4173", "#3182bd"]
RASTERIZE_ABOVE = 20_000   # more points than this are drawn as a datashader image
WEBGL_ABOVE = 5_000        # up to this many glyphs a plain canvas draws faster than WebGL
_CANVAS = {"plot.output_backend": "canvas"}  # (HoloViews' default is WebGL)
ZERO_FLOOR = 1e-9   # eigenvalues below are drawn here on a log axis
_GAP = "#d62728"
_THEORY = "#d62728"


def _labels(labels, n: int) -> np.ndarray:
    if labels is None:
        return np.zeros(n, dtype=np.int64)
    return np.asarray(labels).astype(np.int64, copy=False)


# Colours are fixed per label (PALETTE[label % 16]), whatever the number of clusters, so a
# drawn plot can take new labels without a new colour mapping: the Bokeh scatter maps a
# colour-index column through one LinearColorMapper, the datashaded image counts fixed
# categories (the first 10 or all 16: one compiled aggregation for every k up to 10;
# a new number of categories costs datashader a new compilation, ~0.3 s).
CATEGORIES = [str(i) for i in range(len(PALETTE))]
COLOR_KEY = dict(zip(CATEGORIES, PALETTE, strict=True))


def rasterized(n: int, rasterize_above: int = RASTERIZE_ABOVE) -> bool:
    """Whether ``cluster_scatter`` draws `n` points as a datashader image."""
    return n > rasterize_above


def label_columns(labels) -> dict:
    """The data-source columns of a drawn ``cluster_scatter`` (Bokeh scatter) that hold the
    labels: writing them into its ColumnDataSource recolours the points in place. O(n)."""
    lab = np.asarray(labels).astype(np.int32, copy=False)
    return {"cluster": lab, "color": lab % np.int32(len(PALETTE))}


def eigenvalue_k_location(k: int) -> float:
    """Where ``eigenvalue_plot`` draws its dashed k line (between eigenvalues k and k+1)."""
    return int(k) + 0.5


def _codes(labels, n: int) -> np.ndarray:
    """Colour indices (label mod 16) as int8; no copy for int8 labels already in range."""
    lab = _labels(labels, n) if labels is None else np.asarray(labels)
    if lab.dtype == np.int8 and (lab.size == 0 or (lab.min() >= 0
                                                   and lab.max() < len(PALETTE))):
        return lab
    return (lab.astype(np.int64) % len(PALETTE)).astype(np.int8)


def _padded(v: np.ndarray, padding: float = 0.05) -> tuple[float, float]:
    """The range of `v` widened by `padding` of its span on each side (as the plots'
    ``padding`` option; a fixed range is not padded by HoloViews), (0, 1) when empty."""
    if v.size == 0:
        return (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    pad = padding * (hi - lo) if hi > lo else max(abs(lo), 1.0) * padding
    return (lo - pad, hi + pad)


def _shaded_points_maker(xy: np.ndarray):
    """A function labels -> hv.Points of `xy` with the labels as a categorical of the fixed
    CATEGORIES (for datashader). The coordinates and their ranges are prepared once, so a
    new set of labels costs one pass over them (no copies, no range scans)."""
    x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    kdims = [hv.Dimension("x", range=_padded(x)), hv.Dimension("y", range=_padded(y))]

    def make(labels) -> hv.Points:
        codes = _codes(labels, x.size)
        # 10 categories cover k <= 10 (the shading costs O(pixels x categories)), 16 more
        cats = CATEGORIES[:10] if codes.size == 0 or codes.max() < 10 else CATEGORIES
        cats = pd.Categorical.from_codes(codes, categories=cats, validate=False)
        df = pd.DataFrame({"x": x, "y": y, "cluster": cats}, copy=False)
        return hv.Points(df, kdims, ["cluster"])

    return make


def run_status(settings) -> str:
    """The progress line while a clustering run of ``ClusteringSettings`` `settings` is
    computed."""
    s, n = settings, settings.n_points
    if s.algorithm != "spectral":
        return f"Computing {s.dataset} ({n:,} points)…"
    slow = " (a million points: about a minute)" if n >= 500_000 else ""
    return f"Computing the {s.affinity} graph and the Laplacian embedding of {n:,} points…{slow}"


def labels_status(run, k: int) -> str:
    """The progress line while `run` labels its points for `k` clusters."""
    verb = "Labelling" if run.algorithm == "spectral" else f"Fitting {run.algorithm} on"
    return f"{verb} {run.data.n:,} points for k = {k}…"


def embedding_status(n: int) -> str:
    """The progress line while the Laplacian embedding of `n` points is built beside
    another algorithm's run."""
    return f"Building the Laplacian embedding of {n:,} points…"


def prefetch_status(run) -> str:
    """The progress line while a spectral `run` labels its points for every k."""
    return (f"Labelling the {run.data.n:,} points for every k (1–{run.k_max}), so that the k "
            "slider only looks them up…")


def spectrum_note(limit: int) -> str:
    """The line shown instead of the Laplacian figures beyond `limit` points."""
    return ("*The Laplacian spectrum and embedding are computed for spectral clustering, "
            f"and for the other algorithms up to {limit:,} points.*")


def cluster_scatter(X, labels=None, *, title: str = "", xlabel: str = "x", ylabel: str = "y",
                    height: int = 380, size: float | None = None,
                    rasterize_above: int = RASTERIZE_ABOVE, stream=None):
    """The first two columns of X coloured by cluster label (one colour per label,
    PALETTE[label % 16]). Up to ``rasterize_above`` points: a Bokeh scatter with hover
    (its labels live in the columns ``label_columns`` names); more: a datashader image
    (``holoviews.operation.datashader.datashade`` with a categorical count, re-rendered on
    zoom when served), so a million points stay interactive. ``stream`` (datashaded view
    only): an ``hv.streams.Pipe`` whose data are the labels, used instead of ``labels``;
    sending new labels (``stream.send(labels)``) redraws the image in place (one O(n)
    aggregation). Returns an hv.Points or a DynamicMap of hv.RGB."""
    X = np.asarray(X)
    xy = X[:, :2] if X.shape[1] >= 2 else np.column_stack([X[:, 0], np.zeros(len(X))])
    n = xy.shape[0]
    opts = dict(height=height, responsive=True, title=title, xlabel=xlabel, ylabel=ylabel,
                show_grid=True, padding=0.05, backend="bokeh")
    if rasterized(n, rasterize_above):
        import datashader as ds
        from holoviews.operation.datashader import datashade, dynspread

        if stream is None:
            stream = hv.streams.Pipe(data=labels)
        points = _shaded_points_maker(xy)
        pts = hv.DynamicMap(lambda data: points(data), streams=[stream])
        img = datashade(pts, aggregator=ds.count_cat("cluster"), color_key=COLOR_KEY,
                        min_alpha=60)
        # no legend: it would list every fixed category, not the clusters found; the
        # coordinates' ranges are padded already (_padded)
        opts["padding"] = 0
        return dynspread(img, threshold=0.6, max_px=2).opts(show_legend=False, **opts)
    if size is None:
        size = 5 if n <= 2000 else (3 if n <= 8000 else 2)
    df = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1],
                       "cluster": label_columns(_labels(labels, n))["cluster"]})
    pts = hv.Points(df, ["x", "y"], ["cluster"]).opts(
        color=hv.dim("cluster") % len(PALETTE), cmap=PALETTE,
        clim=(-0.5, len(PALETTE) - 0.5), colorbar=False, size=size, alpha=0.8, line_alpha=0,
        tools=["hover"], show_legend=False, **opts)
    return pts if n > WEBGL_ABOVE else pts.opts(backend_opts=_CANVAS, backend="bokeh")


def embedding_plot(maps, labels=None, dims: tuple[int, int] = (1, 2), *, height: int = 320,
                   title: str | None = None, rasterize_above: int = RASTERIZE_ABOVE,
                   stream=None):
    """Two columns of a spectral embedding (default: the 2nd and 3rd eigenvectors,
    D^-1/2-scaled; column 0 is constant) coloured by cluster: where moons become blobs.
    ``cluster_scatter`` of those columns (same ``stream`` and in-place label updates)."""
    maps = np.asarray(maps)
    i, j = dims
    j = min(j, maps.shape[1] - 1)
    i = min(i, j - 1) if j > 0 else 0
    t = title if title is not None else f"Spectral embedding (eigenvectors {i + 1} and {j + 1})"
    return cluster_scatter(maps[:, [i, j]], labels, title=t, xlabel=f"u{i + 1}",
                           ylabel=f"u{j + 1}", height=height, rasterize_above=rasterize_above,
                           stream=stream)


def eigenvalue_plot(eigenvalues, k: int | None = None, k_gap: int | None = None, *,
                    height: int = 320, log: bool | str = False) -> hv.Overlay:
    """The smallest normalized-Laplacian eigenvalues against their index, the gap after
    ``k_gap`` (the eigengap estimate) shaded and labelled, the chosen ``k`` marked by a
    dashed line between eigenvalues k and k+1. ``log``: logarithmic y axis, eigenvalues
    below ``ZERO_FLOOR`` drawn at the floor (they are 0 to solver accuracy); "auto": when
    the eigenvalue after the gap is below a tenth of the largest."""
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))
    if log == "auto":  # (near-)zero eigenvalues against a rising bulk: a log axis shows the gap
        log = k_gap is not None and k_gap < lam.size and bool(lam[k_gap] < 0.1 * lam[-1])
    if log:
        lam = np.maximum(lam, ZERO_FLOOR)
    idx = np.arange(1, lam.size + 1)
    df = pd.DataFrame({"index": idx, "eigenvalue": lam})
    layers = [hv.Curve(df, "index", "eigenvalue").opts(color="#1f77b4", alpha=0.5,
                                                       backend="bokeh"),
              hv.Scatter(df, "index", "eigenvalue").opts(color="#1f77b4", size=8,
                                                         tools=["hover"], backend="bokeh")]
    if k_gap is not None and 1 <= k_gap < lam.size:
        lo, hi = lam[k_gap - 1], lam[k_gap]
        layers.append(hv.VSpan(k_gap + 0.15, k_gap + 0.85).opts(color=_GAP, alpha=0.12,
                                                                backend="bokeh"))
        layers.append(hv.Segments([(k_gap + 0.5, lo, k_gap + 0.5, hi)]).opts(
            color=_GAP, line_width=3, backend="bokeh"))
        y = (lo + hi) / 2 if not log else np.sqrt(lo * hi)
        layers.append(hv.Text(k_gap + 0.9, y, f" gap → k = {k_gap}", halign="left").opts(
            color=_GAP, text_font_size="11pt", backend="bokeh"))
    if k is not None and 1 <= k < lam.size:
        layers.append(hv.VLine(eigenvalue_k_location(k)).opts(color="#555555", line_dash="dashed",
                                             line_width=1, backend="bokeh"))
    title = "Normalized Laplacian: smallest eigenvalues"
    if log:
        title += f" (log scale; 0 drawn at {ZERO_FLOOR:g})"
    return hv.Overlay(layers).opts(
        height=height, responsive=True, show_grid=True, logy=log, title=title,
        xlabel="index i", ylabel="eigenvalue λᵢ", backend_opts=_CANVAS, backend="bokeh")


def comparison_grid(cells: list[dict], datasets: list[str], algorithms: list[str], *,
                    cell_height: int = 190, cell_width: int = 235):
    """The scikit-learn "comparing clustering algorithms" grid: one row per dataset, one
    column per algorithm. ``cells``: dicts with keys dataset, algorithm, X (n x 2), labels,
    seconds (and optionally ari). Missing cells are drawn empty with "computing…".
    Returns an hv.Layout."""
    by = {(c["dataset"], c["algorithm"]): c for c in cells}
    panels = []
    for dname in datasets:
        for j, aname in enumerate(algorithms):
            c = by.get((dname, aname))
            head = f"{dname} · {aname}" if j == 0 else aname
            if c is None:
                el = hv.Points([], ["x", "y"]).opts(title=f"{head}: computing…",
                                                    backend="bokeh")
            else:
                ari = c.get("ari")
                extra = f" · ARI {ari:.2f}" if ari is not None and np.isfinite(ari) else ""
                el = cluster_scatter(c["X"], c["labels"], title=f"{head} · {c['seconds']:.2f}s"
                                     f"{extra}", size=2.5, height=cell_height)
            panels.append(el.opts(height=cell_height, width=cell_width, responsive=False,
                                  xaxis=None, yaxis=None, show_grid=False,
                                  fontsize={"title": "8pt"}, toolbar=None, backend="bokeh"))
    return hv.Layout(panels).cols(len(algorithms)).opts(shared_axes=False, backend="bokeh")


def selection_curves(table: pd.DataFrame, suggested: dict, k: int | None = None, *,
                     height: int = 230):
    """The k-selection curves (``KSelection.table()``): inertia (elbow), silhouette, BIC,
    eigengap, each with its suggested k marked. Returns an hv.Layout."""
    specs = [("inertia", "elbow", "k-means inertia (elbow)"),
             ("silhouette", "silhouette", "silhouette (higher is better)"),
             ("bic", "bic", "BIC of the partition's mixture (lower is better)"),
             ("eigengap", "eigengap", "Laplacian eigengap λₖ₊₁ − λₖ")]
    panels = []
    for col, key, title in specs:
        if col not in table.columns:
            continue
        df = table[["k", col]].dropna()
        layers = [hv.Curve(df, "k", col).opts(color="#1f77b4", backend="bokeh"),
                  hv.Scatter(df, "k", col).opts(color="#1f77b4", size=7, tools=["hover"],
                                                backend="bokeh")]
        if key in suggested:
            layers.append(hv.VLine(suggested[key]).opts(color=_GAP, line_width=2,
                                                        backend="bokeh"))
        if k is not None:
            layers.append(hv.VLine(k).opts(color="#555555", line_dash="dashed",
                                           backend="bokeh"))
        sug = f" → {suggested[key]}" if key in suggested else ""
        panels.append(hv.Overlay(layers).opts(title=f"{title}{sug}", height=height,
                                              responsive=True, show_grid=True,
                                              xlabel="k", ylabel=col, backend="bokeh"))
    return hv.Layout(panels).cols(2).opts(shared_axes=False, backend="bokeh")


def detectability_plot(signals, accuracy, theory_signals, theory_accuracy, threshold: float,
                       current: float | None = None, *, height: int = 340,
                       kmeans_accuracy=None) -> hv.Overlay:
    """Accuracy of clustering the two-Gaussian mixture against the signal strength:
    simulated points (spectral: sign of the top singular vector; optional k-means), the
    asymptotic theory curve, the detectability threshold (dashed) and the current signal."""
    sim = pd.DataFrame({"signal": signals, "accuracy": accuracy})
    th = pd.DataFrame({"signal": theory_signals, "accuracy": theory_accuracy})
    layers = [
        hv.Curve(th, "signal", "accuracy", label="theory (n, d → ∞)").opts(
            color=_THEORY, line_width=2, backend="bokeh"),
        hv.Scatter(sim, "signal", "accuracy", label="spectral (top singular vector)").opts(
            color="#1f77b4", size=8, tools=["hover"], backend="bokeh"),
        hv.VLine(threshold).opts(color="#555555", line_dash="dashed", backend="bokeh"),
        hv.Text(threshold, 0.97, f" threshold (d/n)^¼ = {threshold:.2f}", halign="left")
        .opts(text_font_size="10pt", color="#555555", backend="bokeh"),
        hv.HLine(0.5).opts(color="#aaaaaa", line_dash="dotted", backend="bokeh"),
    ]
    if kmeans_accuracy is not None:
        km = pd.DataFrame({"signal": signals, "accuracy": kmeans_accuracy})
        layers.append(hv.Scatter(km, "signal", "accuracy", label="k-means").opts(
            color="#2ca02c", marker="triangle", size=8, tools=["hover"], backend="bokeh"))
    if current is not None:
        layers.append(hv.VLine(current).opts(color="#ff7f0e", line_width=2, backend="bokeh"))
    return hv.Overlay(layers).opts(
        height=height, responsive=True, show_grid=True, ylim=(0.45, 1.02),
        legend_position="bottom_right", title="Accuracy against signal strength",
        xlabel="signal ‖μ‖", ylabel="accuracy", backend="bokeh")


def projection_histogram_columns(projection, labels, *, bins: int = 60) -> dict:
    """The bars of ``projection_histogram``: {"true cluster c": {"top": counts, "left":
    bin starts, "right": bin ends}} for every true cluster c. O(n + bins)."""
    p = np.asarray(projection, dtype=np.float64)
    lab = _labels(labels, p.size)
    edges = np.linspace(p.min(), p.max(), bins + 1) if p.size else np.linspace(0, 1, bins + 1)
    out = {}
    for c in np.unique(lab):
        counts, _ = np.histogram(p[lab == c], edges)
        out[f"true cluster {c}"] = {"top": counts.astype(np.float64), "left": edges[:-1],
                                    "right": edges[1:]}
    return out


def projection_histogram(projection, labels, *, bins: int = 60, height: int = 340,
                         title: str = "Points projected on the top singular vector"):
    """Histograms of a 1-D projection (e.g. the top singular vector's entries), one per
    true cluster: two bumps above the threshold, one below (bars:
    ``projection_histogram_columns``). Returns an hv.Overlay."""
    layers = []
    for name, cols in projection_histogram_columns(projection, labels, bins=bins).items():
        c = int(name.rsplit(" ", 1)[1])
        edges = np.append(cols["left"], cols["right"][-1:])
        layers.append(hv.Histogram((edges, cols["top"]), label=name).opts(
            color=PALETTE[c % len(PALETTE)], alpha=0.55, line_alpha=0, backend="bokeh"))
    return hv.Overlay(layers).opts(height=height, responsive=True, show_grid=True,
                                   title=title, xlabel="entry of u₁", ylabel="points",
                                   legend_position="top_right", backend="bokeh")


def split_columns(split) -> dict:
    """The histogram of a ``detectability.SplitResult`` for ``LiveFigure.write_columns``:
    its bars (``projection_histogram_columns``) and title."""
    return {"sources": projection_histogram_columns(split.projection, split.truth),
            "title": f"Top singular vector's entries at signal {split.signal:.2f}"}


def split_plot(split):
    """``projection_histogram`` of a ``detectability.SplitResult``, titled by its signal."""
    return projection_histogram(split.projection, split.truth,
                                title=split_columns(split)["title"])
