"""The parameter-space penalties of Adapt-then-Unlearn as differentiable functions.

d = ||θ − θ_N||² over every tensor of a model (mean over j of d_j for k references θ_N^j):
  sq_dist        d
  repulsion_il2  1 / (d + eps)      (inverse L2)
  repulsion_nl2  −d                 (negative L2)
  repulsion_el2  exp(−alpha · d)    (exponential negative L2)
  ewc_penalty    lam · Σ F·(θ − anchor)²
Reductions of d: "sum" (the paper's squared norm), "mean" (sum / total element count),
"tensor_mean" (mean over tensors of each tensor's mean squared difference, as the authors' code).

The repulsions default to the method's own settings (DEFAULT_REDUCTION, DEFAULT_ALPHA: Adapt-then-
Unlearn's stage 2 uses them too): with "sum", d of a real StyleGAN2 runs to thousands and exp(−α·d)
would be 0, so an EL2 that underflows is refused with a message saying which α fits.
"""

from __future__ import annotations

import torch

from . import _validate, foreach_penalties, ops_mode

REDUCTIONS, DEFAULT_REDUCTION, DEFAULT_ALPHA = (
    _validate.REDUCTIONS,
    _validate.DEFAULT_REDUCTION,
    _validate.DEFAULT_ALPHA,
)


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


def repulsion_il2(params, theta_n, *, reduction: str = DEFAULT_REDUCTION, eps: float = 1e-12) -> torch.Tensor:
    """1 / (d + eps); at d = 0 this is 1/eps."""
    eps = _validate.check_finite_number(eps, "eps")
    return torch.reciprocal(sq_dist(params, theta_n, reduction=reduction) + eps)


def repulsion_nl2(params, theta_n, *, reduction: str = DEFAULT_REDUCTION) -> torch.Tensor:
    """−d."""
    return torch.neg(sq_dist(params, theta_n, reduction=reduction))


def repulsion_el2(params, theta_n, *, alpha: float = DEFAULT_ALPHA, reduction: str = DEFAULT_REDUCTION) -> torch.Tensor:
    """exp(−alpha · d); ValueError when that is 0 at a finite d (no gradient: see _validate.check_el2_value)."""
    alpha = _validate.check_finite_number(alpha, "alpha")
    d = sq_dist(params, theta_n, reduction=reduction)
    loss = torch.exp(d * -alpha)
    _validate.check_el2_value(loss, d, alpha, reduction, "repulsion_el2")
    return loss


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
