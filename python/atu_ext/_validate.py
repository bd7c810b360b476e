"""Argument checking for the penalty API: every problem is reported before any kernel runs, naming
the argument, the offending index and what was expected."""

from __future__ import annotations

import torch

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


def references(params_arg, params: list[torch.Tensor], theta_n, name: str = "theta_n") -> list[list[torch.Tensor]]:
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
