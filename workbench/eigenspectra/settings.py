"""The eigenspectra settings, declared once: the explorer builds its widgets from these
classes (as sub-objects), the topic run takes their values, the sweep experiment their
defaults.

    s = EigenspectraSettings(model="mlp", xmin_q=0.5)
    run = run_eigenspectra(s.model, farms=s.farms, randomize=s.randomize)
    view = run.at(layer=s.layer, epoch=s.epoch, bins=s.bins, options=s.fit_options())
"""

from __future__ import annotations

from dataclasses import dataclass

import param

__all__ = ["MODELS", "FINITE_SIZE", "MLP_EPOCHS", "MLP_CHECKPOINTS", "FitOptions",
           "EigenspectraSettings", "RMTSettings"]

MODELS = {"MiniLM-L6 (pretrained)": "minilm", "digits MLP (trained here)": "mlp",
          "random init (MiniLM shapes)": "random", "uploaded file": "upload"}
"""Weights the explorer analyzes: label -> source name of :func:`run_eigenspectra`."""
FINITE_SIZE = {"auto (below 20 eigenvalues)": "auto", "always": "on", "never": "off"}
_FINITE_ARG = {"auto": "auto", "on": True, "off": False}
FITS = {"power law": "power_law", "truncated power law": "truncated_power_law"}
MLP_EPOCHS = 60
MLP_CHECKPOINTS = (0, 1, 2, 5, 10, 20, 40, 60)


@dataclass(frozen=True)
class FitOptions:
    """How each layer's ESD is fitted (hashable: part of the cache key of a fit table).

    ``fit``: "power_law" or "truncated_power_law"; ``finite_size``: "auto", "on", "off";
    ``xmin_q``: search xmin only above this quantile of the layer's positive eigenvalues;
    ``xmax_clip``: drop this many largest eigenvalues; ``fix_fingers``: clip outlying
    largest eigenvalues automatically; ``mp_fit``: fit the Marchenko–Pastur bulk."""

    fit: str = "power_law"
    finite_size: str = "auto"
    xmin_q: float = 0.0
    xmax_clip: int = 0
    fix_fingers: bool = False
    mp_fit: bool = True

    def kwargs(self, farms: bool = False) -> dict:
        """Keyword arguments of :func:`workbench.eigenspectra.fit_layer` (all but the
        xmin range, which depends on the layer's eigenvalues)."""
        return dict(fit=self.fit, finite_size=_FINITE_ARG[self.finite_size],
                    fix_fingers="clip_xmax" if self.fix_fingers else None,
                    xmax_clip=int(self.xmax_clip), mp_fit=bool(self.mp_fit),
                    farms=bool(farms))


class EigenspectraSettings(param.Parameterized):
    """What the eigenspectra explorer shows: the weights (costly: eigenvalues of every
    layer), the fit options (milliseconds per layer) and the view (layer, checkpoint,
    bins: free)."""

    layer = param.Integer(default=0, bounds=(0, 38), doc="Layer shown (click a bar too)",
                          label="Layer (or click a bar)")
    model = param.Selector(default="minilm", objects=MODELS, doc="Weights to analyze",
                           label="Model")
    epoch = param.Selector(default=MLP_CHECKPOINTS[-1], objects=list(MLP_CHECKPOINTS),
                           doc="Training checkpoint of the digits MLP",
                           label="Training checkpoint (epoch, digits MLP)")
    bins = param.Integer(default=60, bounds=(10, 150), doc="Histogram bins of the ESD",
                        label="Histogram bins")
    fit = param.Selector(default="power_law", objects=FITS, label="Fit")
    finite_size = param.Selector(default="auto", objects=FINITE_SIZE,
                                 doc="Bias-corrected fit for few eigenvalues",
                                 label="Finite-size correction")
    xmin_q = param.Number(default=0.0, bounds=(0.0, 0.95), step=0.05,
                          doc="Search xmin only above this quantile of the ESD",
                          label="xmin above quantile of the ESD")
    xmax_clip = param.Integer(default=0, bounds=(0, 10),
                              doc="Drop this many largest eigenvalues before fitting",
                              label="Drop largest eigenvalues (fingers)")
    fix_fingers = param.Boolean(default=False, doc="Clip 'finger' eigenvalues automatically",
                                label="Clip fingers automatically")
    farms = param.Boolean(default=False, doc="FARMS: fixed-aspect-ratio submatrix ESD",
                          label="FARMS (no aspect-ratio bias)")
    mp_fit = param.Boolean(default=True, doc="Fit the Marchenko–Pastur bulk, count spikes",
                           label="Marchenko–Pastur fit (spikes)")
    randomize = param.Boolean(default=False, doc="Shuffled-weights baseline (traps)",
                              label="Shuffled baseline (traps)")

    RUN = ("model", "farms", "randomize")
    """Parameters whose change needs new eigenvalues (a new run)."""
    FIT = ("fit", "finite_size", "xmin_q", "xmax_clip", "fix_fingers", "mp_fit")
    """Parameters whose change needs new fits (no new eigenvalues)."""

    def fit_options(self) -> FitOptions:
        """The fit parameters as a hashable :class:`FitOptions`."""
        return FitOptions(fit=self.fit, finite_size=self.finite_size,
                          xmin_q=round(float(self.xmin_q), 4), xmax_clip=int(self.xmax_clip),
                          fix_fingers=bool(self.fix_fingers), mp_fit=bool(self.mp_fit))

    def set_layers(self, n: int) -> None:
        """Bound ``layer`` to `n` layers (0..n-1; the last when beyond), in one change."""
        with param.parameterized.batch_call_watchers(self):
            self.param.layer.bounds = (0, max(n - 1, 1))
            if self.layer > n - 1:
                self.layer = n - 1

    def run_key(self, upload: str = "") -> tuple:
        """Cache key of the run these settings need (``upload``: the uploaded file's
        digest, part of the key when the model is "upload")."""
        model = ("upload", upload) if self.model == "upload" else (self.model,)
        return ("spectra", *model, bool(self.farms), bool(self.randomize))


class RMTSettings(param.Parameterized):
    """The random-matrix demos: an N x M matrix with N = round(Q M)."""

    Q = param.Number(default=2.0, bounds=(1.0, 10.0), step=0.1, doc="Aspect ratio N/M",
                     label="Aspect ratio Q = N/M")
    sigma = param.Number(default=1.0, bounds=(0.2, 3.0), step=0.1, doc="Entry std",
                         label="Entry std sigma")
    theta = param.Number(default=1.5, bounds=(0.0, 4.0), step=0.05,
                         doc="Planted spike strength theta",
                         label="Spike strength theta (BBP)")
    mu = param.Number(default=1.0, bounds=(0.5, 5.0), step=0.1,
                      doc="Tail exponent mu of the entries",
                      label="Heavy-tail exponent mu")
    M = param.Integer(default=300, bounds=(50, 800), step=50, doc="Matrix size M", label="Size M")
    seed = param.Integer(default=0, bounds=(0, 99), doc="Random seed", label="Seed")

    def values(self) -> dict:
        """Keyword arguments of :func:`workbench.eigenspectra.run_rmt_demos`."""
        return dict(Q=float(self.Q), sigma=float(self.sigma), theta=float(self.theta),
                    mu=float(self.mu), M=int(self.M), seed=int(self.seed))
