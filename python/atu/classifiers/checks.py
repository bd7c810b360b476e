"""Input validation shared by the classifiers: a wrong shape fails with a message, not deep in a conv."""

from __future__ import annotations

import torch
from torch import nn


def check_input(model: nn.Module, x: torch.Tensor, min_resolution: int) -> None:
    name = type(model).__name__
    if x.ndim != 4:
        raise ValueError(f"{name}: expected images [N, C, H, W], got shape {tuple(x.shape)}")
    if x.shape[1] != model.in_channels:
        raise ValueError(f"{name}: expected {model.in_channels} channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    if min(x.shape[-2:]) < min_resolution:
        raise ValueError(
            f"{name}: images must be at least {min_resolution}x{min_resolution} px, got {x.shape[-2]}x{x.shape[-1]}"
        )
