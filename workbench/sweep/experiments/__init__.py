"""Adapters that turn topic functions into sweep experiments ``fn(**params) -> dict``.

Each module imports its topic package inside the function, so importing this package (or
``workbench.sweep``) imports no topic code. The registry (``workbench.sweep.registry``)
names them: "demo.random_top_eig", "hessian.top_eigs", "clustering.quality",
"eigenspectra.alphas".
"""
