"""Small models for curvature experiments: MLPs and a CNN for the 8x8 digits.

Models are plain ``torch.nn.Sequential`` stacks, so their parameter names ("0.weight",
"2.bias", ...) name the layers and a layer's Hessian block is asked for by that prefix.
"""

from __future__ import annotations

import torch
from torch import nn

from workbench.errors import InputFormatError, RankError

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid,
               "softplus": nn.Softplus, "elu": nn.ELU}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise InputFormatError(f"unknown activation {name!r}; choose one of "
                               f"{sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(in_features: int, num_classes: int, width: int = 32, depth: int = 1,
        activation: str = "tanh", batchnorm: bool = False, dropout: float = 0.0,
        seed: int = 0, dtype=torch.float32) -> nn.Sequential:
    """An MLP with `depth` hidden layers of `width` units (optionally BatchNorm1d after each
    linear layer and Dropout after each activation). Weights from torch's default init under
    ``torch.manual_seed(seed)`` (the global RNG state is restored)."""
    if depth < 0 or width < 1:
        raise RankError(f"an MLP needs depth >= 0 and width >= 1, got depth={depth}, "
                        f"width={width}")
    layers: list[nn.Module] = []
    d = in_features
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(depth):
            layers.append(nn.Linear(d, width))
            if batchnorm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = width
        layers.append(nn.Linear(d, num_classes))
        model = nn.Sequential(*layers)
    return model.to(dtype)


def small_cnn(num_classes: int = 10, channels: int = 8, activation: str = "relu",
              seed: int = 0, dtype=torch.float32) -> nn.Sequential:
    """A two-convolution CNN for 1 x 8 x 8 images (the digits): conv3x3 -> act -> conv3x3
    stride 2 -> act -> linear. About 12 * channels**2 + 170 * channels parameters."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), _activation(activation),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1), _activation(activation),
            nn.Flatten(), nn.Linear(channels * 16, num_classes))
    return model.to(dtype)


def num_parameters(model: nn.Module) -> int:
    """Number of scalar parameters of `model`."""
    return sum(p.numel() for p in model.parameters())


class OneHotMSELoss(nn.Module):
    """Mean squared error between the outputs and one-hot labels, 0.5 * sum over classes,
    mean over samples: the square loss of Cohen et al.'s edge-of-stability experiments."""

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(targets, outputs.shape[-1]).to(outputs.dtype)
        return 0.5 * ((outputs - onehot) ** 2).sum(-1).mean()


LOSSES = {"cross_entropy": nn.CrossEntropyLoss, "mse": OneHotMSELoss}


def make_loss(name: str) -> nn.Module:
    """A loss module by name: "cross_entropy" or "mse" (one-hot square loss)."""
    if name not in LOSSES:
        raise InputFormatError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name]()
