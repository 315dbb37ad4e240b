"""Low-rank explorer: take a matrix — a photo, a MiniLM weight matrix, an RBF kernel, a
synthetic matrix with a chosen spectrum, or your own .npy/.npz — and see what each method
keeps and loses at each rank.

Costly work runs in the background through ``run_background`` and is cached by its
parameters: loading a source and its exact singular values, one decomposition per method
at the largest rank (``workbench.lowrank.rank_path``), the error-vs-rank curves of every
method, and matrix completion runs. Moving the rank slider only slices / re-assembles the
cached factors (milliseconds). Linear algebra lives in ``workbench.lowrank``; plots in
``workbench.viz.lowrank``.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import panel as pn
import param

from workbench.errors import InputFormatError, ShapeError, WorkbenchError
from workbench.ui.base import Explorer, served, themed_renderer

SOURCES = {
    "Photo (scikit-learn sample image)": "image",
    "MiniLM weight matrix": "minilm",
    "RBF kernel matrix (digits)": "kernel",
    "Synthetic (chosen decay + noise)": "synthetic",
    "Uploaded .npy / .npz": "uploaded",
}
METHOD_LABELS = {
    "svd": "Truncated SVD (exact)",
    "randomized": "Randomized SVD",
    "krylov": "Block Krylov SVD",
    "cur_leverage": "CUR (leverage scores)",
    "cur_qr": "CUR (pivoted QR)",
    "id": "Interpolative decomposition",
    "nystrom": "Nyström (PSD kernels)",
}
COMPLETION_MATRICES = {"Random rank-r matrix (incoherent)": "random",
                       "The current matrix (downsampled)": "current"}
COMPLETION_METHODS = {"Alternating minimization": "altmin", "Soft-impute": "softimpute"}
MAX_RANK = 100
UPLOAD_MAX_BYTES = 64 * 2**20
UPLOAD_MAX_SIDE = 2000
COMPLETION_SIZE = 100       # side of the random completion problem
COMPLETION_MAX_SIDE = 120   # the current matrix is strided down to this


def _minilm_names() -> list[str]:
    try:
        from workbench.lowrank.sources import minilm_matrix_names

        return minilm_matrix_names()
    except WorkbenchError:  # MiniLM package missing: the source shows a message
        from workbench.lowrank.sources import DEFAULT_MINILM_MATRIX

        return [DEFAULT_MINILM_MATRIX]


def _short(name: str) -> str:
    return name.replace("encoder.layer.", "layer ").replace(".weight", "")


def _render(element):
    """A HoloViews element as a Bokeh model (rendered once, then updated in place), in the
    page's Bokeh theme (the error-vs-rank figures were white on the dark theme)."""
    return themed_renderer().get_plot(element).state


def _image_source(fig):
    from bokeh.models import GlyphRenderer, Image

    return next(r.data_source for r in fig.select({"type": GlyphRenderer})
                if isinstance(r.glyph, Image))


def _legend_source(fig, label: str):
    for legend in fig.legend:
        for item in legend.items:
            if getattr(item.label, "value", item.label) == label:
                return item.renderers[0].data_source
    return None


def _vspans(model) -> list:
    """The vertical marker lines (hv.VLine -> bokeh Span with dimension 'height')."""
    from bokeh.models import Span

    return [s for s in model.select({"type": Span}) if s.dimension == "height"]


class LowRankExplorer(Explorer):
    """Compare low-rank approximations of a matrix against the Eckart–Young optimum."""

    title = "Low-rank approximation"
    description = ("Approximate a photo, a MiniLM weight matrix, a kernel or your own matrix "
                   "with SVD, randomized SVD, CUR, Nyström...: what each keeps at each "
                   "rank, against the optimum; and when matrix completion is possible.")
    url_params = ("rank", "source", "method", "image", "layer", "decay", "noise", "fraction",
                  "completion_rank", "completion_matrix", "true_rank", "completion_method")

    rank = param.Integer(default=10, bounds=(1, MAX_RANK), doc="Rank k of the approximation")
    source = param.Selector(default="image", objects=SOURCES, check_on_set=False,
                            doc="Matrix to approximate")
    method = param.Selector(default="svd", objects={v: k for k, v in METHOD_LABELS.items()},
                            doc="Approximation method")
    image = param.Selector(default="china.jpg", objects=["china.jpg", "flower.jpg"],
                           doc="Photo")
    layer = param.Selector(default="encoder.layer.0.attention.self.query.weight",
                           objects=["encoder.layer.0.attention.self.query.weight"],
                           check_on_set=False, doc="MiniLM weight matrix")
    decay = param.Selector(default="slow", objects=["fast", "slow", "flat"],
                           doc="Spectrum of the synthetic matrix")
    noise = param.Number(default=0.01, bounds=(0.0, 0.2), step=0.005,
                         doc="Noise added to the synthetic matrix")
    fraction = param.Number(default=0.3, bounds=(0.02, 0.9), step=0.01,
                            doc="Fraction of entries observed")
    completion_rank = param.Integer(default=5, bounds=(1, 30), doc="Rank of the completion")
    completion_matrix = param.Selector(default="random", objects=COMPLETION_MATRICES,
                                       doc="Matrix to complete")
    true_rank = param.Integer(default=5, bounds=(1, 20),
                              doc="Rank of the random matrix to complete")
    completion_method = param.Selector(default="altmin", objects=COMPLETION_METHODS,
                                       doc="Completion method")

    def __init__(self, **params):
        super().__init__(**params)
        self.param.layer.objects = {_short(n): n for n in _minilm_names()}
        self._A: np.ndarray | None = None          # the current matrix
        self._sv: np.ndarray | None = None         # its singular values
        self._kind = "image"
        self._key: tuple | None = None             # identifies the current matrix
        self._label = ""
        self._uploaded: np.ndarray | None = None
        self._upload_name = ""
        self._upload_digest = ""
        self._paths: dict[tuple, object] = {}      # (key, method) -> RankPath
        self._path = None                          # RankPath shown, for self._path_key
        self._path_key: tuple | None = None
        self._curves = pd.DataFrame()
        self._good_method = self.method
        self._notice = ""                          # why the method was switched back
        self._completion = None
        self._phase = pd.DataFrame()

        # The per-rank plots are rendered to Bokeh once (per source / method / curves) and
        # a rank change only replaces data in their sources and moves their markers: a
        # HoloViews re-render costs ~100 ms per plot, a source update a few ms.
        self._live: dict[str, object] = {}
        self._table_rank = None
        bk = dict(sizing_mode="stretch_width")
        self._original = pn.pane.Bokeh(None, **bk)
        self._recon = pn.pane.Bokeh(None, **bk)
        self._svplot = pn.pane.Bokeh(None, **bk)
        hvpane = dict(sizing_mode="stretch_width", linked_axes=False)
        self._stats = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._curveplot = pn.pane.Bokeh(None, **bk)
        self._active_tab = 0         # the tab shown (set by view()'s Tabs)
        self._curves_stale = False   # the curve figure waits for its tab (served pages)
        self._table = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                           sizing_mode="stretch_width", height=260)
        self._masked = pn.pane.HoloViews(None, **hvpane)
        self._recovered = pn.pane.HoloViews(None, **hvpane)
        self._history = pn.pane.HoloViews(None, **hvpane)
        self._phaseplot = pn.pane.HoloViews(None, **hvpane)
        self._cstatus = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._upload = pn.widgets.FileInput(accept=".npy,.npz", sizing_mode="stretch_width",
                                            multiple=False)
        self._upload.param.watch(self.guarded(self._on_upload), "value")
        self._w_image = pn.widgets.Select.from_param(self.param.image, name="Photo")
        self._w_layer = pn.widgets.Select.from_param(self.param.layer, name="Weight matrix")
        self._w_decay = pn.widgets.RadioButtonGroup.from_param(self.param.decay,
                                                               name="Spectrum")
        self._w_noise = pn.widgets.FloatSlider.from_param(self.param.noise, name="Noise")
        self._update_visibility()

        self.param.watch(self._on_source, ["source", "image", "layer", "decay", "noise"])
        self.param.watch(self._on_method, ["method"])
        self.param.watch(self._on_rank, ["rank"])
        self.param.watch(self._on_completion, ["fraction", "completion_rank",
                                               "completion_matrix", "true_rank",
                                               "completion_method"])
        self.param.watch(self._on_phase, ["true_rank", "completion_method"])
        self._load_source()
        self._run_completion()
        self._run_phase()

    # ------------------------------------------------------------------ sources
    def _source_key(self) -> tuple:
        s = self.source
        if s == "image":
            return ("image", self.image)
        if s == "minilm":
            return ("minilm", self.layer)
        if s == "kernel":
            return ("kernel", 400)
        if s == "synthetic":
            return ("synthetic", self.decay, round(float(self.noise), 6))
        return ("uploaded", self._upload_digest)

    def _on_source(self, *events) -> None:
        names = {e.name for e in events}
        relevant = {"source", {"image": "image", "minilm": "layer", "synthetic": "decay"}
                    .get(self.source, "")}
        if self.source == "synthetic":
            relevant.add("noise")
        if names & relevant:
            self._notice = ""
            self.guarded(self._load_source)()
        self._update_visibility()

    def _load_source(self) -> None:
        from workbench.lowrank import sources as src
        from workbench.lowrank.results import exact_singular_values

        problem = None
        if self.source not in SOURCES.values():
            problem = f"unknown source {self.source!r}; showing the photo"
        elif self.source == "uploaded" and self._uploaded is None:
            problem = ("no matrix uploaded yet: choose a .npy or .npz file below (showing "
                       "the photo)")
        if problem:
            self.source = "image"          # loads the photo
            self._notice = problem         # stays on the page (the alert may be cleared)
            raise InputFormatError(problem)
        key = self._source_key()
        s = self.source
        image, layer, decay, noise = self.image, self.layer, self.decay, float(self.noise)
        uploaded = self._uploaded

        def work():
            if s == "image":
                A, kind, label = src.sample_image(image), "image", f"photo {image}"
            elif s == "minilm":
                A, kind, label = src.minilm_matrix(layer), "matrix", f"MiniLM {_short(layer)}"
            elif s == "kernel":
                A, kind, label = src.rbf_kernel_matrix(400, seed=0), "matrix", \
                    "RBF kernel of 400 digits"
            elif s == "synthetic":
                A = src.synthetic(300, 200, decay, rank=10, noise=noise, seed=0).A
                kind, label = "matrix", f"synthetic 300 x 200, {decay} decay, noise {noise:g}"
            else:
                A, kind, label = uploaded, "matrix", f"uploaded {self._upload_name}"
            return A, exact_singular_values(A), kind, label, key

        self.run_background(None if s == "uploaded" else ("source", key), work,
                            self._set_source, channel="source",
                            label="Loading the matrix and its exact singular values…")

    def _set_source(self, result) -> None:
        A, sv, kind, label, key = result
        self._A, self._sv, self._kind, self._label, self._key = A, sv, kind, label, key
        self._curves = pd.DataFrame()
        maxr = min(MAX_RANK, *A.shape)
        self.param.rank.bounds = (1, maxr)
        if self.rank > maxr:
            self.rank = maxr            # triggers _on_rank
        self._decompose()               # start the background work first, then draw
        self._compute_curves()
        self._build_images(A)
        self._build_sv_plot(self._path if self._path_key == key else None)
        self._build_curve_plot()
        self._refresh_rank()
        if self.completion_matrix == "current":
            self._run_completion()

    def _clim(self):
        if self._kind == "image":
            return (0.0, 1.0)
        c = float(np.abs(self._A).max()) if self._A is not None else 1.0
        return (-(c or 1.0), c or 1.0)

    def _image(self, M: np.ndarray, title: str):
        from workbench.viz.lowrank import matrix_image

        return matrix_image(M, title, kind=self._kind, clim=self._clim())

    def _build_images(self, A: np.ndarray) -> None:
        """Original and reconstruction as Bokeh figures sharing their zoom; the
        reconstruction's image source is kept for per-rank updates."""
        from workbench.viz.lowrank import matrix_image

        m, n = A.shape
        orig = _render(self._image(A, f"original ({m} x {n})"))
        recon = _render(matrix_image(np.zeros(A.shape), "reconstruction: computing…",
                                     kind=self._kind, clim=self._clim(), colorbar=True))
        recon.x_range, recon.y_range = orig.x_range, orig.y_range
        self._live["image"] = _image_source(recon)
        self._live["recon"] = recon
        self._original.object = orig
        self._recon.object = recon

    def _build_sv_plot(self, path) -> None:
        from workbench.viz.lowrank import singular_value_plot

        est = path.base.singular_values if path is not None and path.base is not None \
            else None
        label = METHOD_LABELS.get(path.method, "") if path is not None else ""
        fig = _render(singular_value_plot(self._sv, int(self.rank), est, label))
        self._live["kept"] = _legend_source(fig, "kept")
        self._live["sv_spans"] = _vspans(fig)
        self._svplot.object = fig

    def _build_curve_plot(self) -> None:
        """Render the error-vs-rank figure. On a served page only while its tab is shown:
        rendering it cost ~0.5-0.8 s of the server's time per new session (twice: empty,
        then with the curves), most of a session's start, for a tab most never open; it is
        rendered when the tab is chosen (``_on_tab``)."""
        from workbench.viz.lowrank import error_vs_rank_plot

        if served(pn.state.curdoc) and self._active_tab != 1:
            self._curves_stale = True
            return
        self._curves_stale = False

        grid = _render(error_vs_rank_plot(self._curves, int(self.rank), labels=METHOD_LABELS))
        self._live["curve_spans"] = _vspans(grid)
        self._curveplot.object = grid
        self._table_rank = None

    # ------------------------------------------------------------------ upload
    def _on_upload(self, event) -> None:
        from workbench.io import load_matrices

        if not event.new:
            return
        name = self._upload.filename or "upload.npy"
        mats = load_matrices(event.new, filename=name, max_bytes=UPLOAD_MAX_BYTES)
        two_d = {k: v for k, v in mats.items() if v.ndim == 2}
        if not two_d:
            shapes = ", ".join(f"{k}: shape {v.shape}" for k, v in list(mats.items())[:4])
            raise ShapeError(f"{name} holds no 2-D matrix ({shapes}); expected an m x n "
                             "array (2 dimensions)")
        arr_name, arr = next(iter(two_d.items()))
        if min(arr.shape) < 2:
            raise ShapeError(f"{name}: matrix {arr_name!r} has shape {arr.shape}; "
                             "need at least 2 rows and 2 columns")
        if max(arr.shape) > UPLOAD_MAX_SIDE:
            raise ShapeError(f"{name}: matrix {arr_name!r} has shape {arr.shape}; the "
                             f"dashboard takes at most {UPLOAD_MAX_SIDE} rows and columns")
        A = np.ascontiguousarray(arr, dtype=np.float64)
        if not np.isfinite(A).all():   # integer files pass the loader's float check
            raise InputFormatError(f"{name} holds NaN or inf values")
        self._uploaded = A
        self._upload_name = name if len(two_d) == 1 else f"{name}[{arr_name}]"
        self._upload_digest = hashlib.blake2b(A.tobytes(), digest_size=12).hexdigest()
        if self.source == "uploaded":
            self._load_source()
        else:
            self.source = "uploaded"

    # ------------------------------------------------------------------ decomposition
    def _on_method(self, *_events) -> None:
        self._notice = ""
        self.guarded(self._decompose)()

    def _decompose(self) -> None:
        from workbench.lowrank.paths import rank_path

        if self._A is None:
            return
        method, key = self.method, self._key
        cached = self._paths.get((key, method))
        if cached is not None:
            self.clear_error()
            self._set_path(cached)
            return
        A, sv = self._A, self._sv
        maxr = self.param.rank.bounds[1]

        def work():
            try:
                return rank_path(A, maxr, method, reference_sv=sv), key, method
            except WorkbenchError as exc:     # e.g. Nyström on a non-PSD matrix
                return exc, key, method

        ckey = None if key[0] == "uploaded" else ("path", key, method, maxr)
        self.run_background(ckey, work, self._set_path_result, channel="path",
                            label=f"Computing the {METHOD_LABELS[method]} (once, at rank "
                                  f"{maxr})…")

    def _set_path_result(self, result) -> None:
        path, key, method = result
        if isinstance(path, Exception):
            if self.method == method and key == self._key:
                fallback = self._good_method if self._good_method != method else "svd"
                self.method = fallback                   # back to something that works
                self._notice = (f"{METHOD_LABELS[method]} does not apply here ({path}); "
                                f"showing the {METHOD_LABELS[fallback]}.")
                self._refresh_rank()
            raise path
        self._paths[(key, method)] = path
        if len(self._paths) > 16:
            self._paths.pop(next(iter(self._paths)))
        if key == self._key and method == self.method:
            self._set_path(path)

    def _set_path(self, path) -> None:
        self._path, self._path_key = path, self._key
        self._good_method = path.method
        self._build_sv_plot(path)
        self._refresh_rank()

    # ------------------------------------------------------------------ rank (cheap)
    def _on_rank(self, *_events) -> None:
        self.guarded(self._refresh_rank)()

    def _refresh_rank(self) -> None:
        """Everything that depends on the rank only: slices of the cached factors, data
        written into the rendered plots' sources and markers (no plot is rebuilt), the
        numbers."""
        from workbench.lowrank.results import optimum

        if self._sv is None:
            return
        k = int(min(self.rank, self.param.rank.bounds[1]))
        kept = self._live.get("kept")
        if kept is not None:
            i = np.arange(1, k + 1)
            s = np.maximum(self._sv[:k], self._sv[0] * 1e-16 if self._sv[0] > 0 else 1e-300)
            kept.data = {"index i": i, "singular value s_i": s}
        for span in self._live.get("sv_spans", ()):
            span.location = k + 0.5
        for span in self._live.get("curve_spans", ()):
            span.location = k
        self._update_table(k)
        path = self._path if self._path_key == self._key else None
        fro_opt = optimum(self._sv, k)[0]
        energy = 1 - fro_opt**2
        if path is None:
            self._stats.object = (f"**{self._label}** · rank {k} keeps {energy:.1%} of the "
                                  "energy (sum of s_i^2) · computing the approximation…")
            return
        res = path.result(k)
        X = res.approx()
        fro = float(np.linalg.norm(self._A - X)) / (float(np.linalg.norm(self._sv)) or 1.0)
        ratio = fro / fro_opt if fro_opt > 0 else 1.0
        self._show_reconstruction(X, f"{METHOD_LABELS[path.method]}, rank {k}")
        m, n = self._A.shape
        notice = f"⚠ {self._notice}\n\n" if self._notice else ""
        self._stats.object = notice + (
            f"| {self._label}: rank **{k}** of {min(m, n)} | |\n|:---|---:|\n"
            f"| relative error ‖A − A_k‖_F / ‖A‖_F | **{fro:.4f}** |\n"
            f"| optimum (truncated SVD, Eckart–Young) | {fro_opt:.4f} |\n"
            f"| error / optimum | **{ratio:.3f}×** |\n"
            f"| energy kept by the optimum | {energy:.1%} |\n"
            f"| numbers stored (m n = {m * n:,}) | {res.num_parameters:,} — "
            f"**{res.compression_ratio:.1f}× smaller** |\n"
            f"| decomposition time (once, at rank {path.max_rank}) | {path.seconds:.3f} s |")

    def _show_reconstruction(self, X: np.ndarray, title: str) -> None:
        from workbench.viz.lowrank import block_mean

        src = self._live.get("image")
        if src is None:
            return
        src.data = dict(src.data, image=[block_mean(X)])
        self._live["recon"].title.text = title

    # ------------------------------------------------------------------ curves
    def _compute_curves(self) -> None:
        from workbench.lowrank.paths import rank_path

        A, sv, key = self._A, self._sv, self._key
        maxr = self.param.rank.bounds[1]
        ranks = np.unique(np.round(np.geomspace(1, maxr, 14)).astype(int))

        def work():
            rows, paths = [], {}
            for method in METHOD_LABELS:
                try:
                    path = rank_path(A, maxr, method, reference_sv=sv)
                except WorkbenchError:        # Nyström on a non-PSD matrix
                    continue
                paths[method] = path
                rows += path.errors(ranks)
            return pd.DataFrame(rows), paths, key

        ckey = None if key[0] == "uploaded" else ("curves", key, maxr)
        self.run_background(ckey, work, self._set_curves, channel="curves",
                            label="Error vs rank for every method…")

    def _set_curves(self, result) -> None:
        df, paths, key = result
        if key != self._key:
            return
        for method, path in paths.items():
            self._paths.setdefault((key, method), path)
        self._curves = df
        self._build_curve_plot()
        self._refresh_rank()

    def _update_table(self, k: int) -> None:
        df = self._curves
        if df.empty:
            if self._table_rank is not None or not self._table.value.empty:
                self._table.value = pd.DataFrame()
            self._table_rank = None
            return
        near = int(df.iloc[(df["rank"] - k).abs().argsort()]["rank"].iloc[0])
        if near == self._table_rank:
            return
        self._table_rank = near
        sub = df[df["rank"] == near]
        self._table.value = pd.DataFrame({
            "method": [METHOD_LABELS.get(m, m) for m in sub["method"]],
            f"error at rank {near}": sub["fro"].round(5).to_numpy(),
            "error / optimum": sub["fro_ratio"].round(4).to_numpy(),
            "compression": sub["compression"].round(1).to_numpy(),
            "time (s, at max rank)": sub["seconds"].round(3).to_numpy(),
        })

    # ------------------------------------------------------------------ completion
    def _on_completion(self, *_events) -> None:
        self.guarded(self._run_completion)()

    def _run_completion(self) -> None:
        import workbench.lowrank as lr

        which, frac = self.completion_matrix, float(self.fraction)
        r, true_r, method = int(self.completion_rank), int(self.true_rank), \
            self.completion_method
        if which == "current" and self._A is None:
            return
        A, akey = self._A, self._key

        def work():
            if which == "random":
                prob = lr.completion_problem(COMPLETION_SIZE, COMPLETION_SIZE, true_r, frac,
                                             seed=0)
                truth, mask = prob.truth, prob.mask
            else:
                m, n = A.shape
                truth = np.ascontiguousarray(A[::math.ceil(m / COMPLETION_MAX_SIDE),
                                               ::math.ceil(n / COMPLETION_MAX_SIDE)])
                mask = np.random.default_rng(0).random(truth.shape) < frac
            if not mask.any():
                raise ShapeError("no entry observed: raise the observed fraction")
            r_eff = min(r, *truth.shape)
            fn = lr.alternating_minimization if method == "altmin" else lr.soft_impute
            res = fn(truth, mask, r_eff, truth=truth, max_iters=100, seed=0)
            return truth, mask, res

        ckey = None if (which == "current" and akey and akey[0] == "uploaded") else \
            ("completion", which, akey if which == "current" else true_r, frac, r, method)
        self.run_background(ckey, work, self._set_completion, channel="completion",
                            label="Completing the matrix…")

    def _set_completion(self, result) -> None:
        from workbench.viz.lowrank import completion_history_plot, matrix_image

        truth, mask, res = result
        self._completion = result
        c = float(np.abs(truth).max()) or 1.0
        kind = "image" if (self.completion_matrix == "current" and self._kind == "image") \
            else "matrix"
        lim = (0.0, 1.0) if kind == "image" else (-c, c)
        self._masked.object = matrix_image(np.where(mask, truth, np.nan),
                                           f"observed {mask.mean():.0%} (grey: missing)",
                                           kind=kind, clim=lim, height=280)
        self._recovered.object = matrix_image(res.X, f"recovered, rank {res.rank}",
                                              kind=kind, clim=lim, height=280)
        self._history.object = completion_history_plot(pd.DataFrame(res.history))
        m, n = truth.shape
        dof = res.rank * (m + n - res.rank)
        head = (f"**Recovered** to {res.final_error:.1e} (relative error on all entries)"
                if res.recovered else f"**Not recovered** (to 1e-6): relative error "
                f"{res.final_error:.2e} on all entries")
        self._cstatus.object = (
            f"{head}  \n{int(mask.sum()):,} observed entries = "
            f"{mask.sum() / dof:.2f}× the {dof:,} degrees of freedom of a rank-{res.rank} "
            f"{m} x {n} matrix · {len(res.history)} sweeps, "
            f"{res.seconds_per_sweep * 1e3:.1f} ms per sweep")
        self._phaseplot.object = self._phase_element()

    def _on_phase(self, *_events) -> None:
        self.guarded(self._run_phase)()

    def _run_phase(self) -> None:
        import workbench.lowrank as lr

        r, method = int(self.true_rank), self.completion_method
        fractions = np.round(np.linspace(0.04, 0.6, 12), 3)

        def work():
            pt = lr.phase_transition(COMPLETION_SIZE, COMPLETION_SIZE, r, fractions=fractions,
                                     seeds=2, method=method, max_iters=60)
            return pd.DataFrame({"fraction": pt.fractions, "success": pt.success,
                                 "oversampling": pt.oversampling})

        self.run_background(("phase", r, method), work, self._set_phase, channel="phase",
                            label="Phase transition (24 completions)…")

    def _set_phase(self, df) -> None:
        self._phase = df
        self._phaseplot.object = self._phase_element()

    def _phase_element(self):
        from workbench.viz.lowrank import phase_transition_plot

        el = phase_transition_plot(self._phase, float(self.fraction))
        n = COMPLETION_SIZE
        return el.opts(title=f"When is completion possible? ({n} x {n}, rank "
                             f"{self.true_rank})")

    # ------------------------------------------------------------------ layout
    def _update_visibility(self) -> None:
        s = self.source
        self._w_image.visible = s == "image"
        self._w_layer.visible = s == "minilm"
        self._w_decay.visible = s == "synthetic"
        self._w_noise.visible = s == "synthetic"

    def controls(self) -> list:
        return [
            pn.widgets.IntSlider.from_param(self.param.rank, name="Rank k"),
            pn.widgets.Select.from_param(self.param.source, name="Matrix"),
            self._w_image, self._w_layer, self._w_decay, self._w_noise,
            pn.widgets.Select.from_param(self.param.method, name="Method"),
            pn.pane.Markdown(f"**Upload a matrix** (.npy / .npz, 2-D, at most "
                             f"{UPLOAD_MAX_SIDE} x {UPLOAD_MAX_SIDE}, "
                             f"{UPLOAD_MAX_BYTES // 2**20} MiB; never pickles)",
                             margin=(10, 5, 0, 5)),
            self._upload,
        ]

    def view(self):
        approx = pn.Column(
            pn.Row(self._original, self._recon, sizing_mode="stretch_width"),
            pn.Row(pn.Column(self._stats, width=430), self._svplot,
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        curves = pn.Column(
            pn.pane.Markdown("Every method computed once at the largest rank and evaluated "
                             "at 14 ranks; the dashed line is the best any rank-k matrix "
                             "can do. The table shows the rank nearest the slider.",
                             sizing_mode="stretch_width"),
            self._curveplot, self._table, sizing_mode="stretch_width")
        ccontrols = pn.Row(
            pn.Column(pn.widgets.FloatSlider.from_param(self.param.fraction,
                                                        name="Observed fraction"),
                      pn.widgets.IntSlider.from_param(self.param.completion_rank,
                                                      name="Rank of the completion"),
                      sizing_mode="stretch_width"),
            pn.Column(pn.widgets.Select.from_param(self.param.completion_matrix,
                                                   name="Matrix"),
                      pn.widgets.IntSlider.from_param(self.param.true_rank,
                                                      name="True rank (random matrix)"),
                      pn.widgets.RadioButtonGroup.from_param(self.param.completion_method),
                      sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        completion = pn.Column(
            ccontrols, self._cstatus,
            pn.Row(self._masked, self._recovered, sizing_mode="stretch_width"),
            pn.Row(self._history, self._phaseplot, sizing_mode="stretch_width"),
            pn.pane.Markdown("Right: success rate over 2 random matrices per fraction; grey "
                             "dashed: samples = degrees of freedom r(m + n − r), below which "
                             "no method can succeed; red dotted: your observed fraction.",
                             sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        tabs = pn.Tabs(("Approximation", approx), ("Error vs rank", curves),
                       ("Completion", completion), sizing_mode="stretch_width",
                       dynamic=True)
        tabs.param.watch(self.guarded(self._on_tab), "active")
        return tabs

    def _on_tab(self, event) -> None:
        self._active_tab = event.new
        if event.new == 1 and self._curves_stale:
            self._build_curve_plot()
            self._refresh_rank()

    def export_data(self) -> pd.DataFrame | None:
        """The error-vs-rank table of every method (or the singular values before it is
        ready)."""
        if not self._curves.empty:
            return self._curves
        if self._sv is not None:
            return pd.DataFrame({"index": np.arange(1, len(self._sv) + 1),
                                 "singular_value": self._sv})
        return None
