"""Plain-PyTorch formulations of every atu_ext penalty.

They are the test oracles (called on float64 copies) and baseline B0 of the benchmarks (the
per-tensor Python loop with autograd a user would write). They are never used in place of the
compiled kernels.
"""

from __future__ import annotations

import torch

from ._validate import DEFAULT_ALPHA, DEFAULT_REDUCTION, reduction_weights
from .resampling import both_axes, int_pair, padding4, strided_conv_padding, transposed_conv_padding


def sq_dist(params: list[torch.Tensor], refs: list[list[torch.Tensor]], reduction: str = "sum") -> torch.Tensor:
    """mean over the references j of Σ_t w_t Σ (p_t − a_jt)², one tensor at a time."""
    weights = reduction_weights(params, reduction)
    per_ref = []
    for ref in refs:
        total = params[0].new_zeros(())
        for p, a, w in zip(params, ref, weights):
            total = total + w * (p - a).pow(2).sum()
        per_ref.append(total)
    return torch.stack(per_ref).mean()


def repulsion_il2(params, refs, reduction=DEFAULT_REDUCTION, eps=1e-12):
    return 1.0 / (sq_dist(params, refs, reduction) + eps)


def repulsion_nl2(params, refs, reduction=DEFAULT_REDUCTION):
    return -sq_dist(params, refs, reduction)


def repulsion_el2(params, refs, alpha=DEFAULT_ALPHA, reduction=DEFAULT_REDUCTION):
    return torch.exp(-alpha * sq_dist(params, refs, reduction))


def ewc_penalty(params, anchor, fisher, lam=1.0):
    total = params[0].new_zeros(())
    for p, a, f in zip(params, anchor, fisher):
        total = total + (f * (p - a).pow(2)).sum()
    return lam * total


# ---- StyleGAN2 ops -----------------------------------------------------------------------------


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1.0):
    """Materialises every step: zero insertion, F.pad (negative = crop), a depthwise conv2d with
    the (flipped, for true convolution) 2-D filter, strided slicing, gain."""
    import torch.nn.functional as F

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


def modulated_conv2d(x, weight, styles, demodulate=True, up=1, down=1, resample_filter=None, eps=1e-8):
    """One sample at a time: modulate, demodulate, then an ordinary (transposed) convolution with
    the resampling done by the reference upfirdn2d above."""
    import torch.nn.functional as F

    f = (
        torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=x.dtype, device=x.device) / 8.0
        if resample_filter is None
        else resample_filter
    )
    f2 = torch.outer(f, f) if f.dim() == 1 else f
    fh, fw = f2.shape
    kh, kw = weight.shape[2:]
    outs = []
    for n in range(x.shape[0]):
        w = weight * styles[n].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / torch.sqrt(w.square().sum(dim=(1, 2, 3), keepdim=True) + eps)
        xn = x[n : n + 1]
        if up == 2:
            y = F.conv_transpose2d(xn, w.transpose(0, 1), stride=2)
            y = upfirdn2d(
                y, f2, padding=both_axes(transposed_conv_padding(fw, kw), transposed_conv_padding(fh, kh)), gain=4.0
            )
        elif down == 2:
            y = F.conv2d(
                upfirdn2d(xn, f2, padding=both_axes(strided_conv_padding(fw, kw), strided_conv_padding(fh, kh))),
                w,
                stride=2,
            )
        else:
            y = F.conv2d(xn, w, padding=(kh // 2, kw // 2))
        outs.append(y)
    return torch.cat(outs)


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
