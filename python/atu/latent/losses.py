"""The fine-tuning objective of latent feature unlearning (Moon, Cho, Kim, AAAI 2024), in W:

    L = α·(L_unlearn + L_percep) + L_recon
    L_recon   = (1 − sim(w))·|g(w) − f(w)|₁          keep what has no feature as it was
    L_unlearn = sim(w)·|g(w) − f(ŵ)|₁                make what has it look like its shifted latent
    L_percep  = sim(w)·(1 − MS-SSIM(g(w), f(ŵ)))

g is the synthesis network being trained, f the frozen original (θ_G); w = the frozen mapping's
output. |·|₁ is the mean absolute difference over a sample's pixels; each term is averaged over
the batch (so with few feature latents in a batch, L_unlearn is small: the weight α makes up for
their rarity). g and f get the same noise inputs, so the L1 compares like with like.

Both targets come from ONE pass of f: f(w) where sim = 0, f(ŵ) where sim = 1 (the other image of
each pair is never used).
"""

from __future__ import annotations

import torch
from torch import nn

from .direction import FeatureDirection
from .msssim import ms_ssim


def synthesise(G: nn.Module, w: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
    """Images of the synthesis network from latents w [N, style_dim] (the mapping is skipped)."""
    image, _ = G([w], input_is_latent=True, noise=noise)
    return image


def latent_unlearning_losses(
    g: nn.Module, f: nn.Module, w: torch.Tensor, noise: list[torch.Tensor], direction: FeatureDirection, alpha: float
) -> dict[str, torch.Tensor]:
    """{"loss", "recon", "unlearn", "percep", "sim"} for one batch: "loss" carries g's gradient,
    the others are detached (the three terms as defined above, batch means; "sim" the share of
    latents that carry the feature)."""
    sim = direction.similar(w)
    with torch.no_grad():
        target_w = torch.where(sim.bool().unsqueeze(-1), direction.shift(w), w)
        target = synthesise(f, target_w, noise)
    image = synthesise(g, w, noise)
    l1 = (image - target).abs().flatten(1).mean(1)
    recon = ((1 - sim) * l1).mean()
    unlearn = (sim * l1).mean()
    if bool(sim.any()):
        # MS-SSIM only where it is weighted: no work (and no gradient) for the feature-free latents
        chosen = sim.bool()
        percep = (1 - ms_ssim(image[chosen], target[chosen])).sum() / w.shape[0]
    else:
        percep = image.new_zeros(())
    loss = alpha * (unlearn + percep) + recon
    return {
        "loss": loss,
        "recon": recon.detach(),
        "unlearn": unlearn.detach(),
        "percep": percep.detach(),
        "sim": sim.mean(),
    }
