"""The diagonal empirical Fisher of the toy generator, for stage 1's EWC penalty.

    F_i = (1/n) Σ_s (∂ D(G(z_s)) / ∂θ_i)²     at θ = θ_G,

the raw discriminator logit of one generated sample, as in atu/stages/fisher.py (the real stage's default
"logit" output, over every parameter here: the toy has no mapping network or ToRGB layers to leave
free). The per-sample gradients are computed all at once with torch.func (vmap of grad), which is
exactly the loop of n single-sample backward passes, only batched; the squares are averaged in
float64.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from .models import latents


def empirical_fisher(G: nn.Module, D: nn.Module, n: int, seed: int) -> dict[str, torch.Tensor]:
    """{name: F} for every parameter of G (same dtype and device), from n latents of `seed`."""
    if n < 1:
        raise ValueError(f"the Fisher needs at least one sample, got {n}")
    device = next(G.parameters()).device
    z = latents(n, G.z_dim, torch.Generator().manual_seed(seed), device)
    theta = {name: p.detach() for name, p in G.named_parameters()}
    d_frozen = {name: p.detach() for name, p in D.named_parameters()}

    def logit(params: dict[str, torch.Tensor], one_z: torch.Tensor) -> torch.Tensor:
        x = functional_call(G, params, (one_z[None],))
        return functional_call(D, d_frozen, (x,))[0]

    per_sample = vmap(grad(logit), in_dims=(None, 0))(theta, z)
    return {name: g.double().square().mean(0).to(theta[name].dtype) for name, g in per_sample.items()}
