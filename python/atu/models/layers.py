"""StyleGAN2's building blocks, named and shaped as in rosinality/stylegan2-pytorch's state dicts.

Equalized learning rate: every weight is stored as N(0, 1) (divided by lr_mul) and scaled at run
time by 1/sqrt(fan_in) (times lr_mul), so Adam sees every layer at the same scale. Blur, upsample
and downsample filters are buffers, as in that layout, and the forward passes use the values stored
there (a checkpoint's filters are what runs).

The convolutions compute in their input's dtype, casting their float32 parameters at use (mixed
precision: atu.models.precision); the layers with a `conv_clamp` attribute clamp their activations
to ±conv_clamp when it is set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from atu_ext.resampling import strided_conv_padding, transposed_conv_padding, upsample_padding

from . import ops


def make_kernel(taps: Sequence[float]) -> torch.Tensor:
    """The 2-D filter k ⊗ k of 1-D taps, normalised to sum 1."""
    k = torch.tensor(list(taps), dtype=torch.float32)
    k2 = k[:, None] * k[None, :]
    return k2 / k2.sum()


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate; `activation="lrelu"` fuses bias + leaky ReLU (gain √2)."""

    def __init__(
        self, in_dim: int, out_dim: int, *, bias_init: float = 0.0, lr_mul: float = 1.0, activation: str | None = None
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return ops.bias_act(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul, act=self.activation)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    def __init__(
        self, in_ch: int, out_ch: int, kernel_size: int, *, stride: int = 1, padding: int = 0, bias: bool = True
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size * kernel_size)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.conv2d(x, (self.weight * self.scale).to(x.dtype), bias, stride=self.stride, padding=self.padding)


class FusedLeakyReLU(nn.Module):
    """bias + leaky ReLU (slope 0.2) × √2 [clamped to ±conv_clamp], one atu_ext.bias_act call."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.conv_clamp: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.bias_act(x, self.bias.to(x.dtype), act="lrelu", clamp=self.conv_clamp)


class Blur(nn.Module):
    """FIR filtering with padding (pad0, pad1) on both axes; the filter is the `kernel` buffer."""

    def __init__(self, taps: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        # An upsampling blur keeps the energy of the inserted zeros: rosinality stores k·factor².
        self.register_buffer("kernel", make_kernel(taps) * upsample_factor**2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p0, p1 = self.pad
        return ops.upfirdn2d(x, self.kernel, padding=[p0, p1, p0, p1])


class Upsample(nn.Module):
    """×2 upsampling with the FIR filter (ToRGB's skip path)."""

    def __init__(self, taps: Sequence[float], factor: int = 2):
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * factor**2)
        self.pad = upsample_padding(len(taps), factor)
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p0, p1 = self.pad
        return ops.upfirdn2d(x, self.kernel, up=self.factor, padding=[p0, p1, p0, p1])


class ModulatedConv2d(nn.Module):
    """Style-modulated (and demodulated) convolution, optionally ×2 up- or downsampling."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        style_dim: int,
        *,
        demodulate: bool = True,
        upsample: bool = False,
        downsample: bool = False,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
    ):
        super().__init__()
        if upsample and downsample:
            raise ValueError("a modulated convolution cannot both upsample and downsample")
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        # The blur is kept for its filter (the `blur.kernel` of rosinality's layout): ops.modulated_conv2d
        # resamples with it, taking the padding from atu_ext.resampling as this Blur does.
        if upsample:
            self.blur = Blur(blur_kernel, pad=transposed_conv_padding(len(blur_kernel), kernel_size), upsample_factor=2)
        elif downsample:
            self.blur = Blur(blur_kernel, pad=strided_conv_padding(len(blur_kernel), kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size * kernel_size)
        self.demodulate, self.upsample, self.downsample = demodulate, upsample, downsample

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        styles = self.modulation(style).to(x.dtype)
        weight = (self.weight[0] * self.scale).to(x.dtype)
        if self.upsample:
            # atu_ext applies the factor² gain itself and wants the unit-sum filter.
            return ops.modulated_conv2d(
                x, weight, styles, demodulate=self.demodulate, up=2, resample_filter=self.blur.kernel / 4
            )
        if self.downsample:
            return ops.modulated_conv2d(
                x, weight, styles, demodulate=self.demodulate, down=2, resample_filter=self.blur.kernel
            )
        return ops.modulated_conv2d(x, weight, styles, demodulate=self.demodulate)


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            n, _, h, w = image.shape
            noise = image.new_empty(n, 1, h, w).normal_()
        return image + (self.weight * noise).to(image.dtype)


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.input.expand(latent.shape[0], -1, -1, -1)


class StyledConv(nn.Module):
    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        style_dim: int,
        *,
        upsample: bool = False,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
        demodulate: bool = True,
    ):
        super().__init__()
        self.conv = ModulatedConv2d(
            in_ch, out_ch, kernel_size, style_dim, demodulate=demodulate, upsample=upsample, blur_kernel=blur_kernel
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise=noise))


class ToRGB(nn.Module):
    def __init__(
        self, in_ch: int, style_dim: int, *, upsample: bool = True, blur_kernel: Sequence[float] = (1, 3, 3, 1)
    ):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.conv_clamp: float | None = None

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        """The image so far (skip, upsampled) plus this resolution's, summed in the parameters' dtype."""
        out = self.conv(x, style) + self.bias.to(x.dtype)
        if self.conv_clamp is not None:
            out = out.clamp(-self.conv_clamp, self.conv_clamp)
        out = out.to(self.bias.dtype)
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConvLayer(nn.Sequential):
    """[Blur] → EqualConv2d → [bias + leaky ReLU]; a Sequential so that names read "0.weight", "1.bias"."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        *,
        downsample: bool = False,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
        bias: bool = True,
        activate: bool = True,
    ):
        layers: list[nn.Module] = []
        if downsample:
            layers.append(Blur(blur_kernel, pad=strided_conv_padding(len(blur_kernel), kernel_size)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(
            EqualConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=bias and not activate)
        )
        if activate:
            layers.append(FusedLeakyReLU(out_ch))
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, blur_kernel=blur_kernel, bias=False, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) * (1 / math.sqrt(2))
