"""Image grids as PNG (sample sheets, before/after comparisons), written atomically."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from .atomic import write_with


def to_uint8(images: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """[N, C, H, W] floats in value_range → [N, H, W, C] uint8 (values outside are clipped)."""
    lo, hi = value_range
    x = ((images.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1)
    return (x * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def grid(
    images: torch.Tensor, nrow: int | None = None, padding: int = 2, value_range: tuple[float, float] = (-1.0, 1.0)
) -> np.ndarray:
    """One [H', W', C] uint8 image of the batch laid out nrow per row (default: a square)."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be [N, 1 or 3, H, W], got {tuple(images.shape)}")
    tiles = to_uint8(images, value_range)
    n, h, w, c = tiles.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    sheet = np.zeros((rows * (h + padding) + padding, nrow * (w + padding) + padding, c), np.uint8)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        sheet[y : y + h, x : x + w] = tile
    return sheet


def save_grid(
    images: torch.Tensor,
    path: str | os.PathLike,
    nrow: int | None = None,
    scale: int = 1,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> Path:
    return save_png(grid(images, nrow, value_range=value_range), path, scale=scale)


def save_png(pixels: np.ndarray, path: str | os.PathLike, scale: int = 1) -> Path:
    """One [H, W, C] uint8 image (C 1 or 3) as a PNG, enlarged `scale` times without smoothing."""
    from PIL import Image

    img = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return write_with(path, lambda tmp: img.save(tmp, format="PNG"))
