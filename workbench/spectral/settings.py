"""Settings of the spectral engine playground (``run_playground``), declared once: the
engine explorer (``workbench.ui.engine``) takes its costly and view parameters and their
URL names from here."""

from __future__ import annotations

import param

SIZES = [500, 1000, 2000, 5000, 10000, 20000]
KINDS = ["bulk+outliers", "marchenko-pastur", "clustered", "indefinite", "degenerate",
         "well-separated"]


class PlaygroundSettings(param.Parameterized):
    """What ``run_playground`` computes (COSTLY: the test spectrum, its size, the Lanczos
    budget, the probes, the race's k and the seed) and what is shown of it (VIEW)."""

    spectrum = param.Selector(default="bulk+outliers", objects=KINDS, label="Test spectrum",
                              doc="Test spectrum")
    n = param.Selector(default=2000, objects=SIZES, label="Size n",
                       doc="Dimension of the operator")
    max_steps = param.Integer(default=40, bounds=(5, 120), label="Lanczos steps run (costly)",
                              doc="Lanczos steps run per probe (and KPM moments / 2)")
    probes = param.Integer(default=10, bounds=(1, 30), label="Probes (costly)",
                           doc="Random probe vectors")
    k = param.Integer(default=5, bounds=(1, 10), label="Top-k race: k (costly)",
                      doc="Eigenvalues in the top_eigs vs power iteration race")
    seed = param.Integer(default=0, bounds=(0, 99), label="Seed",
                         doc="Seed of spectrum and probes")

    # what is shown of a run (``PlaygroundRun.at``): free to change, no new products
    step = param.Integer(default=8, bounds=(1, 200), label="Lanczos steps shown",
                         doc="Lanczos steps shown (matvecs per probe); free to change")
    broadening = param.Number(default=1.0, bounds=(0.1, 3.0), step=0.1,
                              label="SLQ broadening (x default)",
                              doc="SLQ Gaussian width, as a multiple of the default "
                                  "(range / 2 x steps)")
    kpm = param.Boolean(default=True, label="show KPM",
                        doc="Show the kernel polynomial method's density")
    logy = param.Boolean(default=True, label="log density",
                         doc="Log-scale density (shows the outliers)")

    COSTLY = ("spectrum", "n", "max_steps", "probes", "k", "seed")
    VIEW = ("step", "broadening", "kpm", "logy")

    def playground_key(self) -> tuple:
        """("playground", spectrum, n, max_steps, probes, k, seed): the run's cache key."""
        return ("playground", self.spectrum, int(self.n), int(self.max_steps),
                int(self.probes), int(self.k), int(self.seed))
