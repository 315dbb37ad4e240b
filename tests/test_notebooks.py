"""The notebooks as files: valid nbformat 4, stored without outputs (so a diff shows only
what a person wrote), on the python3 kernel, each opening with its "use it on your own
model / data" cell. Running them top to bottom is tests/test_jupyterlab.py's job: it runs
every notebook in real JupyterLab, fails on any error output, and moves each embedded
explorer's slider (an nbclient run beside it repeated the same execution, ~2 minutes)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_valid_and_stored_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)  # raises ValidationError naming the bad field
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    stored = [(i, c.execution_count, len(c.outputs)) for i, c in enumerate(code)
              if c.outputs or c.execution_count is not None]
    assert stored == [], f"cells stored with outputs / counts: {stored}"
    # the opening: a markdown cell, then a cell that works on the user's own objects
    opening = "\n".join(c.source for c in nb.cells[:4]).lower()
    assert "your own" in opening, "no 'use it on your own model / data' opening"
