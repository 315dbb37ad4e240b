"""Progress display for sweeps without tqdm: a text bar on a terminal, an HTML bar that
updates in place in a Jupyter notebook, or nothing.

A reporter has ``start(total, cached)``, ``update(done, failed)`` and ``close()``; the
runner calls ``update`` once per arriving result (so the cost is one print per task).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def in_notebook() -> bool:
    """True inside a Jupyter kernel (ZMQ shell), False in a terminal or plain Python."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _fmt_seconds(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = int(round(s))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else \
        f"{s // 60:d}:{s % 60:02d}"


class Progress:
    """Base reporter: keeps the counts and the timing; shows nothing."""

    def __init__(self) -> None:
        self.total = 0
        self.cached = 0
        self.done = 0
        self.failed = 0
        self.t0 = time.perf_counter()

    def start(self, total: int, cached: int = 0) -> None:
        self.total, self.cached, self.t0 = total, cached, time.perf_counter()
        self.done = self.failed = 0
        self.show()

    def update(self, done: int, failed: int = 0) -> None:
        self.done, self.failed = done, failed
        self.show()

    def close(self) -> None:
        self.show(final=True)

    def text(self) -> str:
        """e.g. "7/12 tasks (3 cached, 1 failed) 0:04 elapsed, ETA 0:02"."""
        elapsed = time.perf_counter() - self.t0
        finished = self.done + self.failed
        todo = self.total - self.cached
        rate = finished / elapsed if elapsed > 0 and finished else 0.0
        eta = (todo - finished) / rate if rate else float("nan")
        extra = [f"{self.cached} cached"] if self.cached else []
        if self.failed:
            extra.append(f"{self.failed} failed")
        extra_s = f" ({', '.join(extra)})" if extra else ""
        return (f"{self.cached + finished}/{self.total} tasks{extra_s} "
                f"{_fmt_seconds(elapsed)} elapsed, ETA {_fmt_seconds(eta)}")

    def fraction(self) -> float:
        return (self.cached + self.done + self.failed) / self.total if self.total else 1.0

    def show(self, final: bool = False) -> None:  # pragma: no cover - overridden
        pass


class TextProgress(Progress):
    """A one-line bar rewritten in place with '\\r' on a terminal; on a non-terminal stream
    (a log file) a line is printed every ~10 % of the tasks instead."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._last_decile = -1

    def show(self, final: bool = False) -> None:
        frac = self.fraction()
        fill = int(round(frac * self.width))
        line = f"[{'#' * fill}{'.' * (self.width - fill)}] {self.text()}"
        tty = getattr(self.stream, "isatty", lambda: False)()
        if tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            decile = int(frac * 10)
            if final or decile != self._last_decile:
                self.stream.write(line + "\n")
            self._last_decile = decile
        self.stream.flush()


class NotebookProgress(Progress):
    """An HTML progress bar in the notebook output, updated in place (IPython display
    handle; needs no ipywidgets)."""

    def __init__(self) -> None:
        super().__init__()
        self._handle = None

    def _html(self) -> str:
        pct = 100.0 * self.fraction()
        colour = "#c0392b" if self.failed else "#2c7fb8"
        return (f'<div style="font-family:monospace">'
                f'<progress value="{pct:.1f}" max="100" style="width:300px;accent-color:'
                f'{colour}"></progress> {self.text()}</div>')

    def show(self, final: bool = False) -> None:
        from IPython.display import HTML, display

        if self._handle is None:
            self._handle = display(HTML(self._html()), display_id=True)
        else:
            self._handle.update(HTML(self._html()))


def make_progress(progress) -> Progress:
    """A reporter from the ``progress=`` argument: True/"auto" (notebook bar in Jupyter,
    text bar elsewhere), "text", "notebook", False/None (silent) or a Progress instance."""
    if isinstance(progress, Progress):
        return progress
    if progress in (False, None, "none"):
        return Progress()
    if progress == "notebook" or (progress in (True, "auto") and in_notebook()):
        return NotebookProgress()
    if progress in (True, "auto", "text"):
        return TextProgress()
    raise ValueError(f"progress must be True, False, 'text', 'notebook' or a Progress; "
                     f"got {progress!r}")
