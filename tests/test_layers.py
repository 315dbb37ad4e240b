"""The layers of DESIGN.md, read from the source (ast, no imports): topics compute without
Panel, HoloViews or Bokeh; viz draws without Panel; ui/ wires widgets and does no linear
algebra (no linalg module, no decomposition, no matrix product)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "workbench"
TOPICS = ("backends", "clustering", "eigenspectra", "hessian", "lowrank", "operators",
          "spectral", "sweep")
DRAWING = ("panel", "holoviews", "bokeh", "datashader")
LINALG_CALLS = {"svd", "eigh", "eig", "eigvals", "eigvalsh", "eigsh", "svds", "qr", "lstsq",
                "solve", "cholesky", "inv", "pinv", "matmul", "dot", "einsum", "lanczos",
                "svd_lowrank", "randomized_svd"}


def _modules(folder: str) -> list[Path]:
    return sorted((PKG / folder).rglob("*.py"))


def _imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
    return out


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("topic", TOPICS)
def test_topics_compute_without_drawing_libraries(topic):
    bad = [f"{p.relative_to(PKG)} imports {name}" for p in _modules(topic)
           for name in _imports(_tree(p)) if name.split(".")[0] in DRAWING]
    assert _modules(topic) and not bad


def test_viz_draws_without_panel():
    bad = [f"{p.relative_to(PKG)} imports {name}" for p in _modules("viz")
           for name in _imports(_tree(p)) if name.split(".")[0] == "panel"]
    assert _modules("viz") and not bad


def _linear_algebra(tree: ast.AST) -> list[str]:
    found = [f"imports {name}" for name in _imports(tree)
             if "linalg" in name.split(".") or name.startswith("scipy.sparse")]
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            found.append(f"a matrix product (@) at line {node.lineno}")
        elif isinstance(node, ast.Attribute) and node.attr == "linalg":
            found.append(f"uses .linalg at line {node.lineno}")
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in LINALG_CALLS:
                found.append(f"calls {name}() at line {node.lineno}")
    return found


def test_ui_does_no_linear_algebra():
    bad = [f"{p.relative_to(PKG)}: {what}" for p in _modules("ui")
           for what in _linear_algebra(_tree(p))]
    assert len(_modules("ui")) > 10 and not bad, "\n".join(bad)


def test_the_linear_algebra_check_can_fail():
    tree = ast.parse("import numpy as np\nfrom scipy.sparse.linalg import eigsh\n"
                     "u, s, vt = np.linalg.svd(a)\nb = a @ a.T\nc = np.dot(a, a)\n")
    found = _linear_algebra(tree)
    assert len(found) == 5 and any("@" in f for f in found), found
