"""Fused bias + activation (StyleGAN2's bias_act) as registered torch.ops.atu ops.

    y = clamp(gain · act(x + b broadcast along dim), −clamp, +clamp)

Activations with their default gains (and alpha, the negative slope, which only lrelu uses) are
those of NVlabs' StyleGAN2-ADA. Gradients of every order training needs: the backward of
``atu::bias_act`` is the registered op ``atu::bias_act_grad`` (dy times a derivative of the
activation, order 1), and ``bias_act_grad``'s own backward calls it again with order + 1, so R1 and
path-length regularisation can differentiate through the gradient. The kernels compute derivatives
up to order 3; linear, relu and lrelu have none past the first, so for them any order works.
For those three (with gain > 0 and, for lrelu, alpha >= 0: StyleGAN2's case) the backward keeps the
output y instead of x and uses ``atu::bias_act_grad_from_output``, so x can be freed after the
forward.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from . import ops_mode

_ops = torch.ops.atu

# name -> (default alpha, default gain)
ACTIVATIONS: dict[str, tuple[float, float]] = {
    "linear": (0.0, 1.0),
    "relu": (0.0, math.sqrt(2)),
    "lrelu": (0.2, math.sqrt(2)),
    "tanh": (0.0, 1.0),
    "sigmoid": (0.0, 1.0),
    "elu": (0.0, 1.0),
    "selu": (0.0, 1.0),
    "softplus": (0.0, 1.0),
    "swish": (0.0, math.sqrt(2)),
}
# Piecewise linear: every derivative past the first is zero (almost everywhere).
_PIECEWISE_LINEAR = frozenset({"linear", "relu", "lrelu"})
MAX_KERNEL_ORDER = 3  # csrc/bias_act_params.h: kMaxOrder
_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


# ---- argument checking ---------------------------------------------------------------------------


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"bias_act: {name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"bias_act: {name} must be finite, got {value}")
    return value


def _check_tensor(t, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"bias_act: {name} must be a tensor, got {type(t).__name__}")
    if t.dtype not in _DTYPES:
        raise TypeError(f"bias_act: {name} has dtype {t.dtype}; expected float32, float64, float16 or bfloat16")


def _resolve(x, b, dim, act, alpha, gain, clamp):
    """Checked arguments with defaults filled in: (dim, alpha, gain, clamp)."""
    _check_tensor(x, "x")
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise ValueError(f"bias_act: act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"bias_act: dim must be an int, got {type(dim).__name__}")
    dim = int(dim)
    if b is not None:
        _check_tensor(b, "b")
        if x.ndim == 0:
            raise ValueError("bias_act: x is 0-dimensional, so there is no dim to add b along")
        if not -x.ndim <= dim < x.ndim:
            raise ValueError(f"bias_act: dim={dim} is out of range for x with {x.ndim} dims (shape {tuple(x.shape)})")
        dim %= x.ndim
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(f"bias_act: b must have shape [{x.shape[dim]}] (x.shape[{dim}]), got {list(b.shape)}")
        if b.dtype != x.dtype:
            raise TypeError(f"bias_act: b is {b.dtype} but x is {x.dtype}: use one dtype")
        if b.device != x.device:
            raise ValueError(f"bias_act: b is on {b.device} but x is on {x.device}")
    def_alpha, def_gain = ACTIVATIONS[act]
    alpha = def_alpha if alpha is None else _number(alpha, "alpha")
    gain = def_gain if gain is None else _number(gain, "gain")
    if clamp is not None:
        clamp = _number(clamp, "clamp")
        if clamp < 0:
            raise ValueError(f"bias_act: clamp must be >= 0 (or None for no clamping), got {clamp}")
    return dim, alpha, gain, clamp


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """clamp(gain · act(x + b), ±clamp), b ([x.shape[dim]]) broadcast along `dim`.

    act: linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus or swish. alpha (lrelu's negative
    slope, default 0.2) and gain (default √2 for relu, lrelu and swish, else 1) default per
    activation; clamp=None does not clamp. Any layout (contiguous, channels_last, strided views);
    the output has x's layout when x is dense.
    """
    dim, alpha, gain, clamp = _resolve(x, b, dim, act, alpha, gain, clamp)
    ops_mode.require_kernels("bias_act", x.device)
    if ops_mode.reference_mode():
        return bias_act_reference(x, b, dim, act, alpha, gain, clamp)
    return _ops.bias_act(x, b, dim, act, alpha, gain, clamp)


# ---- fake kernels: same allocation as the C++ side (at::empty_like(x)) --------------------------


@torch.library.register_fake("atu::bias_act")
def _bias_act_fake(x, b, dim, act, alpha, gain, clamp):
    return torch.empty_like(x)


@torch.library.register_fake("atu::bias_act_grad")
def _bias_act_grad_fake(dy, x, b, dim, act, alpha, gain, clamp, order):
    return torch.empty_like(x)


@torch.library.register_fake("atu::bias_act_grad_from_output")
def _bias_act_grad_from_output_fake(dy, y, act, alpha, gain, clamp):
    return torch.empty_like(y)


# ---- autograd --------------------------------------------------------------------------------------


def _bias_grad(dx: torch.Tensor, dim: int) -> torch.Tensor:
    """∂/∂b from ∂/∂(x + b): the sum over every dim but `dim`."""
    other = [d for d in range(dx.ndim) if d != dim]
    return dx.sum(dim=other) if other else dx


def _derivative_term(dy, x, b, dim, act, alpha, gain, clamp, order):
    """dy · gain · act⁽ᵒʳᵈᵉʳ⁾(x + b), masked where the forward was clamped."""
    if order > MAX_KERNEL_ORDER:
        if act in _PIECEWISE_LINEAR:
            return torch.zeros_like(x)
        raise NotImplementedError(
            f"bias_act: derivatives of order {order} of act={act!r} are not implemented "
            f"(the kernels stop at order {MAX_KERNEL_ORDER})"
        )
    return _ops.bias_act_grad(dy, x, b, dim, act, alpha, gain, clamp, order)


def _derivative_from_output(act: str, alpha: float, gain: float) -> bool:
    """Whether the first derivative can be read off y: y > 0 exactly where x + b > 0."""
    return act in _PIECEWISE_LINEAR and gain > 0 and (act != "lrelu" or alpha >= 0)


def _bias_act_setup(ctx, inputs, output):
    x, b, dim, act, alpha, gain, clamp = inputs
    ctx.attrs = (dim, act, alpha, gain, clamp)
    ctx.from_output = _derivative_from_output(act, alpha, gain)
    # StyleGAN2's case (lrelu, gain √2): keep y, which the next layer keeps alive anyway, rather
    # than x, which could otherwise be freed after the forward (NVlabs' implementation does too).
    ctx.save_for_backward(output if ctx.from_output else x, None if ctx.from_output else b)
    ctx.has_bias = b is not None


def _bias_act_backward(ctx, dy):
    ref, b = ctx.saved_tensors
    dim, act, alpha, gain, clamp = ctx.attrs
    if ctx.from_output:
        dx = _ops.bias_act_grad_from_output(dy, ref, act, alpha, gain, clamp)
    else:
        dx = _derivative_term(dy, ref, b, *ctx.attrs, 1)
    db = _bias_grad(dx, dim) if ctx.has_bias and ctx.needs_input_grad[1] else None
    return dx, db, None, None, None, None, None


torch.library.register_autograd("atu::bias_act", _bias_act_backward, setup_context=_bias_act_setup)


def _bias_act_grad_setup(ctx, inputs, output):
    dy, x, b, dim, act, alpha, gain, clamp, order = inputs
    ctx.attrs = (dim, act, alpha, gain, clamp)
    ctx.order = order
    ctx.save_for_backward(dy, x, b)


def _bias_act_grad_backward(ctx, v):
    # out = dy · h(x + b) with h = gain · act⁽ᵏ⁾ · mask (the mask is piecewise constant):
    #   ∂/∂dy ← v · h(z)          = the same op on v
    #   ∂/∂x  ← v · dy · h'(z)    = the op of order k + 1 on v · dy;  ∂/∂b: its sum over the other dims
    dy, x, b = ctx.saved_tensors
    dim, order = ctx.attrs[0], ctx.order
    d_dy = _derivative_term(v, x, b, *ctx.attrs, order) if ctx.needs_input_grad[0] else None
    d_x = d_b = None
    if ctx.needs_input_grad[1] or (b is not None and ctx.needs_input_grad[2]):
        d_x = _derivative_term(v * dy, x, b, *ctx.attrs, order + 1)
        if b is not None and ctx.needs_input_grad[2]:
            d_b = _bias_grad(d_x, dim)
    return d_dy, d_x, d_b, None, None, None, None, None, None


torch.library.register_autograd("atu::bias_act_grad", _bias_act_grad_backward, setup_context=_bias_act_grad_setup)


def _from_output_setup(ctx, inputs, output):
    dy, y, act, alpha, gain, clamp = inputs
    ctx.attrs = (act, alpha, gain, clamp)
    ctx.save_for_backward(y)


def _from_output_backward(ctx, v):
    # out = dy · h(y), h piecewise constant in y: ∂/∂dy ← the same op on v; ∂/∂y = 0 (a.e.).
    (y,) = ctx.saved_tensors
    d_dy = _ops.bias_act_grad_from_output(v, y, *ctx.attrs) if ctx.needs_input_grad[0] else None
    d_y = torch.zeros_like(y) if ctx.needs_input_grad[1] else None
    return d_dy, d_y, None, None, None, None


torch.library.register_autograd(
    "atu::bias_act_grad_from_output", _from_output_backward, setup_context=_from_output_setup
)


# ---- the plain-PyTorch reference ---------------------------------------------------------------------


def bias_act_reference(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    """The plain-PyTorch reference (atu_ext.reference.bias_act): clamp(gain · act(x + b), ±clamp)
    in separate torch.nn.functional steps, autograd throughout.

    Defaults as in NVlabs' StyleGAN2-ADA: gain √2 for relu, lrelu and swish, else 1; lrelu's
    negative slope 0.2; elu with alpha 1; softplus with beta 1; clamp None leaves y unclamped.
    """
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
