"""A LeNet-style digit classifier: two conv/pool stages and two fully connected layers.

Inputs are [N, C, R, R] in [-1, 1] with R >= 16. After the two 2x pools an adaptive average pool
brings any R to a fixed 4x4 grid, so one architecture serves 16-px digits, 28-px MNIST and the
32-px generators. `features(x)` is the hidden layer before the logits: the space FID is computed in.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .checks import ClassifierNet

MIN_RESOLUTION = 16
_GRID = 4  # spatial size after the adaptive pool


class LeNet(ClassifierNet):
    arch = "lenet"
    min_resolution = MIN_RESOLUTION

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        channels: tuple[int, int] = (16, 32),
        hidden: int = 128,
        resolution: int | None = 32,
    ):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"LeNet: num_classes must be >= 2, got {num_classes}")
        c1, c2 = (int(c) for c in channels)
        self.num_classes, self.in_channels, self.channels, self.hidden = num_classes, in_channels, (c1, c2), hidden
        self.resolution = resolution  # the input size it was trained at (predict resizes to it)
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(_GRID),
            nn.Flatten(),
        )
        self.hidden_layer = nn.Sequential(nn.Linear(c2 * _GRID * _GRID, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)

    @property
    def feature_dim(self) -> int:
        return self.hidden

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [N, hidden]."""
        return self.hidden_layer(self.conv(x))

    def settings(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "channels": list(self.channels),
            "hidden": self.hidden,
            "resolution": self.resolution,
        }
