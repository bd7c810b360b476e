"""Fake kernels (torch.compile, opcheck) and autograd for the torch.ops.atu penalty ops.

Backward formulas call registered ops, and the backward ops have their own backward, so
second-order gradients (Hessian-vector products through a penalty) work too.
"""

from __future__ import annotations

import torch

from ._validate import reduction_weights

_ops = torch.ops.atu


def _value_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _value_like(params):
    return params[0].new_empty((), dtype=_value_dtype(params[0].dtype))


def _fresh_like(params):
    return [torch.empty_like(p, memory_format=torch.contiguous_format) for p in params]


# ---- fake kernels ------------------------------------------------------------------------------


@torch.library.register_fake("atu::sq_dist")
def _sq_dist_fake(params, refs, num_refs, reduction):
    return _value_like(params)


@torch.library.register_fake("atu::sq_dist_backward")
def _sq_dist_backward_fake(grad, params, refs, num_refs, reduction):
    return _fresh_like(params)


@torch.library.register_fake("atu::sq_dist_value_and_grad_")
def _sq_dist_value_and_grad_fake(grads, params, refs, num_refs, reduction, scale, accumulate):
    return _value_like(params)


@torch.library.register_fake("atu::ewc_penalty")
def _ewc_penalty_fake(params, anchor, fisher, lam):
    return _value_like(params)


@torch.library.register_fake("atu::ewc_penalty_backward")
def _ewc_penalty_backward_fake(grad, params, anchor, fisher, lam):
    return _fresh_like(params)


@torch.library.register_fake("atu::ewc_value_and_grad_")
def _ewc_value_and_grad_fake(grads, params, anchor, fisher, lam, scale, accumulate):
    return _value_like(params)


# ---- sq_dist: d -> ∂d/∂p = w_t (2/k) Σ_j (p − a_j) ---------------------------------------------


def _sq_dist_setup(ctx, inputs, output):
    params, refs, num_refs, reduction = inputs
    ctx.num_params = len(params)
    ctx.num_refs, ctx.reduction = num_refs, reduction
    ctx.save_for_backward(*params, *refs)


def _sq_dist_backward(ctx, grad):
    saved = ctx.saved_tensors
    params, refs = list(saved[: ctx.num_params]), list(saved[ctx.num_params :])
    grads = _ops.sq_dist_backward(grad, params, refs, ctx.num_refs, ctx.reduction)
    return list(grads), [None] * len(refs), None, None


torch.library.register_autograd("atu::sq_dist", _sq_dist_backward, setup_context=_sq_dist_setup)


def _sq_dist_backward_setup(ctx, inputs, output):
    grad, params, refs, num_refs, reduction = inputs
    ctx.num_params = len(params)
    ctx.num_refs, ctx.reduction = num_refs, reduction
    ctx.save_for_backward(grad, *params, *refs)


def _sq_dist_double_backward(ctx, cotangents):
    # g_t = grad · w_t (2/k) Σ_j (p_t − a_jt) is linear in grad and in p:
    #   ∂/∂grad = Σ_t w_t (2/k) <v_t, Σ_j (p_t − a_jt)> = Σ_t <v_t, g_t(grad=1)>
    #   ∂/∂p_t  = grad · w_t · 2 · v_t
    saved = ctx.saved_tensors
    grad, params = saved[0], list(saved[1 : 1 + ctx.num_params])
    refs = list(saved[1 + ctx.num_params :])
    weights = reduction_weights(params, ctx.reduction)
    unit = _ops.sq_dist_backward(torch.ones_like(grad), params, refs, ctx.num_refs, ctx.reduction)
    d_grad = sum((v * u).sum() for v, u in zip(cotangents, unit) if v is not None)
    d_params = [None if v is None else v * (grad * (2.0 * w)) for v, w in zip(cotangents, weights)]
    return (torch.as_tensor(d_grad, dtype=grad.dtype, device=grad.device), d_params, [None] * len(refs), None, None)


torch.library.register_autograd(
    "atu::sq_dist_backward", _sq_dist_double_backward, setup_context=_sq_dist_backward_setup
)


# ---- ewc_penalty: e -> ∂e/∂p = lam · 2F(p − a) ------------------------------------------------


def _ewc_setup(ctx, inputs, output):
    params, anchor, fisher, lam = inputs
    ctx.num_params, ctx.lam = len(params), lam
    ctx.save_for_backward(*params, *anchor, *fisher)


def _ewc_backward(ctx, grad):
    n, saved = ctx.num_params, ctx.saved_tensors
    params, anchor, fisher = list(saved[:n]), list(saved[n : 2 * n]), list(saved[2 * n :])
    grads = _ops.ewc_penalty_backward(grad, params, anchor, fisher, ctx.lam)
    return list(grads), [None] * n, [None] * n, None


torch.library.register_autograd("atu::ewc_penalty", _ewc_backward, setup_context=_ewc_setup)


def _ewc_backward_setup(ctx, inputs, output):
    grad, params, anchor, fisher, lam = inputs
    ctx.num_params, ctx.lam = len(params), lam
    ctx.save_for_backward(grad, *params, *anchor, *fisher)


def _ewc_double_backward(ctx, cotangents):
    # g_t = grad · lam · 2F(p − a): ∂/∂grad = Σ_t <v_t, g_t(grad=1)>, ∂/∂p_t = grad · lam · 2F · v_t.
    n, saved = ctx.num_params, ctx.saved_tensors
    grad = saved[0]
    params, anchor, fisher = list(saved[1 : 1 + n]), list(saved[1 + n : 1 + 2 * n]), list(saved[1 + 2 * n :])
    unit = _ops.ewc_penalty_backward(torch.ones_like(grad), params, anchor, fisher, ctx.lam)
    d_grad = sum((v * u).sum() for v, u in zip(cotangents, unit) if v is not None)
    d_params = [None if v is None else v * f * (grad * (2.0 * ctx.lam)) for v, f in zip(cotangents, fisher)]
    return (torch.as_tensor(d_grad, dtype=grad.dtype, device=grad.device), d_params, [None] * n, [None] * n, None)


torch.library.register_autograd("atu::ewc_penalty_backward", _ewc_double_backward, setup_context=_ewc_backward_setup)
