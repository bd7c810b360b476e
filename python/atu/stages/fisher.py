"""The diagonal empirical Fisher information that weights stage 1's EWC penalty.

    F_i = (1/n) Σ_s (∂ℓ_s/∂θ_i)²   at θ = θ_G (the pre-trained generator),

ℓ_s the discriminator's verdict on one generated sample G(z_s) (its latent and its own noise maps,
both drawn from a seeded generator). It is the *empirical* Fisher: the squared gradient of each
sample, averaged, not the expected Hessian of the paper's formula; that is what EWC (and the
authors' code) computes.

Which output ℓ (`output`):
- "logit" (default): ℓ = D(G(z)), the raw logit, as the authors' code does. λ = 5e8 was tuned by
  the authors against this F, so keeping it keeps their λ meaningful.
- "log_likelihood": ℓ = log σ(D(G(z))), the log-probability that D calls the sample real (the
  binary cross-entropy likelihood of the paper's text). Its gradient is σ(−D)·∂D/∂θ, so each
  sample's contribution shrinks by σ(−D)² ∈ (0, 1): samples D already finds real count less, F is
  smaller overall, and λ needs retuning.

Each sample goes through G and D alone (a batch of one): D's minibatch-stddev layer then sees a
group of one, so a sample's gradient does not depend on which samples share its batch.

Which parameters (`layers`):
- "conv" (default, the authors' choice): the StyledConv layers after the 4×4 block, `convs.*`
  (modulated 3×3 weights, their style modulation, noise strengths, activation biases). The mapping
  network (`style.*`), the constant input, the first 4×4 conv (`conv1.*`) and the ToRGB layers
  (`to_rgb1.*`, `to_rgbs.*`) get F = 0: EWC leaves them free to adapt.
- "all": every parameter (the paper's formula).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap
from tqdm import tqdm

FISHER_OUTPUTS = ("logit", "log_likelihood")
FISHER_LAYERS = ("conv", "all")


def anchored_names(G: nn.Module, layers: str = "conv") -> list[str]:
    """Names of the generator parameters that get a Fisher weight (the others get F = 0)."""
    if layers not in FISHER_LAYERS:
        raise ValueError(f"fisher layers must be one of {FISHER_LAYERS}, got {layers!r}")
    names = [name for name, _ in G.named_parameters()]
    return names if layers == "all" else [n for n in names if n.startswith("convs.")]


def fisher_samples(G: nn.Module, n: int, seed: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """n latents z and G's per-layer noise maps for them, from one seeded generator (on CPU, then
    moved: the same seed gives the same samples on every device)."""
    if n < 1:
        raise ValueError(f"the Fisher needs at least one sample, got {n}")
    gen = torch.Generator().manual_seed(seed)
    like = next(G.parameters())
    z = torch.randn(n, G.style_dim, generator=gen).to(like)
    return z, G.make_noise(gen, batch=n)


@contextlib.contextmanager
def _only_grad_for(params: list[nn.Parameter], *modules: nn.Module):
    """Gradients flow to `params` only (D's weights need none); the flags are put back after."""
    everything = [p for m in modules for p in m.parameters()]
    before = [p.requires_grad for p in everything]
    chosen = {id(p) for p in params}
    try:
        for p in everything:
            p.requires_grad_(id(p) in chosen)
        yield
    finally:
        for p, flag in zip(everything, before):
            p.requires_grad_(flag)


def empirical_fisher(
    G: nn.Module,
    D: nn.Module,
    z: torch.Tensor,
    noise: list[torch.Tensor],
    *,
    output: str = "logit",
    layers: str = "conv",
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """{name: F} for every parameter of G (zeros outside `layers`), in G's dtype; the squares are
    accumulated in float64. One forward and backward pass per sample (minutes per 32 samples at
    256 px on a CPU): `progress` shows them."""

    if output not in FISHER_OUTPUTS:
        raise ValueError(f"fisher output must be one of {FISHER_OUTPUTS}, got {output!r}")
    named = dict(G.named_parameters())
    names = anchored_names(G, layers)
    params = [named[n] for n in names]
    sums = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    n = z.shape[0]
    with _only_grad_for(params, G, D):
        for s in tqdm(range(n), desc="Fisher (one backward pass per sample)", unit="sample", disable=not progress):
            image, _ = G([z[s : s + 1]], noise=[t[s : s + 1] for t in noise])
            verdict = D(image)[0, 0]
            if output == "log_likelihood":
                verdict = -F.softplus(-verdict)  # log σ(D), computed stably
            grads = torch.autograd.grad(verdict, params, allow_unused=True)
            for acc, g in zip(sums, grads):
                if g is not None:
                    acc += g.detach().double().square()
    fisher = {name: torch.zeros_like(p.detach()) for name, p in named.items()}
    for name, acc in zip(names, sums):
        fisher[name] = (acc / n).to(named[name].dtype)
    return fisher


def batched_fisher(G: nn.Module, D: nn.Module, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """The same F ("logit" output, every parameter) of a generator called as G(z) whose layers
    torch.func can batch (plain PyTorch, such as the toy's MLPs): the n per-sample gradients come from
    one vmap of grad instead of n backward passes (the same values up to float rounding), their
    squares averaged in float64. {name: F} in each parameter's dtype."""
    if z.shape[0] < 1:
        raise ValueError(f"the Fisher needs at least one sample, got {z.shape[0]}")
    theta = {name: p.detach() for name, p in G.named_parameters()}
    d_frozen = {name: p.detach() for name, p in D.named_parameters()}

    def logit(params: dict[str, torch.Tensor], one_z: torch.Tensor) -> torch.Tensor:
        x = functional_call(G, params, (one_z[None],))
        return functional_call(D, d_frozen, (x,))[0]

    per_sample = vmap(grad(logit), in_dims=(None, 0))(theta, z)
    return {name: g.double().square().mean(0).to(theta[name].dtype) for name, g in per_sample.items()}
