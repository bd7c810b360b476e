"""The parameter-space penalties of Adapt-then-Unlearn as differentiable functions, and everything
else of theirs in Python: argument checks, the fake kernels and autograd of their torch.ops.atu ops,
their torch._foreach form for the reference ops mode, and their plain-PyTorch float64 oracles.

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

from . import ops_mode

REDUCTIONS = ("sum", "mean", "tensor_mean")
# The repulsions' defaults, the method's own (atu/stages/unlearn.py): the authors' per-tensor mean
# distance and their α at k = 2 adapted models.
DEFAULT_REDUCTION = "tensor_mean"
DEFAULT_ALPHA = 2.0
_SUPPORTED_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _describe(t: torch.Tensor) -> str:
    return f"shape {tuple(t.shape)}, {t.dtype}, {t.device}"


def tensor_list(value, name: str) -> list[torch.Tensor]:
    """A tensor or a sequence of tensors -> a list of tensors, or TypeError."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a tensor or a sequence of tensors, got {type(value).__name__}")
    items = list(value)
    for i, t in enumerate(items):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}[{i}] must be a tensor, got {type(t).__name__}")
    return items


def check_params(params) -> list[torch.Tensor]:
    """The tensors a penalty is taken of: non-empty, floating, one dtype, one device."""
    items = tensor_list(params, "params")
    if not items:
        raise ValueError("params is empty: pass at least one tensor (e.g. list(G.parameters()))")
    first = items[0]
    for i, t in enumerate(items):
        if t.dtype not in _SUPPORTED_DTYPES:
            raise TypeError(
                f"params[{i}] has dtype {t.dtype}; expected a floating dtype (float32, float64, float16 or bfloat16)"
            )
        if t.dtype != first.dtype:
            raise ValueError(f"params[{i}] is {t.dtype} but params[0] is {first.dtype}: use one dtype")
        if t.device != first.device:
            raise ValueError(f"params[{i}] is on {t.device} but params[0] is on {first.device}")
    return items


def check_matching(params: list[torch.Tensor], others: list[torch.Tensor], name: str) -> None:
    """`others` must match params tensor by tensor in count, shape, dtype and device."""
    if len(others) != len(params):
        raise ValueError(f"{name} has {len(others)} tensors but params has {len(params)}")
    for i, (p, o) in enumerate(zip(params, others)):
        if o.shape != p.shape or o.dtype != p.dtype or o.device != p.device:
            raise ValueError(f"{name}[{i}] ({_describe(o)}) does not match params[{i}] ({_describe(p)})")


def check_references(
    params_arg, params: list[torch.Tensor], theta_n, name: str = "theta_n"
) -> list[list[torch.Tensor]]:
    """Normalise theta_n into k references, each a list of tensors matching params.

    Accepted: one reference (a tensor when params is one tensor, or a sequence of tensors) or k
    references (a sequence of such sequences). When params was given as a single tensor, a
    sequence of tensors means k single-tensor references.
    """
    if isinstance(theta_n, torch.Tensor):
        refs, labels = [[theta_n]], [name]
    else:
        if isinstance(theta_n, (str, bytes)) or not hasattr(theta_n, "__iter__"):
            raise TypeError(
                f"{name} must be a tensor, a sequence of tensors or a sequence of sequences, "
                f"got {type(theta_n).__name__}"
            )
        items = list(theta_n)
        if not items:
            raise ValueError(f"{name} is empty: pass at least one reference model")
        if all(isinstance(x, torch.Tensor) for x in items):
            if isinstance(params_arg, torch.Tensor):
                refs, labels = [[x] for x in items], [f"{name}[{j}]" for j in range(len(items))]
            else:
                refs, labels = [items], [name]
        else:
            refs = [tensor_list(x, f"{name}[{j}]") for j, x in enumerate(items)]
            labels = [f"{name}[{j}]" for j in range(len(items))]
    for ref, label in zip(refs, labels):
        check_matching(params, ref, label)
    return refs


def reduction_weights(params, reduction: str) -> list[float]:
    """Per-tensor factor w_t of d = Σ_t w_t Σ_i (p − a)²; mirrors csrc/torch/penalties_args.cpp."""
    check_reduction(reduction)
    if reduction == "sum":
        return [1.0] * len(params)
    if reduction == "mean":
        total = sum(p.numel() for p in params)
        return [1.0 / total] * len(params)
    nonempty = sum(1 for p in params if p.numel() > 0)
    return [1.0 / (nonempty * p.numel()) if p.numel() > 0 else 0.0 for p in params]


def check_el2_value(value: torch.Tensor, d: torch.Tensor, alpha: float, reduction: str, who: str) -> None:
    """Refuses an EL2 loss exp(−α·d) that is exactly 0 at a finite d: its gradient is 0 too, so
    nothing would be repelled, silently. Says which α would fit the d measured (α·d near 1, where
    the push −α·exp(−α·d) is strongest) and that the per-tensor mean keeps d small. Reads the
    value on the host (one synchronisation); skipped while torch.compile traces."""
    if torch.compiler.is_compiling():
        return
    if float(value.detach().max()) == 0.0 and bool(torch.isfinite(d.detach()).all()):
        measured = float(d.detach().max())
        raise ValueError(
            f"{who}: exp(−α·d) underflows to 0 at the distance measured, d = {measured:.4g} (reduction="
            f"{reduction!r}, α = {alpha:g}), so its gradient is 0 and nothing is repelled. Choose α near "
            f"1/d (α = {1.0 / measured:.3g} puts α·d at 1), or reduction='tensor_mean' (the authors' per-tensor "
            "mean, which keeps d small whatever the model's size)"
        )


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def check_nonempty_for(reduction: str, params: list[torch.Tensor]) -> None:
    """'mean' and 'tensor_mean' divide by element counts, which must not all be zero."""
    if reduction != "sum" and all(p.numel() == 0 for p in params):
        raise ValueError(f"reduction={reduction!r} needs at least one element in params; all tensors are empty")


def check_finite_number(value, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


# ---- the API -----------------------------------------------------------------------------------------


def sq_dist(params, refs, *, reduction: str = "sum") -> torch.Tensor:
    """d = mean over the k references of Σ (params − ref)², reduced as `reduction` says."""
    check_reduction(reduction)
    plist = check_params(params)
    references = check_references(params, plist, refs)
    check_nonempty_for(reduction, plist)
    ops_mode.require_kernels("sq_dist", plist[0].device)
    if ops_mode.reference_mode():
        return foreach_sq_dist(plist, references, reduction)
    return torch.ops.atu.sq_dist(plist, [t for ref in references for t in ref], len(references), reduction)


def repulsion_il2(params, theta_n, *, reduction: str = DEFAULT_REDUCTION, eps: float = 1e-12) -> torch.Tensor:
    """1 / (d + eps); at d = 0 this is 1/eps."""
    eps = check_finite_number(eps, "eps")
    return torch.reciprocal(sq_dist(params, theta_n, reduction=reduction) + eps)


def repulsion_nl2(params, theta_n, *, reduction: str = DEFAULT_REDUCTION) -> torch.Tensor:
    """−d."""
    return torch.neg(sq_dist(params, theta_n, reduction=reduction))


def repulsion_el2(params, theta_n, *, alpha: float = DEFAULT_ALPHA, reduction: str = DEFAULT_REDUCTION) -> torch.Tensor:
    """exp(−alpha · d); ValueError when that is 0 at a finite d (no gradient: see check_el2_value)."""
    alpha = check_finite_number(alpha, "alpha")
    d = sq_dist(params, theta_n, reduction=reduction)
    loss = torch.exp(d * -alpha)
    check_el2_value(loss, d, alpha, reduction, "repulsion_el2")
    return loss


def ewc_penalty(params, anchor, fisher, *, lam: float = 1.0) -> torch.Tensor:
    """lam · Σ_i F_i (params_i − anchor_i)²: the EWC penalty of stage 1."""
    lam = check_finite_number(lam, "lam")
    plist = check_params(params)
    anchors = tensor_list(anchor, "anchor")
    fishers = tensor_list(fisher, "fisher")
    check_matching(plist, anchors, "anchor")
    check_matching(plist, fishers, "fisher")
    ops_mode.require_kernels("ewc_penalty", plist[0].device)
    if ops_mode.reference_mode():
        return foreach_ewc_penalty(plist, anchors, fishers, lam)
    return torch.ops.atu.ewc_penalty(plist, anchors, fishers, lam)


# ---- fake kernels and autograd of the torch.ops.atu penalty ops ----------------------------------------
# Backward formulas call registered ops, and the backward ops have their own backward, so second-order
# gradients (Hessian-vector products through a penalty) work too.


def _value_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _value_like(params):
    return params[0].new_empty((), dtype=_value_dtype(params[0].dtype))


def _fresh_like(params):
    return [torch.empty_like(p, memory_format=torch.contiguous_format) for p in params]


_ops = torch.ops.atu


# ---- fake kernels ------------------------------------------------------------------------------


def _fake(position: int, make):
    """A fake kernel that answers from the op's `params` argument (at `position`) alone."""

    def fake(*args, **kwargs):
        return make(kwargs["params"] if "params" in kwargs else args[position])

    return fake


# op -> (the position of `params` among its arguments, what its output looks like)
for _op, (_position, _make) in {
    "sq_dist": (0, _value_like),
    "sq_dist_backward": (1, _fresh_like),
    "sq_dist_value_and_grad_": (1, _value_like),
    "ewc_penalty": (0, _value_like),
    "ewc_penalty_backward": (1, _fresh_like),
    "ewc_value_and_grad_": (1, _value_like),
}.items():
    torch.library.register_fake(f"atu::{_op}")(_fake(_position, _make))


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


# ---- the reference ops mode (atu_ext.ops_mode): torch._foreach ops -------------------------------------
# A few launches for the whole parameter list on any device, differentiable through autograd. They
# compute what the compiled kernels compute (the same d, the same gradients) without their float64
# accumulation: per-tensor norms are taken in float32 (float64 for float64 parameters), so results agree
# with the kernels to float32 rounding, not bit for bit.


def _weighted_sum_of_squares(tensors: list[torch.Tensor], weights: list[float], dtype: torch.dtype) -> torch.Tensor:
    norms = torch._foreach_norm(tensors, 2, dtype=dtype)
    w = torch.tensor(weights, dtype=dtype, device=tensors[0].device)
    return (torch.stack(norms).square() * w).sum()


def foreach_sq_dist(params: list[torch.Tensor], refs: list[list[torch.Tensor]], reduction: str) -> torch.Tensor:
    """mean over the k references of Σ_t w_t ||p_t − a_jt||²."""
    dtype, weights = _value_dtype(params[0].dtype), reduction_weights(params, reduction)
    per_ref = [_weighted_sum_of_squares(torch._foreach_sub(params, ref), weights, dtype) for ref in refs]
    return torch.stack(per_ref).mean()


def foreach_ewc_penalty(params, anchor, fisher, lam: float) -> torch.Tensor:
    """lam · Σ F (p − a)², as the squared norms of √F·(p − a) (F >= 0, a Fisher diagonal)."""
    scaled = torch._foreach_mul(torch._foreach_sub(params, anchor), torch._foreach_sqrt(fisher))
    return lam * _weighted_sum_of_squares(scaled, [1.0] * len(params), _value_dtype(params[0].dtype))


@torch.no_grad()
def _write(grads: list[torch.Tensor], terms: list[torch.Tensor], accumulate: bool) -> None:
    if accumulate:
        torch._foreach_add_(grads, terms)
    else:
        torch._foreach_copy_(grads, terms)


@torch.no_grad()
def foreach_sq_dist_add_grad_(grads, params, mean, reduction: str, factor: torch.Tensor, accumulate: bool) -> None:
    """grads += factor · ∂d/∂p for d = Σ_t w_t ||p_t − m_t||², i.e. factor · 2 w_t (p_t − m_t)."""
    weights = reduction_weights(params, reduction)
    terms = torch._foreach_sub(params, mean)
    torch._foreach_mul_(terms, [2.0 * w for w in weights])
    torch._foreach_mul_(terms, factor.to(params[0].dtype))
    _write(grads, terms, accumulate)


@torch.no_grad()
def foreach_ewc_add_grad_(
    grads, params, anchor, fisher, lam: float, scale: torch.Tensor, accumulate: bool
) -> torch.Tensor:
    """grads += scale · lam · 2F(p − a); returns lam · Σ F (p − a)²."""
    diffs = torch._foreach_sub(params, anchor)
    scaled = torch._foreach_mul(diffs, torch._foreach_sqrt(fisher))
    value = lam * _weighted_sum_of_squares(scaled, [1.0] * len(params), _value_dtype(params[0].dtype))
    terms = torch._foreach_mul(diffs, fisher)
    torch._foreach_mul_(terms, (scale * (2.0 * lam)).to(params[0].dtype))
    _write(grads, terms, accumulate)
    return value


# ---- plain-PyTorch oracles (atu_ext.reference): one tensor at a time, for float64 copies -----------------


def sq_dist_reference(
    params: list[torch.Tensor], refs: list[list[torch.Tensor]], reduction: str = "sum"
) -> torch.Tensor:
    """mean over the references j of Σ_t w_t Σ (p_t − a_jt)², one tensor at a time."""
    weights = reduction_weights(params, reduction)
    per_ref = []
    for ref in refs:
        total = params[0].new_zeros(())
        for p, a, w in zip(params, ref, weights):
            total = total + w * (p - a).pow(2).sum()
        per_ref.append(total)
    return torch.stack(per_ref).mean()


def repulsion_il2_reference(params, refs, reduction=DEFAULT_REDUCTION, eps=1e-12):
    return 1.0 / (sq_dist_reference(params, refs, reduction) + eps)


def repulsion_nl2_reference(params, refs, reduction=DEFAULT_REDUCTION):
    return -sq_dist_reference(params, refs, reduction)


def repulsion_el2_reference(params, refs, alpha=DEFAULT_ALPHA, reduction=DEFAULT_REDUCTION):
    return torch.exp(-alpha * sq_dist_reference(params, refs, reduction))


def ewc_penalty_reference(params, anchor, fisher, lam=1.0):
    total = params[0].new_zeros(())
    for p, a, f in zip(params, anchor, fisher):
        total = total + (f * (p - a).pow(2)).sum()
    return lam * total
