"""The parameter-space penalties of Adapt-then-Unlearn as differentiable functions.

d = ||θ − θ_N||² over every tensor of a model (mean over j of d_j for k references θ_N^j):
  sq_dist        d
  repulsion_il2  1 / (d + eps)      (inverse L2)
  repulsion_nl2  −d                 (negative L2)
  repulsion_el2  exp(−alpha · d)    (exponential negative L2)
  ewc_penalty    lam · Σ F·(θ − anchor)²
Reductions of d: "sum" (the paper's squared norm), "mean" (sum / total element count),
"tensor_mean" (mean over tensors of each tensor's mean squared difference, as the authors' code).
"""
from __future__ import annotations

import torch

from . import _validate, foreach_penalties, ops_mode


def sq_dist(params, refs, *, reduction: str = "sum") -> torch.Tensor:
    """d = mean over the k references of Σ (params − ref)², reduced as `reduction` says."""
    _validate.check_reduction(reduction)
    plist = _validate.check_params(params)
    references = _validate.references(params, plist, refs)
    _validate.check_nonempty_for(reduction, plist)
    ops_mode.require_kernels("sq_dist", plist[0].device)
    if ops_mode.reference_mode():
        return foreach_penalties.sq_dist(plist, references, reduction)
    return torch.ops.atu.sq_dist(plist, [t for ref in references for t in ref], len(references), reduction)


def repulsion_il2(params, theta_n, *, reduction: str = "sum", eps: float = 1e-12) -> torch.Tensor:
    """1 / (d + eps); at d = 0 this is 1/eps."""
    eps = _validate.check_finite_number(eps, "eps")
    return torch.reciprocal(sq_dist(params, theta_n, reduction=reduction) + eps)


def repulsion_nl2(params, theta_n, *, reduction: str = "sum") -> torch.Tensor:
    """−d."""
    return torch.neg(sq_dist(params, theta_n, reduction=reduction))


def repulsion_el2(params, theta_n, *, alpha: float = 1.0, reduction: str = "sum") -> torch.Tensor:
    """exp(−alpha · d)."""
    alpha = _validate.check_finite_number(alpha, "alpha")
    return torch.exp(sq_dist(params, theta_n, reduction=reduction) * -alpha)


def ewc_penalty(params, anchor, fisher, *, lam: float = 1.0) -> torch.Tensor:
    """lam · Σ_i F_i (params_i − anchor_i)²: the EWC penalty of stage 1."""
    lam = _validate.check_finite_number(lam, "lam")
    plist = _validate.check_params(params)
    anchors = _validate.tensor_list(anchor, "anchor")
    fishers = _validate.tensor_list(fisher, "fisher")
    _validate.check_matching(plist, anchors, "anchor")
    _validate.check_matching(plist, fishers, "fisher")
    ops_mode.require_kernels("ewc_penalty", plist[0].device)
    if ops_mode.reference_mode():
        return foreach_penalties.ewc_penalty(plist, anchors, fishers, lam)
    return torch.ops.atu.ewc_penalty(plist, anchors, fishers, lam)
