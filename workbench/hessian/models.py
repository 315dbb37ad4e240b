"""Small models for curvature experiments: MLPs and a CNN for the 8x8 digits, a ResNet for
CIFAR-shaped images.

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


class _BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the (projected when the shape changes) input, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-style ResNet: stem conv3x3-BN-ReLU, stages ``layer1..`` of basic blocks
    (the first block of each later stage halves the resolution), global average pooling,
    linear classifier ``fc``."""

    def __init__(self, num_classes: int = 10, widths=(16, 32, 64), blocks_per_stage: int = 1,
                 in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        cin = widths[0]
        for i, w in enumerate(widths):
            blocks = [_BasicBlock(cin if j == 0 else w, w, 2 if (i > 0 and j == 0) else 1)
                      for j in range(blocks_per_stage)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = w
        self.num_stages = len(widths)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.stem(x)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(x.mean(dim=(2, 3)))


def resnet(num_classes: int = 10, widths=(16, 32, 64), blocks_per_stage: int = 1,
           in_channels: int = 3, seed: int = 0, dtype=torch.float32,
           warmup=None) -> ResNet:
    """A ResNet with BatchNorm for 3 x 32 x 32 images (ResNet-8 at the defaults: 78k
    parameters; ``widths=(64, 128, 256, 512), blocks_per_stage=2`` is ResNet-18-shaped).
    ``warmup``: a tensor of images run through in train mode (no gradients) so the
    BatchNorm running statistics are those of the data; the model is returned in eval mode,
    the mode its curvature is computed in."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ResNet(num_classes, tuple(widths), int(blocks_per_stage), in_channels)
    model = model.to(dtype)
    if warmup is not None:
        model.train()
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = None  # cumulative average over the warm-up batches
            for i in range(0, warmup.shape[0], 256):
                model(warmup[i:i + 256].to(dtype))
    return model.eval()


def cifar_like(num_samples: int = 256, num_classes: int = 10, size: int = 32, seed: int = 0,
               dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """(X (n, 3, size, size), y (n,)): CIFAR-shaped synthetic images (a smooth random
    pattern per class plus pixel noise, standardized) for scale tests; no download."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.nn.functional.interpolate(
        torch.randn(num_classes, 3, 4, 4, generator=g), size=(size, size), mode="bilinear",
        align_corners=False)
    y = torch.arange(num_samples) % num_classes
    X = protos[y] + 0.8 * torch.randn(num_samples, 3, size, size, generator=g)
    X = (X - X.mean()) / X.std()
    return X.to(dtype), y


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
