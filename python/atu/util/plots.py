"""Line charts as PNG (loss curves in reports), drawn with PIL.

matplotlib would be the usual choice, but it is a heavy dependency for a handful of training
curves; PIL ships with atu already. The chart is deliberately plain: one panel, shared step axis,
a y axis with min/max ticks, a legend, one colour per series. The numbers themselves are in the
runs' log.jsonl files; the chart is for the eye.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, Sequence

from .atomic import write_with

PALETTE = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127))


def _finite(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = [(float(x), float(y)) for x, y in zip(xs, ys) if math.isfinite(float(x)) and math.isfinite(float(y))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _label(value: float) -> str:
    return f"{value:.3g}"


MARGINS = (64, 16, 28, 40)      # left, right, top, bottom (pixels around the panel)


def _canvas(size: tuple[int, int], x_range: tuple[float, float], y_range: tuple[float, float], title: str,
            x_label: str, x_tick=None):
    """A white image with the panel's frame, title, axis-end labels and x label drawn; returns
    (image, its ImageDraw, the data → pixel mapping). `x_tick` turns an x value into its label's
    value (e.g. 10**x on a log axis)."""
    from PIL import Image, ImageDraw

    (width, height), (left, right, top, bottom) = size, MARGINS
    (x0, x1), (y0, y1) = x_range, y_range

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (width - left - right),
                height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom))

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([left, top, width - right, height - bottom], outline=(0, 0, 0))
    draw.text((left, 6), title, fill=(0, 0, 0))
    draw.text((4, top), _label(y1), fill=(0, 0, 0))
    draw.text((4, height - bottom - 10), _label(y0), fill=(0, 0, 0))
    tick = x_tick or (lambda v: v)
    draw.text((left, height - bottom + 4), _label(tick(x0)), fill=(0, 0, 0))
    draw.text((width - right - 40, height - bottom + 4), _label(tick(x1)), fill=(0, 0, 0))
    draw.text(((width - len(x_label) * 6) // 2, height - 16), x_label, fill=(0, 0, 0))
    return img, draw, to_px


def line_chart(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | os.PathLike, *,
               title: str = "", x_label: str = "step", size: tuple[int, int] = (640, 360)) -> Path:
    """One chart of every series {name: (xs, ys)} (non-finite points dropped), written atomically."""
    cleaned = {name: _finite(*xy) for name, xy in series.items()}
    cleaned = {name: xy for name, xy in cleaned.items() if xy[0]}
    if not cleaned:
        raise ValueError(f"{path}: nothing to plot (no series with finite points)")
    xs = [x for xy in cleaned.values() for x in xy[0]]
    ys = [y for xy in cleaned.values() for y in xy[1]]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    img, draw, to_px = _canvas(size, (x0, x1), (y0, y1), title, x_label)
    width, right, top = size[0], MARGINS[1], MARGINS[2]
    for i, (name, (sx, sy)) in enumerate(cleaned.items()):
        colour = PALETTE[i % len(PALETTE)]
        points = [to_px(x, y) for x, y in zip(sx, sy)]
        if len(points) == 1:
            px, py = points[0]
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
        else:
            draw.line(points, fill=colour, width=2)
        ly = top + 6 + 14 * i
        draw.line([(width - right - 120, ly + 5), (width - right - 100, ly + 5)], fill=colour, width=3)
        draw.text((width - right - 96, ly), name, fill=colour)
    return write_with(path, lambda tmp: img.save(tmp, format="PNG"))


def scatter_chart(points: Mapping[str, tuple[float, float]], path: str | os.PathLike, *, title: str = "",
                  x_label: str = "", y_label: str = "", marked: Mapping[str, tuple[float, float]] | None = None,
                  x_limit: float | None = None, x_log: bool = False, size: tuple[int, int] = (640, 420)) -> Path:
    """One labelled dot per point {name: (x, y)}, and hollow squares for `marked` (e.g. published
    numbers); a dashed vertical line at `x_limit` (a bound on x); with `x_log` a logarithmic x axis
    (x > 0; what spans 0.7 to 20 stays readable near 1); written atomically."""
    def usable(p) -> bool:
        return all(math.isfinite(float(v)) for v in p) and (not x_log or p[0] > 0)

    scale = (lambda x: math.log10(x)) if x_log else (lambda x: x)                   # noqa: E731
    own = {n: (scale(p[0]), p[1]) for n, p in points.items() if usable(p)}
    ref = {n: (scale(p[0]), p[1]) for n, p in (marked or {}).items() if usable(p)}
    x_limit = scale(x_limit) if x_limit is not None and (not x_log or x_limit > 0) else None
    if not own:
        raise ValueError(f"{path}: nothing to plot (no point with finite coordinates)")
    xs = [p[0] for p in (*own.values(), *ref.values())] + ([x_limit] if x_limit is not None else [])
    ys = [p[1] for p in (*own.values(), *ref.values())]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad_x, pad_y = 0.05 * (x1 - x0 or 1), 0.05 * (y1 - y0 or 1)
    x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y
    img, draw, to_px = _canvas(size, (x0, x1), (y0, y1), title, x_label,
                               x_tick=(lambda v: 10 ** v) if x_log else None)
    top, bottom, height = MARGINS[2], MARGINS[3], size[1]
    draw.text((4, (top + height - bottom) // 2), y_label[:9], fill=(0, 0, 0))
    if x_limit is not None:
        px, _ = to_px(x_limit, y0)
        for y in range(top, height - bottom, 8):
            draw.line([(px, y), (px, min(y + 4, height - bottom))], fill=(127, 127, 127))
    for i, (name, (x, y)) in enumerate(own.items()):
        colour = PALETTE[i % len(PALETTE)]
        px, py = to_px(x, y)
        draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
        draw.text((px + 6, py - 6), name, fill=colour)
    for name, (x, y) in ref.items():
        px, py = to_px(x, y)
        draw.rectangle([px - 5, py - 5, px + 5, py + 5], outline=(0, 0, 0), width=2)
        draw.text((px + 7, py + 2), name, fill=(0, 0, 0))
    return write_with(path, lambda tmp: img.save(tmp, format="PNG"))
