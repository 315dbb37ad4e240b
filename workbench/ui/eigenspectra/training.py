"""The "Training" tab: alpha of each layer of the digits MLP across its training
checkpoints. The run (training + spectra) and its fits are keyed background requests,
shared across sessions; the figure is rendered once per fit table."""

from __future__ import annotations

import dataclasses

import pandas as pd
import panel as pn

from workbench.eigenspectra.settings import MLP_EPOCHS, EigenspectraSettings
from workbench.ui.base import col, text
from workbench.ui.live import LiveFigure
from workbench.ui.session import while_session_lives
from workbench.viz import eigenspectra as ve
from workbench.viz.text import training_text

MLP_RUN_KEY = EigenspectraSettings(model="mlp").run_key()


class TrainingTab(pn.viewable.Viewer):
    """Trains the digits MLP on demand (``start``) and shows alpha per layer by epoch,
    refitted with the explorer's fit options (without the MP fit)."""

    def __init__(self, explorer):
        super().__init__()
        self.explorer = explorer
        self.run = None  # the MLP's EigenspectraRun once trained
        self.traj = pd.DataFrame()  # epoch, name, alpha, test_accuracy, ... per layer
        self.figure = LiveFigure("wb-es-training", min_height=320)
        self.info = text(ve.training_intro(MLP_EPOCHS))
        self.button = pn.widgets.Button(label="Train the digits MLP", color="primary",
                                        width=220)
        self.button.on_click(explorer.guarded(self.start))

    def start(self, *_events) -> None:
        """Train the digits MLP and compute its spectra (background, cached across
        sessions), then fit them."""
        from workbench.eigenspectra.run import run_eigenspectra

        if self.run is not None:
            self.refit()
            return
        self.explorer.run_background(MLP_RUN_KEY, lambda: run_eigenspectra("mlp"),
                                     while_session_lives(self._set_run), channel="train",
                                     label="Training the digits MLP…")

    def _set_run(self, run) -> None:
        self.run = run
        self.refit()

    def refit(self) -> None:
        """Fit every checkpoint with the explorer's options (background, keyed)."""
        run = self.run
        if run is None:
            return
        options = dataclasses.replace(self.explorer.settings.fit_options(), mp_fit=False)
        self.explorer.run_background(("fits", MLP_RUN_KEY, options),
                                     lambda: run.fit(options),
                                     while_session_lives(self.show), channel="train-fits",
                                     label="Fitting every checkpoint…")

    def show(self, fits) -> None:
        self.traj = fits.trajectories()
        self.figure.render(ve.alpha_trajectories(self.traj[["epoch", "name", "alpha"]]))
        self.button.visible = False
        self.info.object = training_text(fits.run)

    def __panel__(self):
        return col(self.info, self.button, self.figure)
