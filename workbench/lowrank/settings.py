"""The settings of a low-rank exploration, declared once: the matrix (source and its
options), the method and the rank; and the matrix-completion experiment. The dashboard
(``workbench.ui.lowrank``) builds its widgets and URL state from these parameters; the topic
run (:mod:`workbench.lowrank.run`) takes them::

    s = LowRankSettings(source="synthetic", decay="fast", method="cur_qr")
    run = run_lowrank(s)            # the costly part, once
    run.at(rank=12)                 # a view, in milliseconds
"""

from __future__ import annotations

import param

from workbench.errors import WorkbenchError

#: label shown -> source value
SOURCES = {
    "Photo (scikit-learn sample image)": "image",
    "MiniLM weight matrix": "minilm",
    "RBF kernel matrix (digits)": "kernel",
    "Synthetic (chosen decay + noise)": "synthetic",
    "Uploaded .npy / .npz": "uploaded",
}
#: method value -> label shown
METHOD_LABELS = {
    "svd": "Truncated SVD (exact)",
    "randomized": "Randomized SVD",
    "krylov": "Block Krylov SVD",
    "cur_leverage": "CUR (leverage scores)",
    "cur_qr": "CUR (pivoted QR)",
    "id": "Interpolative decomposition",
    "nystrom": "Nyström (PSD kernels)",
}
COMPLETION_MATRICES = {"Random rank-r matrix (incoherent)": "random",
                       "The current matrix (downsampled)": "current"}
COMPLETION_METHODS = {"Alternating minimization": "altmin", "Soft-impute": "softimpute"}

MAX_RANK = 100              # largest rank a rank path is computed for
UPLOAD_MAX_SIDE = 2000      # rows / columns of an uploaded matrix (bytes: io.UPLOAD_MAX_BYTES)
KERNEL_SIZE = 400           # points of the RBF kernel source
SYNTHETIC_SHAPE = (300, 200)
SYNTHETIC_RANK = 10
COMPLETION_SIZE = 100       # side of the random completion problem
COMPLETION_MAX_SIDE = 120   # the current matrix is strided down to this
COMPLETION_MAX_ITERS = 100
PHASE_FRACTIONS = (0.04, 0.6, 12)   # linspace of the phase diagram's observed fractions
PHASE_SEEDS = 2
PHASE_MAX_ITERS = 60

_DEFAULT_LAYER = "encoder.layer.0.attention.self.query.weight"


def short_layer(name: str) -> str:
    """A MiniLM weight's name as shown ("layer 0.attention.self.query")."""
    return name.replace("encoder.layer.", "layer ").replace(".weight", "")


def layer_choices() -> dict[str, str]:
    """{shown name: weight name} of MiniLM's 2-D weight matrices (only the default when
    the MiniLM package is missing: choosing it then shows the package's message)."""
    try:
        from workbench.lowrank.sources import minilm_matrix_names

        names = minilm_matrix_names()
    except WorkbenchError:
        names = [_DEFAULT_LAYER]
    return {short_layer(n): n for n in names}


class _Settings(param.Parameterized):
    @classmethod
    def fields(cls) -> list[str]:
        """The names of this class's settings, in declaration order."""
        return [k for k in cls.param if k != "name"]

    @classmethod
    def copy_of(cls, obj: param.Parameterized):
        """A new instance holding `obj`'s current values of this class's parameters (a
        snapshot for work done in another thread while `obj` keeps changing)."""
        return cls(**{k: getattr(obj, k) for k in cls.fields()})


class LowRankSettings(_Settings):
    """Which matrix, which method, which rank."""

    rank = param.Integer(default=10, bounds=(1, MAX_RANK), label="Rank k",
                         doc="Rank k of the approximation")
    source = param.Selector(default="image", objects=SOURCES, check_on_set=False,
                            label="Matrix", doc="Matrix to approximate")
    method = param.Selector(default="svd", objects={v: k for k, v in METHOD_LABELS.items()},
                            doc="Approximation method")
    image = param.Selector(default="china.jpg", objects=["china.jpg", "flower.jpg"],
                           label="Photo", doc="Photo")
    layer = param.Selector(default=_DEFAULT_LAYER, objects=[_DEFAULT_LAYER],
                           check_on_set=False, label="Weight matrix",
                           doc="MiniLM weight matrix")
    decay = param.Selector(default="slow", objects=["fast", "slow", "flat"], label="Spectrum",
                           doc="Spectrum of the synthetic matrix")
    noise = param.Number(default=0.01, bounds=(0.0, 0.2), step=0.005,
                         doc="Noise added to the synthetic matrix")

    def __init__(self, **params):
        super().__init__(**params)
        self.param.layer.objects = layer_choices()

    def source_changed(self, names) -> bool:
        """Whether a change of the parameters `names` changes the matrix chosen."""
        reads = {"image": {"image"}, "minilm": {"layer"}, "synthetic": {"decay", "noise"}}
        return bool(set(names) & ({"source"} | reads.get(self.source, set())))


class CompletionSettings(_Settings):
    """The matrix-completion experiment: which matrix, how much of it is seen, which rank
    and method."""

    fraction = param.Number(default=0.3, bounds=(0.02, 0.9), step=0.01,
                            label="Observed fraction", doc="Fraction of entries observed")
    completion_rank = param.Integer(default=5, bounds=(1, 30), label="Rank of the completion",
                                    doc="Rank of the completion")
    completion_matrix = param.Selector(default="random", objects=COMPLETION_MATRICES,
                                       label="Matrix", doc="Matrix to complete")
    true_rank = param.Integer(default=5, bounds=(1, 20), label="True rank (random matrix)",
                              doc="Rank of the random matrix to complete")
    completion_method = param.Selector(default="altmin", objects=COMPLETION_METHODS,
                                       doc="Completion method")
