"""The geometry of StyleGAN2's ×2 resampling with an FIR filter of `taps` taps, in one place: the
op (modulated_conv.py), its plain-PyTorch reference (reference.py) and the model layers
(atu.models.layers) take their paddings from here, so the three cannot drift apart. Each function
returns the (before, after) padding of one axis, as upfirdn2d takes it per axis; the filter is
centred so that resampling keeps the image's alignment (rosinality's Blur and Upsample)."""

from __future__ import annotations


def transposed_conv_padding(taps: int, kernel: int, factor: int = 2) -> tuple[int, int]:
    """The filter after a stride-`factor` transposed convolution with a `kernel`-wide weight."""
    p = (taps - factor) - (kernel - 1)
    return (p + 1) // 2 + factor - 1, p // 2 + 1


def strided_conv_padding(taps: int, kernel: int, factor: int = 2) -> tuple[int, int]:
    """The filter before a stride-`factor` convolution with a `kernel`-wide weight."""
    p = (taps - factor) + (kernel - 1)
    return (p + 1) // 2, p // 2


def upsample_padding(taps: int, factor: int = 2) -> tuple[int, int]:
    """The filter of a plain ×`factor` upsampling (upfirdn2d with up=factor; ToRGB's skip path)."""
    p = taps - factor
    return (p + 1) // 2 + factor - 1, p // 2


def both_axes(x: tuple[int, int], y: tuple[int, int]) -> list[int]:
    """upfirdn2d's padding argument [x0, x1, y0, y1] from the per-axis pairs."""
    return [x[0], x[1], y[0], y[1]]
