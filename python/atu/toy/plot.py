"""Before/after scatter plots of the toy's generators, drawn with PIL (no matplotlib in atu).

One square panel per generator, side by side, on the same axes: every mode's disc of the metric's
radius (grey for the desired modes, red for the undesired ones, so the eye can check "removed"
and "covered" directly), then the samples as small dots.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from ..util.atomic import write_with

PANEL = 320
MARGIN = 24
EXTENT = 2.8  # the axes span [-EXTENT, EXTENT]²: the circle of radius 2 and some air
DOT = (31, 80, 160)
DESIRED = (150, 150, 150)
UNDESIRED = (214, 39, 40)


def scatter_panels(
    panels: Mapping[str, torch.Tensor],
    centres: torch.Tensor,
    undesired: tuple[int, ...],
    radius: float,
    path: str | os.PathLike,
) -> Path:
    """panels {title: (n, 2) samples} in one PNG, written atomically."""
    from PIL import Image, ImageDraw

    width = len(panels) * (PANEL + MARGIN) + MARGIN
    img = Image.new("RGB", (width, PANEL + 2 * MARGIN), "white")
    draw = ImageDraw.Draw(img)
    scale = PANEL / (2 * EXTENT)
    for p, (title, samples) in enumerate(panels.items()):
        left, top = MARGIN + p * (PANEL + MARGIN), MARGIN

        def px(x: float, y: float) -> tuple[float, float]:
            return left + (x + EXTENT) * scale, top + (EXTENT - y) * scale  # y grows upwards

        draw.rectangle([left, top, left + PANEL, top + PANEL], outline=(0, 0, 0))
        draw.text((left, 6), title, fill=(0, 0, 0))
        for i, (cx, cy) in enumerate(centres.tolist()):
            x0, y0 = px(cx - radius, cy + radius)
            x1, y1 = px(cx + radius, cy - radius)
            bad = i in undesired
            draw.ellipse([x0, y0, x1, y1], outline=UNDESIRED if bad else DESIRED, width=2 if bad else 1)
            draw.text(px(cx * 1.22 - 0.08, cy * 1.22 + 0.1), str(i), fill=UNDESIRED if bad else DESIRED)
        for x, y in samples.tolist():
            if abs(x) < EXTENT and abs(y) < EXTENT:
                u, v = px(x, y)
                draw.point([(u, v), (u + 1, v), (u, v + 1), (u + 1, v + 1)], fill=DOT)
    return write_with(path, lambda tmp: img.save(tmp, format="PNG"))
