"""Sidebar widgets of the Hessian explorer's settings, built from the ``HessianSettings``
parameters (labels, bounds and steps come from there)."""

from __future__ import annotations

import panel as pn
import param

from workbench.hessian.settings import HessianSettings
from workbench.ui.base import WIDE, control

CARDS = (("Data", ("dataset", "num_samples", "num_classes", "dim", "separation"), False),
         ("Model", ("model", "width", "depth", "activation", "loss"), False),
         ("Training", ("optimizer", "lr", "batch_size", "steps"), False),
         ("Estimators", ("k", "num_probes", "num_steps", "trace_matvecs"), True))
MIXTURE_ONLY = ("num_classes", "dim", "separation")
INPUTS = {param.Integer: pn.widgets.IntInput, param.Number: pn.widgets.FloatInput}


def widget(settings: HessianSettings, name: str):
    """The widget of one setting: a select for a choice, a number input else."""
    p = settings.param[name]
    kw = {"start": 4} if name == "trace_matvecs" else {}  # the spectrum needs >= 4
    return control(p, widget=INPUTS.get(type(p)), **kw)


def settings_controls(settings: HessianSettings) -> list:
    """Cards of the settings' widgets (data, model, training, estimators); the mixture's
    own settings are disabled for the other data sets."""
    widgets = {n: widget(settings, n) for _, names, _ in CARDS for n in names}

    def on_dataset(*_events):
        for n in MIXTURE_ONLY:
            widgets[n].disabled = settings.dataset != "gaussian_mixture"

    settings.param.watch(on_dataset, ["dataset"])
    on_dataset()
    return [pn.Card(*(widgets[n] for n in names), title=title, collapsed=collapsed, **WIDE)
            for title, names, collapsed in CARDS]
