"""StyleGAN2's losses and regularisers (Karras et al. 2020), as functions of predictions and images."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def d_logistic_loss(real_pred: torch.Tensor, fake_pred: torch.Tensor) -> torch.Tensor:
    """The discriminator's side of the non-saturating logistic GAN loss."""
    return F.softplus(-real_pred).mean() + F.softplus(fake_pred).mean()


def g_nonsaturating_loss(fake_pred: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_pred).mean()


def r1_penalty(real_pred: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """E ||∇_x D(x)||² on real images; the graph is kept so the penalty can be minimised."""
    (grad,) = torch.autograd.grad(real_pred.sum(), real_img, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def path_length_directions(shape, *, generator: torch.Generator | None = None, device=None, dtype=None) -> torch.Tensor:
    """The regulariser's random image-space directions y ~ N(0, I)/sqrt(H·W) for images of `shape`."""
    h, w = shape[2:]
    return torch.randn(shape, generator=generator, device=device, dtype=dtype) / math.sqrt(h * w)


def path_length_penalty(
    fake_img: torch.Tensor,
    latents: torch.Tensor,
    mean_path_length: torch.Tensor,
    decay: float = 0.01,
    generator: torch.Generator | None = None,
    *,
    directions: torch.Tensor | None = None,
    batch_mean: Callable[[torch.Tensor], torch.Tensor] | None = None,
):
    """StyleGAN2's path-length regulariser: (||J_wᵀ y||₂ − a)², y ~ N(0, I)/sqrt(H·W), a the running
    mean of the lengths. Returns (penalty, new running mean, per-sample lengths).

    A data-parallel caller passes its share of the global batch's `directions` and a `batch_mean`
    that averages the lengths' mean over the processes, so that `a` is the global batch's."""
    y = (
        directions
        if directions is not None
        else path_length_directions(fake_img.shape, generator=generator, device=fake_img.device, dtype=fake_img.dtype)
    )
    (grad,) = torch.autograd.grad((fake_img * y).sum(), latents, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    mean_length = lengths.mean().detach()
    if batch_mean is not None:
        mean_length = batch_mean(mean_length)
    new_mean = mean_path_length + decay * (mean_length - mean_path_length)
    return (lengths - new_mean).square().mean(), new_mean, lengths


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model over the parameters (buffers are not averaged)."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1.0 - decay)


def ema_decay(batch_size: int, half_life_kimg: float) -> float:
    """Per-step decay giving the EMA a half-life of half_life_kimg thousand images."""
    return 0.5 ** (batch_size / (half_life_kimg * 1000.0)) if half_life_kimg > 0 else 0.0
