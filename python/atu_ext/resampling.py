"""The geometry of StyleGAN2's ×2 resampling with an FIR filter of `taps` taps, in one place: the
op (modulated_conv.py), its plain-PyTorch reference (reference.py) and the model layers
(atu.models.layers) take their paddings from here, so the three cannot drift apart. Each function
returns the (before, after) padding of one axis, as upfirdn2d takes it per axis; the filter is
centred so that resampling keeps the image's alignment (rosinality's Blur and Upsample)."""

from __future__ import annotations

from collections.abc import Sequence


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


# ---- upfirdn2d's arguments, as the op and its reference read them -----------------------------------


def int_pair(value, name: str, *, minimum: int) -> list[int]:
    """An int or a sequence [x, y] of ints -> [x, y], each >= minimum."""
    items = [value] if isinstance(value, int) else value
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError(f"{name} must be an int or a sequence [x, y] of ints, got {type(value).__name__}")
    items = list(items)
    if len(items) == 1:
        items = items * 2
    if len(items) != 2:
        raise ValueError(f"{name} must be an int or [x, y], got {len(items)} values: {value!r}")
    for i, v in enumerate(items):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name}[{i}] must be an int, got {type(v).__name__}")
        if v < minimum:
            raise ValueError(f"{name}[{i}] must be >= {minimum}, got {v}")
    return items


def padding4(padding) -> list[int]:
    """int, [px, py] or [x0, x1, y0, y1] -> [x0, x1, y0, y1]."""
    items = [padding] if isinstance(padding, int) else padding
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError(f"padding must be an int, [px, py] or [x0, x1, y0, y1], got {type(padding).__name__}")
    items = list(items)
    for i, v in enumerate(items):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"padding[{i}] must be an int, got {type(v).__name__}")
    if len(items) == 1:
        items = items * 2
    if len(items) == 2:
        return [items[0], items[0], items[1], items[1]]
    if len(items) == 4:
        return items
    raise ValueError(f"padding must have 1, 2 or 4 values, got {len(items)}: {padding!r}")
