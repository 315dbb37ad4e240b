"""Sidebar widgets of the Hessian explorer's settings, built from the ``HessianSettings``
parameters (names and bounds come from there)."""

from __future__ import annotations

import panel as pn
import param

from workbench.hessian.settings import HessianSettings

#: widget labels of the settings (the parameters' own names otherwise)
LABELS = {"dataset": "Data set", "num_samples": "Samples", "num_classes": "Classes (mixture)",
          "dim": "Dimension (mixture)", "separation": "Class separation (mixture)",
          "model": "Model", "width": "Width", "depth": "Hidden layers",
          "activation": "Activation", "loss": "Loss", "optimizer": "Optimizer (gd = full batch)",
          "lr": "Learning rate η", "batch_size": "Batch size", "steps": "Steps",
          "k": "Top eigenvalues k", "num_probes": "SLQ probes",
          "num_steps": "Lanczos steps per probe", "trace_matvecs": "Trace products (XTrace)"}
STEPS = {"separation": 0.5, "lr": 0.01}
CARDS = (("Data", ("dataset", "num_samples", "num_classes", "dim", "separation"), False),
         ("Model", ("model", "width", "depth", "activation", "loss"), False),
         ("Training", ("optimizer", "lr", "batch_size", "steps"), False),
         ("Estimators", ("k", "num_probes", "num_steps", "trace_matvecs"), True))
MIXTURE_ONLY = ("num_classes", "dim", "separation")


def widget(settings: HessianSettings, name: str):
    """The widget of one setting: a select for a choice, a number input else."""
    p = settings.param[name]
    label = LABELS.get(name, name)
    if isinstance(p, param.Selector):
        return pn.widgets.Select.from_param(p, name=label)
    if isinstance(p, param.Integer):
        kw = {"start": 4} if name == "trace_matvecs" else {}  # the spectrum needs >= 4
        return pn.widgets.IntInput.from_param(p, name=label, **kw)
    return pn.widgets.FloatInput.from_param(p, name=label, step=STEPS.get(name, 0.1))


def settings_controls(settings: HessianSettings) -> list:
    """Cards of the settings' widgets (data, model, training, estimators); the mixture's
    own settings are disabled for the other data sets."""
    widgets = {n: widget(settings, n) for _, names, _ in CARDS for n in names}

    def on_dataset(*_events):
        for n in MIXTURE_ONLY:
            widgets[n].disabled = settings.dataset != "gaussian_mixture"

    settings.param.watch(on_dataset, ["dataset"])
    on_dataset()
    return [pn.Card(*(widgets[n] for n in names), title=title, collapsed=collapsed,
                    sizing_mode="stretch_width") for title, names, collapsed in CARDS]
