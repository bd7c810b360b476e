"""The toy GAN: small MLPs, a generator z → R² and a discriminator R² → logit.

ReLU in G gives it the piecewise-linear maps that can split the latent space into separate
clusters; LeakyReLU in D keeps its gradient alive everywhere (a dead region of D's input would
leave G without a signal there). Latents are drawn on CPU from a seeded torch.Generator and then
moved, so a seed gives the same samples on CPU and CUDA.
"""

from __future__ import annotations

import torch
from torch import nn


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class Generator(nn.Module):
    def __init__(self, z_dim: int = 4, hidden: int = 128, depth: int = 3):
        super().__init__()
        self.z_dim = z_dim
        self.net = _mlp([z_dim] + [hidden] * depth + [2], nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class LeakyReLU(nn.LeakyReLU):
    def __init__(self):
        super().__init__(0.2)


class Discriminator(nn.Module):
    def __init__(self, hidden: int = 128, depth: int = 3):
        super().__init__()
        self.net = _mlp([2] + [hidden] * depth + [1], LeakyReLU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def latents(n: int, z_dim: int, gen: torch.Generator, device: str | torch.device = "cpu") -> torch.Tensor:
    return torch.randn(n, z_dim, generator=gen).to(device)


@torch.no_grad()
def generate(G: Generator, n: int, seed: int, batch: int = 8192) -> torch.Tensor:
    """n samples of G from the latent bank of `seed`, on CPU (batched to bound memory)."""
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    chunks = [G(latents(min(batch, n - i), G.z_dim, gen, device)).cpu() for i in range(0, n, batch)]
    return torch.cat(chunks)
