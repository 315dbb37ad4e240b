"""The settings of a Hessian experiment, declared once.

``ExperimentSettings`` (data, model, training) and ``HessianSettings`` (those + the
estimator settings) are ``param`` classes: the dashboard builds its widgets from them (it
holds a ``HessianSettings`` as a sub-object), the sweep experiment ``hessian.top_eigs``
takes the same fields, and ``workbench.hessian.ExperimentConfig`` -- the frozen, hashable
value that ``run_experiment`` and caches use -- is generated from ``ExperimentSettings``
(same names, same defaults), so no setting is declared twice.

    s = HessianSettings(width=64, steps=200)
    cfg = s.config()                  # ExperimentConfig (sharpness_every=None resolved)
    s.estimator()                     # {"k", "num_probes", "num_steps", "trace_matvecs"}
"""

from __future__ import annotations

import dataclasses

import param

from workbench.hessian.data import DATASETS
from workbench.hessian.models import ACTIVATIONS, LOSSES
from workbench.hessian.training import OPTIMIZERS

#: classes of the data sets with a fixed number of them
FIXED_CLASSES = {"two_moons": 2, "digits": 10}


class ExperimentSettings(param.Parameterized):
    """Data, model and training of one experiment. Fields with precedence < 0 are not
    shown as widgets in the dashboard (nor kept in its URL)."""

    # ---- data
    dataset = param.Selector(default="gaussian_mixture", objects=list(DATASETS), label="Data set")
    num_samples = param.Integer(default=512, bounds=(32, 1797), label="Samples")
    num_classes = param.Integer(default=4, bounds=(2, 10), doc="Gaussian mixture only",
                                label="Classes (mixture)")
    dim = param.Integer(default=10, bounds=(2, 64), doc="Gaussian mixture only",
                        label="Dimension (mixture)")
    separation = param.Number(default=12.0, bounds=(0.5, 30.0), step=0.5,
                              doc="Gaussian mixture only", label="Class separation (mixture)")
    noise = param.Number(default=0.1, bounds=(0.0, 2.0), precedence=-1,
                         doc="Two moons only")
    # ---- model
    model = param.Selector(default="mlp", objects=["mlp", "cnn"],
                           doc="'cnn' is made for the 8x8 digits")
    width = param.Integer(default=32, bounds=(2, 256),
                          doc="hidden units (the CNN: 8 x its channels)")
    depth = param.Integer(default=2, bounds=(1, 4), doc="hidden layers of the MLP",
                          label="Hidden layers")
    activation = param.Selector(default="relu", objects=list(ACTIVATIONS))
    loss = param.Selector(default="cross_entropy", objects=list(LOSSES))
    # ---- training
    optimizer = param.Selector(default="sgd", objects=list(OPTIMIZERS),
                               doc="'gd': full-batch gradient descent",
                               label="Optimizer (gd = full batch)")
    lr = param.Number(default=0.05, bounds=(1e-4, 5.0), step=0.01, doc="learning rate η",
                      label="Learning rate η")
    batch_size = param.Integer(default=64, bounds=(1, None), allow_None=True,
                               doc="mini-batch of sgd/adam (None: the full batch)")
    steps = param.Integer(default=100, bounds=(0, 2000), doc="training steps")
    sharpness_every = param.Integer(default=0, bounds=(0, None), allow_None=True,
                                    precedence=-1,
                                    doc="track the sharpness every that many steps (0: "
                                        "never; None: about 40 times, steps // 40)")
    num_snapshots = param.Integer(default=5, bounds=(2, 50), precedence=-1,
                                  doc="checkpoints kept (incl. step 0 and the end)")
    seed = param.Integer(default=0, bounds=(0, None), precedence=-1,
                         doc="seed of the initialization and the mini-batch order")
    data_seed = param.Integer(default=None, bounds=(0, None), allow_None=True,
                              precedence=-1, doc="seed of the data (None: `seed`)")
    dtype = param.Selector(default="float32", objects=["float32", "float64"],
                           precedence=-1)
    device = param.String(default="cpu", precedence=-1,
                          doc='"cpu", "cuda", "cuda:1" or "auto" (CUDA if any)')

    def num_classes_used(self) -> int:
        """Classes of the chosen data set (fixed for two moons and digits)."""
        return FIXED_CLASSES.get(self.dataset, self.num_classes)

    def preset_changes(self, name: str) -> dict:
        """{field: value} of the shown fields where preset `name` (``experiments.PRESETS``)
        differs from these settings (empty: they are that preset)."""
        from workbench.hessian.experiments import PRESETS

        cfg = PRESETS[name]
        return {f: getattr(cfg, f) for f in fields(ExperimentSettings, shown=True)
                if getattr(cfg, f) != getattr(self, f)}

    def config(self):
        """The ExperimentConfig of these settings (a frozen, hashable value), with
        ``sharpness_every=None`` resolved to ``max(1, steps // 40)``."""
        from workbench.hessian.experiments import ExperimentConfig

        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(ExperimentConfig)}
        if values["sharpness_every"] is None:
            values["sharpness_every"] = max(1, self.steps // 40)
        return ExperimentConfig(**values)


class HessianSettings(ExperimentSettings):
    """An experiment plus the estimators of its spectra (``curvature_spectrum``)."""

    k = param.Integer(default=10, bounds=(1, 40),
                      doc="Top eigenvalues (raised to at least 2C + 2)",
                      label="Top eigenvalues k")
    num_probes = param.Integer(default=4, bounds=(1, 32), doc="SLQ probe vectors",
                               label="SLQ probes")
    num_steps = param.Integer(default=32, bounds=(4, 120), doc="Lanczos steps per probe",
                              label="Lanczos steps per probe")
    trace_matvecs = param.Integer(default=40, bounds=(0, 400),
                                  doc="XTrace products (0: no trace, in the sweep only)",
                                  label="Trace products (XTrace)")

    def estimator(self) -> dict:
        """The estimator settings; k is raised to 2C + 2 so that the bulk's edge is among
        the top-k (see ``count_outliers``)."""
        return dict(k=max(self.k, 2 * self.num_classes_used() + 2),
                    num_probes=self.num_probes, num_steps=self.num_steps,
                    trace_matvecs=self.trace_matvecs)

    def key(self) -> tuple:
        """A hashable key of everything that determines a run (cache key)."""
        return (dataclasses.astuple(self.config()), tuple(sorted(self.estimator().items())))


class DensityView(param.Parameterized):
    """How a spectral density is drawn (no new products): both Hessian explorers'."""

    broadening = param.Number(default=1.0, bounds=(0.25, 4.0), step=0.25,
                              label="Density broadening (× σ)",
                              doc="Density broadening (x the estimator's own width)")
    logy = param.Boolean(default=True, label="log-scale density", doc="Log-scale density")


def fields(cls: type[param.Parameterized] = HessianSettings, shown: bool = False) -> list:
    """Names of the settings of `cls` in declaration order (``shown``: only those with a
    widget, precedence >= 0)."""
    return [n for n, p in cls.param.objects("existing").items()
            if n != "name" and (not shown or p.precedence is None or p.precedence >= 0)]
