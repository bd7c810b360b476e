"""StyleGAN2's modulated convolution.

    y = modulated_conv2d(x, weight, styles, demodulate=True, up=1, down=1, resample_filter=None)

weight [O, I, kh, kw] is already scaled (rosinality's scale·weight), styles [N, I] the per-sample
input-channel scales (rosinality's modulation(style)). Per sample w' = weight·styles[n], with
demodulate w' ·= rsqrt(Σ_{i,kh,kw} w'² + eps); each sample is convolved with its own w'
(one grouped convolution through ATen). up=2: stride-2 transposed convolution, then upfirdn2d
with resample_filter, gain 4 and padding ((p+1)//2 + 1, p//2 + 1), p = (fh − 2) − (kh − 1);
down=2: upfirdn2d with padding ((p+1)//2, p//2), p = (fh − 2) + (kh − 1), then a stride-2
convolution; otherwise padding kh//2. resample_filter defaults to [1, 3, 3, 1] normalised
(StyleGAN2's), given 1-D (separable) or 2-D; it must sum to 1 for rosinality's semantics.

w' and the demodulation coefficients come from one fused op (atu::modulate_weight) whose backward
is written with registered ops, so first and second order gradients (path-length
regularisation, R1 through a generator) work.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import ops_mode
from .resampling import both_axes, strided_conv_padding, transposed_conv_padding
from .upfirdn2d import check_filter, filter_size, upfirdn2d, upfirdn2d_reference

_ops = torch.ops.atu
_FLOATING = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def default_resample_filter(device=None, dtype=torch.float32) -> torch.Tensor:
    """StyleGAN2's [1, 3, 3, 1] binomial filter, 1-D and normalised (f ⊗ f sums to 1)."""
    return torch.tensor([1.0, 3.0, 3.0, 1.0], device=device, dtype=dtype) / 8.0


# ---- the fused modulation op: fake kernel and autograd -----------------------------------------


@torch.library.register_fake("atu::modulate_weight")
def _modulate_fake(weight, styles, demodulate, eps):
    n, (o, i, kh, kw) = styles.shape[0], weight.shape
    return weight.new_empty((n, o, i, kh, kw)), weight.new_empty((n, o))


def _modulate_setup(ctx, inputs, output):
    weight, styles, demodulate, eps = inputs
    ctx.demodulate = demodulate
    ctx.save_for_backward(weight, styles, output[1])


def _modulate_backward(ctx, grad_w, grad_d):
    # a = weight·s, σ = Σ a² + eps, d = σ^(−1/2), w = a·d. With g_d = grad_d + Σ_{i,k} grad_w·a:
    #   ∂L/∂a = grad_w·d − g_d·d³·a,  ∂L/∂weight = Σ_n ∂L/∂a · s,  ∂L/∂s = Σ_{o,k} ∂L/∂a · weight.
    # Plain differentiable ops (the saved d is an output of this op, so it is differentiable too):
    # the backward has its own backward.
    weight, styles, d = ctx.saved_tensors
    if grad_w is None:
        grad_w = weight.new_zeros((styles.shape[0], *weight.shape))
    s5 = styles[:, None, :, None, None]
    if ctx.demodulate:
        a = weight[None] * s5
        g_d = (grad_w * a).sum(dim=(2, 3, 4))
        if grad_d is not None:
            g_d = g_d + grad_d
        d5 = d[:, :, None, None, None]
        grad_a = grad_w * d5 - (g_d[:, :, None, None, None] * d5.pow(3)) * a
    else:
        grad_a = grad_w  # d is the constant 1
    grad_weight = (grad_a * s5).sum(dim=0)
    grad_styles = (grad_a * weight[None]).sum(dim=(1, 3, 4))
    return grad_weight, grad_styles, None, None


torch.library.register_autograd("atu::modulate_weight", _modulate_backward, setup_context=_modulate_setup)


# ---- the public function -----------------------------------------------------------------------


def _check_args(x, weight, styles, demodulate, up, down, resample_filter, eps):
    for name, t, rank, shape in (
        ("x", x, 4, "[N, I, H, W]"),
        ("weight", weight, 4, "[O, I, kh, kw]"),
        ("styles", styles, 2, "[N, I]"),
    ):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
        if t.dtype not in _FLOATING:
            raise TypeError(f"{name} has dtype {t.dtype}; expected a floating dtype")
        if t.dim() != rank:
            raise ValueError(f"{name} must be {shape}, got shape {tuple(t.shape)}")
    for name, t in (("weight", weight), ("styles", styles)):
        if t.dtype != x.dtype:
            raise TypeError(f"{name} is {t.dtype} but x is {x.dtype}: use one dtype")
        if t.device != x.device:
            raise ValueError(f"{name} is on {t.device} but x is on {x.device}")
    if styles.shape[1] != weight.shape[1]:
        raise ValueError(f"styles has {styles.shape[1]} channels but weight has {weight.shape[1]} input channels")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but weight has {weight.shape[1]} input channels")
    if styles.shape[0] != x.shape[0]:
        raise ValueError(f"styles has {styles.shape[0]} samples but x has {x.shape[0]}")
    if not isinstance(demodulate, bool):
        raise TypeError(f"demodulate must be a bool, got {type(demodulate).__name__}")
    for name, v in (("up", up), ("down", down)):
        if isinstance(v, bool) or not isinstance(v, int) or v not in (1, 2):
            raise ValueError(f"{name} must be 1 or 2, got {v!r}")
    if up == 2 and down == 2:
        raise ValueError("up and down cannot both be 2")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if resample_filter is not None:
        check_filter(resample_filter, "resample_filter", device=x.device)


IMPLS = ("auto", "grouped", "shared")


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    demodulate: bool = True,
    up: int = 1,
    down: int = 1,
    resample_filter: torch.Tensor | None = None,
    eps: float = 1e-8,
    impl: str = "auto",
) -> torch.Tensor:
    """StyleGAN2's modulated (and demodulated) convolution; see the module docstring.

    impl: "grouped" convolves each sample with its own modulated weight (one grouped convolution);
    "shared" scales the input by the styles, convolves every sample with the one shared weight and
    scales the output by the demodulation coefficients (the same function, as NVlabs' non-fused
    path; ATen's plain convolution is far faster than its grouped one once channels are wide);
    "auto" picks "shared" on CPU (as fast at 32 channels, 3-12× faster at 512: bench/results) and
    "grouped" on CUDA, where the fused modulation kernel feeds it."""
    _check_args(x, weight, styles, demodulate, up, down, resample_filter, eps)
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    ops_mode.require_kernels("modulated_conv2d", x.device)
    if ops_mode.reference_mode():
        return modulated_conv2d_reference(
            x, weight, styles, demodulate=demodulate, up=up, down=down, resample_filter=resample_filter, eps=eps
        )
    if impl == "shared" or (impl == "auto" and x.device.type == "cpu"):
        return _shared_weight(x, weight, styles, demodulate, up, down, resample_filter, eps)
    n, in_ch, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    w_mod, _ = _ops.modulate_weight(weight, styles, demodulate, float(eps))  # [N, O, I, kh, kw]
    if up == 1 and down == 1:
        y = F.conv2d(
            x.reshape(1, n * in_ch, h, w),
            w_mod.reshape(n * out_ch, in_ch, kh, kw),
            padding=(kh // 2, kw // 2),
            groups=n,
        )
        return y.reshape(n, out_ch, y.shape[2], y.shape[3])
    f = default_resample_filter(x.device) if resample_filter is None else resample_filter
    fh, fw = filter_size(f)
    if up == 2:
        # conv_transpose2d's grouped weight is [N·I, O, kh, kw].
        w_t = w_mod.transpose(1, 2).reshape(n * in_ch, out_ch, kh, kw)
        y = F.conv_transpose2d(x.reshape(1, n * in_ch, h, w), w_t, stride=2, groups=n)
        y = y.reshape(n, out_ch, y.shape[2], y.shape[3])
        return upfirdn2d(
            y, f, padding=both_axes(transposed_conv_padding(fw, kw), transposed_conv_padding(fh, kh)), gain=4.0
        )
    x = upfirdn2d(x, f, padding=both_axes(strided_conv_padding(fw, kw), strided_conv_padding(fh, kh)))
    y = F.conv2d(
        x.reshape(1, n * in_ch, x.shape[2], x.shape[3]), w_mod.reshape(n * out_ch, in_ch, kh, kw), stride=2, groups=n
    )
    return y.reshape(n, out_ch, y.shape[2], y.shape[3])


def _shared_weight(x, weight, styles, demodulate, up, down, resample_filter, eps):
    # conv(x·s, W)·d equals conv(x, W·s·d) per sample because s scales input channels and d output
    # channels; every op here is ATen's or upfirdn2d, so gradients of any order come for free.
    out_ch, _, kh, kw = weight.shape
    x = x * styles.to(x.dtype)[:, :, None, None]
    if up == 1 and down == 1:
        y = F.conv2d(x, weight, padding=(kh // 2, kw // 2))
    else:
        f = default_resample_filter(x.device) if resample_filter is None else resample_filter
        fh, fw = filter_size(f)
        if up == 2:
            y = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            y = upfirdn2d(
                y, f, padding=both_axes(transposed_conv_padding(fw, kw), transposed_conv_padding(fh, kh)), gain=4.0
            )
        else:
            y = F.conv2d(
                upfirdn2d(x, f, padding=both_axes(strided_conv_padding(fw, kw), strided_conv_padding(fh, kh))),
                weight,
                stride=2,
            )
    if demodulate:
        # Σ_{i,k} (W_oik·s_ni)² = Σ_i s_ni²·Σ_k W_oik²: [N, I] @ [I, O], no [N, O, I, k, k] tensor.
        sq = styles.to(weight.dtype).square() @ weight.square().sum(dim=(2, 3)).t()
        y = y * torch.rsqrt(sq + eps).to(y.dtype)[:, :, None, None]
    return y


# ---- the plain-PyTorch reference ---------------------------------------------------------------------


def modulated_conv2d_reference(x, weight, styles, demodulate=True, up=1, down=1, resample_filter=None, eps=1e-8):
    """The plain-PyTorch reference (atu_ext.reference.modulated_conv2d): one sample at a time,
    modulate, demodulate, then an ordinary (transposed) convolution with the resampling done by
    upfirdn2d's reference."""
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
            y = upfirdn2d_reference(
                y, f2, padding=both_axes(transposed_conv_padding(fw, kw), transposed_conv_padding(fh, kh)), gain=4.0
            )
        elif down == 2:
            y = F.conv2d(
                upfirdn2d_reference(
                    xn, f2, padding=both_axes(strided_conv_padding(fw, kw), strided_conv_padding(fh, kh))
                ),
                w,
                stride=2,
            )
        else:
            y = F.conv2d(xn, w, padding=(kh // 2, kw // 2))
        outs.append(y)
    return torch.cat(outs)
