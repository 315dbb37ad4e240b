"""Plots of the curvature-approximation run (``workbench.hessian.approximations``): the
top eigenvalues of the exact Gauss-Newton block and of its Kronecker approximations side by
side, their eigenvectors' overlaps with the exact ones, the top overlap and the relative
error over training, and M-FAC's error against m. Each figure: ``*_columns(view)`` (what
its sources hold) next to ``*_plot(view)``. Pure shaping.
"""

from __future__ import annotations

import numpy as np

from workbench.hessian.approximations import METHOD_LABELS, METHODS
from workbench.viz.lines import lines_columns, lines_plot

COLORS = {METHOD_LABELS["exact"]: "#1f77b4", METHOD_LABELS["optimal"]: "#2ca02c",
          METHOD_LABELS["kfac"]: "#ff7f0e", METHOD_LABELS["shampoo"]: "#d62728",
          "M-FAC": "#9467bd"}
APPROX = METHODS[1:]
TEXT = (
    "**Curvature approximations.** Second-order optimizers and pruners never form the "
    "Gauss-Newton block H of a layer's weight (m·n × m·n); they keep a Kronecker product "
    "B ⊗ A of two small factors. **K-FAC** takes the output-gradient and input covariances "
    "as if independent; **Shampoo** uses E[GGᵀ] ⊗ E[GᵀG] of the per-sample gradients G, "
    "one power-iteration step towards the **optimal** B ⊗ A (nearest to H in Frobenius "
    "norm: the top singular pair of H rearranged). Compare their top eigenvalues with the "
    "exact block's and how well their top eigenvectors line up (overlap 1 = the same "
    "direction), layer by layer, as training goes on. **M-FAC** instead keeps m gradients "
    "and applies the damped inverse empirical Fisher in O(dm): its error against the dense "
    "answer falls as m grows and vanishes at m = N.")


def approx_text(run, view) -> str:
    """The summary line of an ApproxView of `run` (Markdown): the layer, its GGN block's
    size, and each approximation's error and top overlap."""
    err = " · ".join(f"{METHOD_LABELS[m]}: error {view.errors[m]:.3f}, top overlap "
                     f"{view.overlaps[m][0]:.3f}" for m in APPROX)
    m, n = view.shape
    return (f"Layer **{view.layer}** ({m}×{n} weight, a {m * n}² GGN block) at step "
            f"{view.step}, on {run.num_samples} samples: {err}.")


def _where(view) -> str:
    return f"layer {view.layer}, step {view.step}"


def spectra_curves(view) -> dict:
    return {METHOD_LABELS[m]: (np.arange(1, len(view.spectra[m]) + 1), view.spectra[m])
            for m in METHODS}


def spectra_columns(view) -> dict:
    """Sources of ``spectra_plot``: {label: {index, eigenvalue}} and the title."""
    return {"sources": lines_columns(spectra_curves(view), "index", "eigenvalue", logy=True),
            "title": f"Top eigenvalues · {_where(view)}"}


def spectra_plot(view, height: int = 320):
    """Top-k eigenvalues of the exact block and each approximation (log scale)."""
    return lines_plot(spectra_curves(view), "index", "eigenvalue", COLORS,
                      spectra_columns(view)["title"], logy=True, height=height, legend="right")


def overlap_curves(view) -> dict:
    return {METHOD_LABELS[m]: (np.arange(1, len(view.overlaps[m]) + 1), view.overlaps[m])
            for m in APPROX}


def overlap_columns(view) -> dict:
    """Sources of ``overlap_plot``: {label: {index, overlap}} and the title."""
    return {"sources": lines_columns(overlap_curves(view), "index", "overlap"),
            "title": f"Overlap with the exact i-th eigenvector · {_where(view)}"}


def overlap_plot(view, height: int = 300):
    return lines_plot(overlap_curves(view), "index", "overlap", COLORS,
                      overlap_columns(view)["title"], height=height, legend="right")


def over_training_curves(view, what: str) -> dict:
    data = view.top_overlap if what == "overlap" else view.error_over
    return {METHOD_LABELS[m]: (view.steps, data[m]) for m in APPROX}


def over_training_columns(view, what: str = "overlap") -> dict:
    """Sources of ``over_training_plot``: {label: {step, <what>}} over the checkpoints
    ("overlap": of the top eigenvector; "error": relative Frobenius error), the marker's
    step and the title."""
    ydim = "top overlap" if what == "overlap" else "relative error"
    name = "Top-eigenvector overlap" if what == "overlap" else "‖H − B⊗A‖ / ‖H‖"
    return {"sources": lines_columns(over_training_curves(view, what), "step", ydim),
            "marker": float(view.step), "title": f"{name} over training · layer {view.layer}"}


def over_training_plot(view, what: str = "overlap", height: int = 300):
    ydim = "top overlap" if what == "overlap" else "relative error"
    cols = over_training_columns(view, what)
    return lines_plot(over_training_curves(view, what), "step", ydim, COLORS, cols["title"],
                      marker=view.step, height=height, legend="right")


def mfac_plot(curve, height: int = 300):
    """M-FAC's relative error against the dense inverse-Fisher product vs m (log-log)."""
    err = np.maximum(np.asarray(curve.rel_error, dtype=float), 1e-16)
    return lines_plot({"M-FAC": (curve.num_grads, err)}, "gradients m", "relative error",
                      COLORS, f"M-FAC: ‖F_m⁻¹v − F⁻¹v‖ / ‖F⁻¹v‖ against the dense inverse of all "
                      f"N = {curve.num_samples} gradients (d = {curve.dim}, λ = "
                      f"{curve.damping:.2g}, step {curve.step})",
                      logy=True, logx=True, height=height, legend="bottom_left")
