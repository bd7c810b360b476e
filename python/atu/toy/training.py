"""One GAN training loop for all three of the toy's trainings (pre-training, stage 1, stage 2).

Non-saturating loss, alternating one D step and one G step, Adam with β1 = 0.5 (the usual choice
for small GANs: less momentum keeps the two players from overshooting each other). The stages
differ only in their real data and in `g_grad_hook`, which adds a penalty's gradient straight
into G's .grad after the adversarial backward and before the optimizer step (EWC in stage 1, the
repulsion in stage 2): the real stages' hooks (atu.stages.adapt.EWCGradient,
atu.stages.unlearn.RepulsionGradient), called as the StyleGAN2 trainer calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .models import latents

# real_batch(n, gen) -> (n, 2) points on CPU
RealSampler = Callable[[int, torch.Generator], torch.Tensor]


@dataclass
class GanSchedule:
    steps: int
    batch: int = 256
    lr: float = 1e-3
    r1: float = 0.0  # R1 weight on D's real samples (0: none)


def pool_sampler(pool: torch.Tensor) -> RealSampler:
    """Minibatches drawn with replacement from a fixed set of points (the feedback samples)."""
    pool = pool.cpu()

    def sample(n: int, gen: torch.Generator) -> torch.Tensor:
        return pool[torch.randint(0, pool.shape[0], (n,), generator=gen)]

    return sample


def train_gan(
    G: nn.Module,
    D: nn.Module,
    real: RealSampler,
    schedule: GanSchedule,
    seed: int,
    *,
    g_grad_hook: Callable[[nn.Module], dict[str, float]] | None = None,
    progress=None,
) -> dict[str, float]:
    """Trains G and D in place for schedule.steps steps; returns the last step's losses and what
    the hook reported."""
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    opt_g = torch.optim.Adam(G.parameters(), lr=schedule.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=schedule.lr, betas=(0.5, 0.999))
    last: dict[str, float] = {}
    for _ in range(schedule.steps):
        x = real(schedule.batch, gen).to(device)
        with torch.no_grad():
            fake = G(latents(schedule.batch, G.z_dim, gen, device))
        if schedule.r1 > 0:
            x.requires_grad_(True)
        real_logit = D(x)
        d_loss = F.softplus(-real_logit).mean() + F.softplus(D(fake)).mean()
        if schedule.r1 > 0:
            (grad_x,) = torch.autograd.grad(real_logit.sum(), x, create_graph=True)
            d_loss = d_loss + 0.5 * schedule.r1 * grad_x.square().sum(1).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        D.requires_grad_(False)  # G's step needs no gradient for D's weights
        g_loss = F.softplus(-D(G(latents(schedule.batch, G.z_dim, gen, device)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        logged = g_grad_hook(G) if g_grad_hook is not None else {}
        opt_g.step()
        D.requires_grad_(True)
        if progress is not None:
            progress.update(1)
        last = {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach()), **logged}
    return last
