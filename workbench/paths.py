"""Server-side paths: a served page may name files only under one root folder.

``workbench serve --sweeps DIR`` sets the sweeps root (``$WORKBENCH_SWEEPS`` for the server
process; default ``runs/`` under the folder the server was started in). A name that a
served page receives (the sweep explorer's "Sweep folder" box, its ``?folder=`` URL
parameter, any URL parameter that names a file) goes through ``under_root``: it is a
relative name inside the root, or it is refused with one message that does not say whether
the path exists. In a notebook (no server) explorers take any path the user gives in code.

    root = sweeps_root()
    folder = under_root(root, "widths", accept=is_sweep_folder)   # Path, or OutsideRootError
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from workbench.errors import InputFormatError

__all__ = ["NOT_UNDER_ROOT", "SWEEPS_ENV", "OutsideRootError", "default_sweeps_root",
           "is_sweep_folder", "sweeps_root", "under_root"]

SWEEPS_ENV = "WORKBENCH_SWEEPS"
NOT_UNDER_ROOT = ("not a sweep folder under the server's sweeps root: give the name of a "
                  "folder inside it (e.g. widths), or leave the box empty for the example")


class OutsideRootError(InputFormatError):
    """A name a served page gave does not name an accepted file or folder under the root.
    The message is the same whatever the reason (outside, ``..``, absolute, a symlink
    leaving the root, missing, not a sweep folder), so it reveals nothing of the disk."""


def default_sweeps_root() -> Path:
    """``runs/`` under the current directory (where ``workbench serve`` was started; the
    README's ``workbench sweep run ... runs/widths`` writes there)."""
    return Path.cwd() / "runs"


def sweeps_root() -> Path:
    """The server's sweeps root: ``$WORKBENCH_SWEEPS`` when set, else
    ``default_sweeps_root()``; absolute and resolved (it need not exist)."""
    env = os.environ.get(SWEEPS_ENV, "").strip()
    root = Path(env).expanduser() if env else default_sweeps_root()
    return root.resolve()


def is_sweep_folder(path: Path) -> bool:
    """True when `path` is a folder holding a saved sweep (``results/`` or ``sweep.json``)."""
    return path.is_dir() and ((path / "results").is_dir() or (path / "sweep.json").is_file())


def under_root(root: str | os.PathLike, name: str,
               accept: Callable[[Path], bool] = Path.is_dir,
               message: str = NOT_UNDER_ROOT) -> Path:
    """The resolved path that `name` names inside `root`, when `accept` takes it.

    `name` must be relative (not absolute, not starting with ``~``), have no ``..`` part,
    and resolve (symlinks followed) to `root` or a path inside it that exists and that
    `accept` takes (default: a folder). Anything else raises ``OutsideRootError(message)``:
    the same message for every refusal, whether or not the path exists. Returns the
    resolved Path, to be used instead of `name` (no second resolution). Cost: a few
    ``stat`` calls."""
    text = str(name).strip()
    try:
        rel = Path(text)
        if (not text or "\x00" in text or rel.is_absolute() or text.startswith("~")
                or ".." in rel.parts):
            raise OutsideRootError(message)
        base = Path(root).expanduser().resolve()
        target = (base / rel).resolve()
        if not (target == base or target.is_relative_to(base)) or not accept(target):
            raise OutsideRootError(message)
    except OutsideRootError:
        raise
    except (OSError, ValueError, RuntimeError):  # odd names, loops of symlinks, permissions
        raise OutsideRootError(message) from None
    return target
