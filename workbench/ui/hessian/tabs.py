"""The Hessian explorer's first three tabs (spectrum, training, comparison), one Viewer
each, owning their LiveFigures: rendered once per result, then updated in place from a
``HessianView``. And what the Hessian tabs share: ``torch_job`` (a background run with
progress and Cancel) and ``write_density`` (a density figure written in place).
"""

from __future__ import annotations

import threading

import panel as pn

from workbench.backends.threads import capped
from workbench.ui.base import col, row, text
from workbench.ui.live import LiveFigure, set_changed
from workbench.viz import hessian as vh
from workbench.viz import text as vt

#: the torch jobs of every session run one at a time, single-threaded (threads.py)
QUEUE = "hessian"


def torch_job(explorer, key, work, on_done, *, label: str, queue: str | None = QUEUE,
              **kw):
    """``work(progress)`` in `explorer`'s background (``run_background(key, ..., on_done,
    label=label, **kw)``), on the torch `queue` (None: not capped), its progress shown
    under `label`; the Cancel button stops it at its next report. Returns the Future
    (None when cached)."""
    cancel = threading.Event()
    progress = explorer.progress_reporter(label, cancel)
    job = lambda: work(progress)  # noqa: E731
    return explorer.run_background(key, capped(job, queue=queue) if queue else job, on_done,
                                   label=label, cancel=cancel, **kw)


def hide_empty_roles(fig: LiveFigure, markers: dict) -> None:
    """Hide the legend entry of each marker role of `markers` ({role: columns}) that has
    no data; show the others."""
    items = fig.legend_items()
    for role, data in markers.items():
        if role in items:
            set_changed(items[role], visible=len(data["x0"]) > 0)


def write_density(fig: LiveFigure, cols: dict, title: str, legend: bool = True) -> None:
    """Write ``viz.hessian.density_columns`` `cols` into `fig` (drawn by ``density_plot(...,
    all_roles=True)``): the band, the markers (with `legend`: ``hide_empty_roles``), the
    axis ranges and `title`. No re-render."""
    fig.write("0", cols["area"])
    for role, data in cols["markers"].items():
        fig.write(role, data)
    if legend:
        hide_empty_roles(fig, cols["markers"])
    fig.set_range("x", *cols["xlim"])
    fig.set_range("y", *cols["ylim"])
    fig.set_title(title)


class SpectrumTab(pn.viewable.Viewer):
    """Density + top-k markers, top-k bars and the top eigenvalues over the checkpoints."""

    def __init__(self):
        super().__init__()
        self.density = LiveFigure("wb-hessian-density", min_height=340)
        self.top = LiveFigure("wb-hessian-top", min_height=300)
        self.over = LiveFigure("wb-hessian-over", min_height=300)

    def figures(self) -> list[LiveFigure]:
        return [self.density, self.top, self.over]

    def render(self, run, view, logy: bool, over: bool = True) -> None:
        """Draw `view` (a HessianView of `run`) anew; `over`: also the over-training plot."""
        at = (run, view.step, view.checkpoints_ready)  # the cached figures' key
        self.density.render(lambda: vh.density_plot(view, logy=logy, all_roles=True),
                            key=(*at, "density", view.broadening, logy))
        self.top.render(lambda: vh.top_eigs_plot(view), key=(*at, "top"))
        if over:
            steps, top = run.over_training()
            self.over.render(lambda: vh.over_training_plot(
                steps, top, current_step=view.step, title=vh.over_training_title(view)),
                key=(*at, "over"))
        self.update(view, logy)

    def update(self, view, logy: bool, checkpoint: bool = True) -> None:
        """Write `view` into the drawn figures; the top-k bars and the checkpoint marker
        only when `checkpoint`. No re-render. (Not under ``pn.io.hold``: its single
        message leaves the server ~10 ms later than the plain ones.)"""
        if self.density.figure is None:
            return
        write_density(self.density, vh.density_columns(view, logy=logy), vh.density_title(view))
        if not checkpoint:
            return
        top = vh.top_eigs_columns(view)
        self.top.write("0", top["source"])
        self.top.set_factors("x", top["factors"])
        self.top.set_range("y", *top["ylim"])
        self.top.set_title(vh.top_eigs_title(view))
        self.over.move_spans(view.step)

    def __panel__(self):
        return col(text(vt.BULK_TEXT), self.density, row(self.top, self.over))


class TrainingTab(pn.viewable.Viewer):
    """Sharpness against 2/η and the training loss, the shown checkpoint marked."""

    def __init__(self):
        super().__init__()
        self.sharp = LiveFigure("wb-hessian-sharpness", min_height=300)
        self.loss = LiveFigure("wb-hessian-loss", min_height=300)
        self.info = text()

    def figures(self) -> list[LiveFigure]:
        return [self.sharp, self.loss]

    def render(self, run, view) -> None:
        tr, lr = run.training, run.experiment.config.lr
        snaps = tr.snapshots
        self.loss.render(vh.loss_plot(tr.steps, tr.loss, [s.step for s in snaps],
                                      [s.loss for s in snaps], current_step=view.step))
        self.sharp.render(vh.sharpness_plot(tr.sharpness_steps, tr.sharpness, lr,
                                            current_step=view.step))
        self.info.object = vt.sharpness_text(run)

    def update(self, view) -> None:
        """Move the checkpoint markers to `view`'s step."""
        self.loss.move_spans(view.step)
        self.sharp.move_spans(view.step)

    def __panel__(self):
        return col(text(vt.EOS_TEXT), self.info, self.sharp, self.loss)


class CompareTab(pn.viewable.Viewer):
    """Hessian, GGN and Fisher densities overlaid and their top eigenvalues side by side."""

    def __init__(self):
        super().__init__()
        self.density = LiveFigure("wb-hessian-compare", min_height=340)
        self.top = LiveFigure("wb-hessian-compare-top", min_height=300)
        self.info = text()

    def figures(self) -> list[LiveFigure]:
        return [self.density, self.top]

    def render(self, view, logy: bool) -> None:
        """Draw `view.compare` (a note while the GGN and Fisher are being computed)."""
        cmp = view.compare
        if cmp is None:
            self.info.object = "*Gauss-Newton and Fisher spectra are being computed…*"
            return
        self.density.render(vh.compare_density_plot(cmp, logy=logy))
        self.update(cmp, logy)
        self.top.render(vh.compare_top_plot(cmp))
        self.info.object = vt.compare_text(cmp)

    def update(self, cmp, logy: bool) -> None:
        """Write the comparison densities of `cmp` (a CompareView) into their figure."""
        if cmp is not None:
            self.density.write_columns(vh.compare_density_columns(cmp, logy=logy), reset=False)

    def __panel__(self):
        return col(text(vt.COMPARE_TEXT), self.info, self.density, self.top)
