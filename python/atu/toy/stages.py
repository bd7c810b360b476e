"""Adapt-then-Unlearn in miniature: pre-training, feedback, stage 1 (EWC), stage 2 (EL2 repulsion)
and the extrapolation baseline, each a function of plain tensors and modules (no files).

The penalties are the real stages' hooks (EWCGradient over atu_ext.EWC, RepulsionGradient over
atu_ext.Repulsion): their gradient is added into G's .grad after the adversarial backward.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

import atu_ext

from ..stages.adapt import EWCGradient
from ..stages.extrapolate import extrapolated_generator, mean_reference
from ..stages.fisher import batched_fisher
from ..stages.unlearn import RepulsionGradient
from .data import sample_mixture, undesired_mask
from .models import Discriminator, Generator, generate, latents
from .training import GanSchedule, pool_sampler, train_gan


@dataclass
class Feedback:
    negatives: torch.Tensor  # samples of θ_G the user marked undesired (S_n)
    positives: torch.Tensor  # the rest (S_p)


def pretrain(
    centres: torch.Tensor,
    std: float,
    schedule: GanSchedule,
    seed: int,
    *,
    z_dim: int,
    hidden: int,
    device: str,
    progress=None,
) -> tuple[Generator, Discriminator]:
    """θ_G and its D, trained on fresh mixture samples every step."""
    with torch.random.fork_rng(devices=[]):  # nn.Linear's initialisation draws from the global RNG:
        torch.manual_seed(seed)  # seed it, on CPU, without disturbing the caller's
        G, D = Generator(z_dim, hidden), Discriminator(hidden)
    G, D = G.to(device), D.to(device)

    def real(n: int, gen: torch.Generator) -> torch.Tensor:
        return sample_mixture(n, gen, std, centres)

    train_gan(G, D, real, schedule, seed, progress=progress)
    return G, D


def collect_feedback(G: nn.Module, n: int, seed: int, centres: torch.Tensor, undesired: tuple[int, ...]) -> Feedback:
    samples = generate(G, n, seed)
    marked = undesired_mask(samples, centres, undesired)
    return Feedback(negatives=samples[marked], positives=samples[~marked])


def adapt(
    theta_g: nn.Module,
    d_pretrained: nn.Module,
    negatives: torch.Tensor,
    schedule: GanSchedule,
    *,
    k: int,
    lam: float,
    fisher_samples: int,
    seed: int,
    progress=None,
) -> list[nn.Module]:
    """Stage 1: k copies of θ_G fine-tuned on the negatives (seeds seed..seed+k-1) with the EWC
    gradient of (λ/2) Σ F (θ − θ_G)² over every parameter (the toy has no layers to leave free)."""
    if negatives.shape[0] == 0:
        raise ValueError("stage 1 needs negatives, but the feedback marked no sample undesired")
    # F from the raw D logit over every parameter (the toy has no layers to leave free), on seeded latents
    device = next(theta_g.parameters()).device
    z = latents(fisher_samples, theta_g.z_dim, torch.Generator().manual_seed(seed), device)
    fisher = batched_fisher(theta_g, d_pretrained, z)
    anchor = {name: p.detach() for name, p in theta_g.named_parameters()}
    adapted = []
    for j in range(k):
        G, D = copy.deepcopy(theta_g), copy.deepcopy(d_pretrained)
        ewc = EWCGradient(G, anchor, fisher, lam, list(anchor))
        train_gan(G, D, pool_sampler(negatives), schedule, seed + j, g_grad_hook=ewc, progress=progress)
        adapted.append(G)
    return adapted


def unlearn(
    theta_g: nn.Module,
    d_pretrained: nn.Module,
    positives: torch.Tensor,
    adapted: list[nn.Module],
    schedule: GanSchedule,
    *,
    gamma: float,
    alpha: float,
    reduction: str,
    seed: int,
    progress=None,
) -> tuple[nn.Module, dict[str, float]]:
    """Stage 2: θ_G trained on the positives with the adversarial loss + γ·exp(−α d), d the squared
    distance to the adapted models (atu_ext.Repulsion, kind "el2"). γ = 0: the adversarial-only
    ablation. Returns θ_P and {"d": final distance, "repulsion": final L_rep}."""

    G, D = copy.deepcopy(theta_g), copy.deepcopy(d_pretrained)
    references = [[p.detach() for p in a.parameters()] for a in adapted]
    repulsion = atu_ext.Repulsion(list(G.parameters()), references, kind="el2", alpha=alpha, reduction=reduction)
    with torch.no_grad():
        d_start = float(repulsion.distance())
    hook = RepulsionGradient(repulsion, gamma) if gamma > 0 else None
    train_gan(G, D, pool_sampler(positives), schedule, seed, g_grad_hook=hook, progress=progress)
    with torch.no_grad():
        d = float(repulsion.distance())
    return G, {"d_start": d_start, "d": d, "repulsion": float(torch.exp(torch.tensor(-alpha * d, dtype=torch.float64)))}


def extrapolate(theta_g: nn.Module, adapted: list[nn.Module], s: float) -> nn.Module:
    """The training-free baseline θ_G + s·(θ_G − mean_j θ_N^j)."""
    mean_n = mean_reference([[p.detach() for p in a.parameters()] for a in adapted])
    return extrapolated_generator(theta_g, mean_n, s)
