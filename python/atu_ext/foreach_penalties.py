"""The penalties in reference mode (atu_ext.ops_mode): torch._foreach ops, a few launches for the
whole parameter list on any device, differentiable through autograd.

They compute what the compiled kernels compute (the same d, the same gradients) without their
float64 accumulation: per-tensor norms are taken in float32 (float64 for float64 parameters), so
results agree with the kernels to float32 rounding, not bit for bit.
"""

from __future__ import annotations

import torch

from ._validate import reduction_weights


def _value_dtype(params: list[torch.Tensor]) -> torch.dtype:
    return torch.float64 if params[0].dtype == torch.float64 else torch.float32


def _weighted_sum_of_squares(tensors: list[torch.Tensor], weights: list[float], dtype: torch.dtype) -> torch.Tensor:
    norms = torch._foreach_norm(tensors, 2, dtype=dtype)
    w = torch.tensor(weights, dtype=dtype, device=tensors[0].device)
    return (torch.stack(norms).square() * w).sum()


def sq_dist(params: list[torch.Tensor], refs: list[list[torch.Tensor]], reduction: str) -> torch.Tensor:
    """mean over the k references of Σ_t w_t ||p_t − a_jt||²."""
    dtype, weights = _value_dtype(params), reduction_weights(params, reduction)
    per_ref = [_weighted_sum_of_squares(torch._foreach_sub(params, ref), weights, dtype) for ref in refs]
    return torch.stack(per_ref).mean()


def ewc_penalty(params, anchor, fisher, lam: float) -> torch.Tensor:
    """lam · Σ F (p − a)², as the squared norms of √F·(p − a) (F >= 0, a Fisher diagonal)."""
    scaled = torch._foreach_mul(torch._foreach_sub(params, anchor), torch._foreach_sqrt(fisher))
    return lam * _weighted_sum_of_squares(scaled, [1.0] * len(params), _value_dtype(params))


@torch.no_grad()
def _write(grads: list[torch.Tensor], terms: list[torch.Tensor], accumulate: bool) -> None:
    if accumulate:
        torch._foreach_add_(grads, terms)
    else:
        torch._foreach_copy_(grads, terms)


@torch.no_grad()
def sq_dist_add_grad_(grads, params, mean, reduction: str, factor: torch.Tensor, accumulate: bool) -> None:
    """grads += factor · ∂d/∂p for d = Σ_t w_t ||p_t − m_t||², i.e. factor · 2 w_t (p_t − m_t)."""
    weights = reduction_weights(params, reduction)
    terms = torch._foreach_sub(params, mean)
    torch._foreach_mul_(terms, [2.0 * w for w in weights])
    torch._foreach_mul_(terms, factor.to(params[0].dtype))
    _write(grads, terms, accumulate)


@torch.no_grad()
def ewc_add_grad_(grads, params, anchor, fisher, lam: float, scale: torch.Tensor, accumulate: bool) -> torch.Tensor:
    """grads += scale · lam · 2F(p − a); returns lam · Σ F (p − a)²."""
    diffs = torch._foreach_sub(params, anchor)
    scaled = torch._foreach_mul(diffs, torch._foreach_sqrt(fisher))
    value = lam * _weighted_sum_of_squares(scaled, [1.0] * len(params), _value_dtype(params))
    terms = torch._foreach_mul(diffs, fisher)
    torch._foreach_mul_(terms, (scale * (2.0 * lam)).to(params[0].dtype))
    _write(grads, terms, accumulate)
    return value
