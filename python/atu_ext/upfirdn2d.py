"""upfirdn2d: upsample (zero insertion), pad, FIR filter, downsample, as in NVlabs StyleGAN2-ADA.

    y = upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1])          # StyleGAN2's ToRGB skip upsample

x is [N, C, H, W]; f is [fh, fw] or 1-D [ft] (the separable filter f ⊗ f, computed in two 1-D
passes); up/down are an int or [x, y]; padding an int, [px, py] or [x0, x1, y0, y1] (negative
values crop). flip_filter=False is true convolution, True correlation. The output is scaled by
gain. Output height = (H·up_y + y0 + y1 − fh + down_y) // down_y.

The gradient w.r.t. x is upfirdn2d itself (up and down swapped, padding adjusted, filter flipped),
so gradients of every order work. f is a constant: it must not require grad.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import ops_mode
from .resampling import int_pair, padding4

_ops = torch.ops.atu
_FLOATING = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def filter_size(f: torch.Tensor) -> tuple[int, int]:
    """(fh, fw) of a 1-D (separable) or 2-D filter."""
    return (f.shape[0], f.shape[0]) if f.dim() == 1 else (f.shape[0], f.shape[1])


def output_size(in_h: int, in_w: int, fh: int, fw: int, up, down, padding) -> tuple[int, int]:
    """(out_h, out_w) for normalised up/down ([x, y]) and padding ([x0, x1, y0, y1])."""
    out_h = (in_h * up[1] + padding[2] + padding[3] - fh + down[1]) // down[1]
    out_w = (in_w * up[0] + padding[0] + padding[1] - fw + down[0]) // down[0]
    return out_h, out_w


def check_filter(f, name: str = "f", *, device=None) -> None:
    if not isinstance(f, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(f).__name__}")
    if f.dtype not in _FLOATING:
        raise TypeError(f"{name} has dtype {f.dtype}; expected a floating dtype")
    if f.dim() not in (1, 2):
        raise ValueError(f"{name} must be 1-D [ft] (separable) or 2-D [fh, fw], got shape {tuple(f.shape)}")
    if f.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(f.shape)})")
    if f.requires_grad:
        raise ValueError(f"{name} requires grad, but the filter is a constant of upfirdn2d: pass {name}.detach()")
    if device is not None and f.device != device:
        raise ValueError(f"{name} is on {f.device} but x is on {device}")


def normalize_args(x, f, up, down, padding, flip_filter, gain):
    """Validates every argument (naming it in the error) and returns the op's arguments."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if x.dtype not in _FLOATING:
        raise TypeError(f"x has dtype {x.dtype}; expected float32, float64, float16 or bfloat16")
    if x.dim() != 4:
        raise ValueError(f"x must be [N, C, H, W], got shape {tuple(x.shape)}")
    check_filter(f, device=x.device)
    up, down, pad = int_pair(up, "up", minimum=1), int_pair(down, "down", minimum=1), padding4(padding)
    if not isinstance(flip_filter, bool):
        raise TypeError(f"flip_filter must be a bool, got {type(flip_filter).__name__}")
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain):
        raise TypeError(f"gain must be a finite number, got {gain!r}")
    fh, fw = filter_size(f)
    in_h, in_w = x.shape[2], x.shape[3]
    padded_h, padded_w = in_h * up[1] + pad[2] + pad[3], in_w * up[0] + pad[0] + pad[1]
    if padded_h < fh or padded_w < fw:
        raise ValueError(
            f"f ({fh}×{fw}) is larger than the upsampled, padded input ({padded_h}×{padded_w}: "
            f"x is {in_h}×{in_w}, up={up}, padding={pad})"
        )
    return x, f.detach(), up, down, pad, flip_filter, float(gain)


def upfirdn2d(
    x: torch.Tensor, f: torch.Tensor, up=1, down=1, padding=0, flip_filter: bool = False, gain: float = 1.0
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with f, keep every down-th sample, times gain."""
    args = normalize_args(x, f, up, down, padding, flip_filter, gain)
    ops_mode.require_kernels("upfirdn2d", x.device)
    if ops_mode.reference_mode():
        return upfirdn2d_reference(*args)
    return _ops.upfirdn2d(*args)


# ---- fake kernel and autograd ------------------------------------------------------------------


def _out_format(x: torch.Tensor) -> torch.memory_format:
    # The kernels' rule (csrc/torch/upfirdn2d_args.h): channels_last in, channels_last out.
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


@torch.library.register_fake("atu::upfirdn2d")
def _upfirdn2d_fake(x, f, up, down, padding, flip_filter, gain):
    fh, fw = filter_size(f)
    out_h, out_w = output_size(x.shape[2], x.shape[3], fh, fw, up, down, padding)
    return x.new_empty((x.shape[0], x.shape[1], out_h, out_w)).contiguous(memory_format=_out_format(x))


def _setup(ctx, inputs, output):
    x, f, up, down, padding, flip_filter, gain = inputs
    ctx.in_hw = (x.shape[2], x.shape[3])
    ctx.out_hw = (output.shape[2], output.shape[3])
    ctx.args = (up, down, padding, flip_filter, gain)
    ctx.save_for_backward(f)


def backward_args(f, in_hw, out_hw, up, down, padding, flip_filter):
    """up, down, padding and flip_filter of the upfirdn2d that is the adjoint of the forward one.

    Forward: y[m] = Σ_t f'[t] · u[m·down + t − p0] with u the zero-upsampled x, so
    ∂L/∂x[i] = Σ_m dy[m] · f'[i·up + p0 − m·down]: an upfirdn2d of dy with up and down swapped,
    the filter reversed, leading padding f − p0 − 1 and a trailing padding that makes the
    output exactly as large as x.
    """
    fh, fw = filter_size(f)
    (in_h, in_w), (out_h, out_w) = in_hw, out_hw
    pad = [
        fw - padding[0] - 1,
        in_w * up[0] - out_w * down[0] + padding[0] - up[0] + 1,
        fh - padding[2] - 1,
        in_h * up[1] - out_h * down[1] + padding[2] - up[1] + 1,
    ]
    return list(down), list(up), pad, not flip_filter


def _backward(ctx, grad):
    (f,) = ctx.saved_tensors
    up, down, padding, flip_filter, gain = ctx.args
    b_up, b_down, b_pad, b_flip = backward_args(f, ctx.in_hw, ctx.out_hw, up, down, padding, flip_filter)
    grad_x = _ops.upfirdn2d(grad, f, b_up, b_down, b_pad, b_flip, gain)
    return grad_x, None, None, None, None, None, None


torch.library.register_autograd("atu::upfirdn2d", _backward, setup_context=_setup)


# ---- the plain-PyTorch reference ---------------------------------------------------------------------


def upfirdn2d_reference(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1.0):
    """The plain-PyTorch reference (atu_ext.reference.upfirdn2d). Materialises every step: zero
    insertion, F.pad (negative = crop), a depthwise conv2d with the (flipped, for true convolution)
    2-D filter, strided slicing, gain."""
    ux, uy = int_pair(up, "up", minimum=1)
    dx, dy = int_pair(down, "down", minimum=1)
    x0, x1, y0, y1 = padding4(padding)
    n, c, h, w = x.shape
    if f.dim() == 1:
        f = torch.outer(f, f)
    f = f.to(x.dtype)
    up_x = x.new_zeros(n, c, h * uy, w * ux)
    up_x[:, :, ::uy, ::ux] = x
    padded = F.pad(up_x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    padded = padded[:, :, max(-y0, 0) : padded.shape[2] - max(-y1, 0), max(-x0, 0) : padded.shape[3] - max(-x1, 0)]
    kernel = f if flip_filter else f.flip([0, 1])
    weight = kernel[None, None].repeat(c, 1, 1, 1)
    y = F.conv2d(padded, weight, groups=c)
    return y[:, :, ::dy, ::dx] * gain
