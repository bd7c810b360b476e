"""A small residual CNN for one binary attribute of face images (2 logits: without / with it).

Stem (3x3 conv, stride 2, then max-pooling on large inputs) -> four stages of one basic residual
block each (widths doubling, stride 2 from the second stage) -> global average pooling -> linear.
The global pool makes it work at any R >= 32; the stem's pool keeps the first stage at <= 32 px so
256-px CelebA-HQ costs about what 64 px does. `features(x)` is the pooled vector before the logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .checks import ClassifierNet

MIN_RESOLUTION = 32
_STAGE1_MAX = 32  # largest spatial size the first residual stage runs at


def default_stem_pool(resolution: int | None) -> int:
    """Max-pool factor after the stride-2 stem conv so that the first stage sees <= 32 px."""
    if resolution is None:
        return 1
    return max(1, (resolution // 2) // _STAGE1_MAX)


class BasicBlock(nn.Module):
    """Two 3x3 conv/BN layers plus an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        )
        self.out = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x) + self.shortcut(x))


class ResNet(ClassifierNet):
    arch = "resnet"
    min_resolution = MIN_RESOLUTION

    def __init__(
        self,
        num_classes: int = 2,
        in_channels: int = 3,
        widths: Sequence[int] = (16, 32, 64, 128),
        resolution: int | None = 64,
        stem_pool: int | None = None,
    ):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"ResNet: num_classes must be >= 2, got {num_classes}")
        if not widths:
            raise ValueError("ResNet: widths must name at least one stage")
        self.num_classes, self.in_channels, self.widths = num_classes, in_channels, tuple(int(w) for w in widths)
        self.resolution = resolution  # the input size it was trained at (predict resizes to it)
        self.stem_pool = default_stem_pool(resolution) if stem_pool is None else int(stem_pool)
        stem = [
            nn.Conv2d(in_channels, self.widths[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(self.widths[0]),
            nn.ReLU(),
        ]
        if self.stem_pool > 1:
            stem.append(nn.MaxPool2d(self.stem_pool))
        self.stem = nn.Sequential(*stem)
        blocks, c_in = [], self.widths[0]
        for k, c_out in enumerate(self.widths):
            blocks.append(BasicBlock(c_in, c_out, stride=1 if k == 0 else 2))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c_in, num_classes)

    @property
    def feature_dim(self) -> int:
        return self.widths[-1]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled activations [N, widths[-1]]."""
        return self.pool(self.blocks(self.stem(x)))

    def settings(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "widths": list(self.widths),
            "resolution": self.resolution,
            "stem_pool": self.stem_pool,
        }
