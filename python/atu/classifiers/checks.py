"""What the classifier architectures share: input validation (a wrong shape fails with a message, not
deep in a conv), logits from the penultimate features, and a config that rebuilds the network."""

from __future__ import annotations

from typing import Any

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


class ClassifierNet(nn.Module):
    """A classifier: `features(x)` the penultimate activations (FID's feature space), `forward(x)`
    the logits from them, `config()` the settings that rebuild it (with `arch`, the class's name
    for from_config). Subclasses set arch, min_resolution and head, and define embed and settings."""

    arch: str
    min_resolution: int
    in_channels: int

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x, self.min_resolution)
        return self.embed(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, num_classes]."""
        return self.head(self.features(x))

    def config(self) -> dict[str, Any]:
        return {"arch": self.arch, **self.settings()}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        settings = dict(config)
        if settings.pop("arch", cls.arch) != cls.arch:
            raise ValueError(f"{cls.__name__}.from_config: config is for arch {config['arch']!r}")
        return cls(**settings)
