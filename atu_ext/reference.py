"""Plain-PyTorch formulations of every atu_ext penalty.

They are the test oracles (called on float64 copies) and baseline B0 of the benchmarks (the
per-tensor Python loop with autograd a user would write). They are never used in place of the
compiled kernels.
"""
from __future__ import annotations

import torch


def _weights(params, reduction: str) -> list[float]:
    if reduction == "sum":
        return [1.0] * len(params)
    if reduction == "mean":
        return [1.0 / sum(p.numel() for p in params)] * len(params)
    if reduction == "tensor_mean":
        nonempty = sum(1 for p in params if p.numel() > 0)
        return [1.0 / (nonempty * p.numel()) if p.numel() else 0.0 for p in params]
    raise ValueError(reduction)


def sq_dist(params: list[torch.Tensor], refs: list[list[torch.Tensor]], reduction: str = "sum") -> torch.Tensor:
    """mean over the references j of Σ_t w_t Σ (p_t − a_jt)², one tensor at a time."""
    weights = _weights(params, reduction)
    per_ref = []
    for ref in refs:
        total = params[0].new_zeros(())
        for p, a, w in zip(params, ref, weights):
            total = total + w * (p - a).pow(2).sum()
        per_ref.append(total)
    return torch.stack(per_ref).mean()


def repulsion_il2(params, refs, reduction="sum", eps=1e-12):
    return 1.0 / (sq_dist(params, refs, reduction) + eps)


def repulsion_nl2(params, refs, reduction="sum"):
    return -sq_dist(params, refs, reduction)


def repulsion_el2(params, refs, alpha=1.0, reduction="sum"):
    return torch.exp(-alpha * sq_dist(params, refs, reduction))


def ewc_penalty(params, anchor, fisher, lam=1.0):
    total = params[0].new_zeros(())
    for p, a, f in zip(params, anchor, fisher):
        total = total + (f * (p - a).pow(2)).sum()
    return lam * total


# ---- StyleGAN2 fused bias + activation ----------------------------------------------------------

def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    """clamp(gain · act(x + b), ±clamp) in separate torch.nn.functional steps, autograd throughout.

    Defaults as in NVlabs' StyleGAN2-ADA: gain √2 for relu, lrelu and swish, else 1; lrelu's
    negative slope 0.2; elu with alpha 1; softplus with beta 1; clamp None leaves y unclamped.
    """
    import math

    import torch.nn.functional as F

    if b is not None:
        axis = dim % x.ndim
        x = x + b.reshape([-1 if i == axis else 1 for i in range(x.ndim)])
    slope = 0.2 if alpha is None else alpha
    activations = {
        "linear": lambda t: t,
        "relu": F.relu,
        "lrelu": lambda t: F.leaky_relu(t, negative_slope=slope),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "elu": F.elu,
        "selu": F.selu,
        "softplus": F.softplus,
        "swish": F.silu,
    }
    if gain is None:
        gain = math.sqrt(2) if act in ("relu", "lrelu", "swish") else 1.0
    y = activations[act](x)
    if gain != 1:
        y = y * gain
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    return y
