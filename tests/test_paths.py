"""The server-side path rule (workbench.paths.under_root): a served page names files only
under one root, and every refusal reads the same, whether or not the path exists."""

from __future__ import annotations

import os

import pytest

from workbench.errors import InputFormatError
from workbench.paths import (
    NOT_UNDER_ROOT,
    SWEEPS_ENV,
    OutsideRootError,
    is_sweep_folder,
    sweeps_root,
    under_root,
)


@pytest.fixture
def disk(tmp_path):
    """root/ with a sweep folder, a plain folder, a nested sweep and two symlinks; a
    sweep folder outside the root, next to it."""
    root = tmp_path / "root"
    for sweep in (root / "widths", root / "group" / "depths", tmp_path / "secret"):
        (sweep / "results").mkdir(parents=True)
    (root / "plain").mkdir()
    (root / "widths" / "notes.txt").write_text("a file")
    (root / "escape").symlink_to(tmp_path / "secret", target_is_directory=True)
    (root / "alias").symlink_to(root / "widths", target_is_directory=True)
    return root


def test_names_inside_the_root_resolve(disk):
    assert under_root(disk, "widths") == (disk / "widths").resolve()
    assert under_root(disk, "group/depths", accept=is_sweep_folder) == \
        (disk / "group" / "depths").resolve()
    assert under_root(disk, "./widths/") == (disk / "widths").resolve()
    # a symlink that stays inside the root is followed
    assert under_root(disk, "alias", accept=is_sweep_folder) == (disk / "widths").resolve()
    assert under_root(disk, "plain") == (disk / "plain").resolve()  # default: any folder


REFUSED = {
    "outside, absolute": lambda root: str(root.parent / "secret"),
    "inside, but absolute": lambda root: str(root / "widths"),
    "dot-dot to an existing folder": lambda root: "../secret",
    "dot-dot that comes back inside": lambda root: "group/../widths",
    "symlink leaving the root": lambda root: "escape",
    "nonexistent inside": lambda root: "nope",
    "nonexistent outside": lambda root: "../nope",
    "nonexistent absolute": lambda root: "/nope/at/all",
    "home": lambda root: "~",
    "nul byte": lambda root: "wid\x00ths",
    "empty": lambda root: "  ",
    "inside, not a sweep": lambda root: "plain",
    "a file, not a folder": lambda root: "widths/notes.txt",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_every_refusal_reads_the_same(disk, case):
    name = REFUSED[case](disk)
    with pytest.raises(OutsideRootError) as info:
        under_root(disk, name, accept=is_sweep_folder)
    # one message for every reason: it names neither the path nor whether it exists
    assert str(info.value) == NOT_UNDER_ROOT
    assert isinstance(info.value, InputFormatError)  # the page shows it as a message


def test_existing_and_missing_outside_are_indistinguishable(disk):
    messages = set()
    for name in ("../secret", "../nope", str(disk.parent / "secret"), "/nope", "escape",
                 "nope"):
        with pytest.raises(OutsideRootError) as info:
            under_root(disk, name, accept=is_sweep_folder)
        messages.add((type(info.value), str(info.value)))
    assert len(messages) == 1


def test_a_missing_root_refuses_everything(tmp_path):
    with pytest.raises(OutsideRootError):
        under_root(tmp_path / "not-there", "widths")


def test_sweeps_root_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(SWEEPS_ENV, str(tmp_path / "class"))
    assert sweeps_root() == (tmp_path / "class").resolve()
    monkeypatch.delenv(SWEEPS_ENV)
    monkeypatch.chdir(tmp_path)
    assert sweeps_root() == (tmp_path / "runs").resolve()
    assert os.path.isabs(sweeps_root())
