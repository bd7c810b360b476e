"""Line charts (loss curves in reports) and labelled scatter charts (a study's PUL–FID trade-off) as
PNG, drawn with PIL.

matplotlib would be the usual choice, but it is a heavy dependency for a handful of charts; PIL
ships with atu already. The charts are deliberately plain: one panel, axes with round-valued
ticks and light grid lines, one colour per series; a scatter's labels are placed where they cover
no other label or dot. The numbers themselves are in the runs' log.jsonl and metrics.json files; the charts are for
the eye.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .atomic import write_with

PALETTE = (
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
)


def _finite(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = [(float(x), float(y)) for x, y in zip(xs, ys) if math.isfinite(float(x)) and math.isfinite(float(y))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _label(value: float) -> str:
    """Whole numbers in full (1500, not 1.5e+03), others to three significant digits."""
    return str(int(value)) if value == int(value) and abs(value) < 1e6 else f"{value:.3g}"


MARGINS = (64, 16, 28, 40)  # left, right, top, bottom (pixels around the panel)


GRID = (225, 225, 225)
FEW_POINTS = 20  # a line chart's series this short is drawn with a dot at each point


def linear_ticks(lo: float, hi: float, most: int = 7) -> list[float]:
    """Round values within [lo, hi] a step of 1, 2 or 5 × 10^k apart: the smallest such step that
    gives at most `most` ticks."""
    if not hi > lo:
        return [lo]
    exponent = math.floor(math.log10((hi - lo) / most))
    for factor in (1, 2, 5, 10):
        step = factor * 10.0**exponent
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        if last - first + 1 <= most:
            return [round(i * step, 12) for i in range(first, last + 1)]
    raise AssertionError("unreachable: a step of 10^(k+1) leaves at most `most` ticks")


def log_ticks(lo: float, hi: float, most: int = 7) -> list[float]:
    """Ticks for a log axis over [lo, hi] (values, not logarithms): 1, 2, 5 × 10^k; within a decade
    or so, where those are fewer than three, 1, 1.5, 2, 3, 5, 7 × 10^k; over many decades the powers
    of ten (every n-th); where fewer than two fall inside (a narrow range), linear ticks."""
    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)

    def inside(mantissas) -> list[float]:
        # with a little room: the ends often come back from log10 and 10** a rounding short of a tick
        low, high = lo * (1 - 1e-9), hi * (1 + 1e-9)
        return [m * 10.0**k for k in range(first - 1, last + 1) for m in mantissas if low <= m * 10.0**k <= high]

    ticks = inside((1, 2, 5))
    if len(ticks) > most:
        every = math.ceil((last - first + 1) / most)
        return [10.0**k for k in range(first, last + 1, every)]
    finer = inside((1, 1.5, 2, 3, 5, 7))
    if len(ticks) < 3 and 3 <= len(finer) <= most:
        return finer
    return ticks if len(ticks) >= 2 else linear_ticks(lo, hi, most)


def _canvas(
    size: tuple[int, int],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    title: str,
    x_label: str,
    x_log: bool = False,
):
    """A white image with the panel's frame, grid, ticks, title and x label drawn; returns (image,
    its ImageDraw, the data → pixel mapping). With `x_log` the x range is in log10 units and the
    ticks are labelled with the values themselves."""
    from PIL import Image, ImageDraw

    (width, height), (left, right, top, bottom) = size, MARGINS
    (x0, x1), (y0, y1) = x_range, y_range

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (
            left + (x - x0) / (x1 - x0) * (width - left - right),
            height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom),
        )

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    for y in linear_ticks(y0, y1):
        _, py = to_px(x0, y)
        draw.line([(left, py), (width - right, py)], fill=GRID)
        draw.line([(left - 4, py), (left, py)], fill=(0, 0, 0))
        text = _label(y)
        draw.text((left - 6 - _text_size(draw, text)[0], py - 5), text, fill=(0, 0, 0))
    x_ticks = (
        [(math.log10(v), v) for v in log_ticks(10**x0, 10**x1)] if x_log else [(v, v) for v in linear_ticks(x0, x1)]
    )
    for x, value in x_ticks:
        px, _ = to_px(x, y0)
        draw.line([(px, top), (px, height - bottom)], fill=GRID)
        draw.line([(px, height - bottom), (px, height - bottom + 4)], fill=(0, 0, 0))
        text = _label(value)
        draw.text((px - _text_size(draw, text)[0] / 2, height - bottom + 6), text, fill=(0, 0, 0))
    draw.rectangle([left, top, width - right, height - bottom], outline=(0, 0, 0))
    draw.text((left, 6), title, fill=(0, 0, 0))
    draw.text(((width - len(x_label) * 6) // 2, height - 16), x_label, fill=(0, 0, 0))
    return img, draw, to_px


def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    *,
    title: str = "",
    x_label: str = "step",
    x_log: bool = False,
    size: tuple[int, int] = (640, 360),
) -> Path:
    """One chart of every series {name: (xs, ys)} (non-finite points dropped; with `x_log` a
    logarithmic x axis, x > 0), written atomically. A series of few points gets a dot at each."""
    cleaned = {name: _finite(*xy) for name, xy in series.items()}
    if x_log:
        cleaned = {
            name: ([math.log10(x) for x in xs if x > 0], [y for x, y in zip(xs, ys) if x > 0])
            for name, (xs, ys) in cleaned.items()
        }
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
    img, draw, to_px = _canvas(size, (x0, x1), (y0, y1), title, x_label, x_log)
    width, right, top = size[0], MARGINS[1], MARGINS[2]
    for i, (name, (sx, sy)) in enumerate(cleaned.items()):
        colour = PALETTE[i % len(PALETTE)]
        points = [to_px(x, y) for x, y in zip(sx, sy)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        if len(points) <= FEW_POINTS:
            for px, py in points:
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        ly = top + 6 + 14 * i
        draw.line([(width - right - 120, ly + 5), (width - right - 100, ly + 5)], fill=colour, width=3)
        draw.text((width - right - 96, ly), name, fill=colour)
    return write_with(path, lambda tmp: img.save(tmp, format="PNG"))


def scatter_chart(
    points: Mapping[str, tuple[float, float]],
    path: str | os.PathLike,
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    marked: Mapping[str, tuple[float, float]] | None = None,
    marked_areas: Mapping[str, tuple[tuple[float, float], tuple[float, float]]] | None = None,
    x_limit: float | None = None,
    x_log: bool = False,
    size: tuple[int, int] = (640, 420),
) -> Path:
    """One labelled dot per point {name: (x, y)}, hollow squares for `marked` (e.g. published
    numbers) and hollow labelled boxes for `marked_areas` {name: ((x_lo, x_hi), (y_lo, y_hi))} (a
    published range); a dashed vertical line at `x_limit` (a bound on x); with `x_log` a logarithmic
    x axis (x > 0; what spans 0.7 to 20 stays readable near 1); written atomically."""

    def usable(p) -> bool:
        return all(math.isfinite(float(v)) for v in p) and (not x_log or p[0] > 0)

    scale = (lambda x: math.log10(x)) if x_log else (lambda x: x)  # noqa: E731
    own = {n: (scale(p[0]), p[1]) for n, p in points.items() if usable(p)}
    ref = {n: (scale(p[0]), p[1]) for n, p in (marked or {}).items() if usable(p)}
    areas = {
        n: ((scale(xa), scale(xb)), ys)
        for n, ((xa, xb), ys) in (marked_areas or {}).items()
        if usable((xa, ys[0])) and usable((xb, ys[1]))
    }
    x_limit = scale(x_limit) if x_limit is not None and (not x_log or x_limit > 0) else None
    if not own:
        raise ValueError(f"{path}: nothing to plot (no point with finite coordinates)")
    xs = [p[0] for p in (*own.values(), *ref.values())] + ([x_limit] if x_limit is not None else [])
    xs += [x for xr, _ in areas.values() for x in xr]
    ys = [p[1] for p in (*own.values(), *ref.values())] + [y for _, yr in areas.values() for y in yr]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad_x, pad_y = 0.05 * (x1 - x0 or 1), 0.05 * (y1 - y0 or 1)
    x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y
    img, draw, to_px = _canvas(size, (x0, x1), (y0, y1), title, x_label, x_log=x_log)
    top, bottom, height = MARGINS[2], MARGINS[3], size[1]
    if y_label:  # above the axis's tick labels, left of the title
        draw.text((4, 6), y_label[:9], fill=(0, 0, 0))
    if x_limit is not None:
        px, _ = to_px(x_limit, y0)
        for y in range(top, height - bottom, 8):
            draw.line([(px, y), (px, min(y + 4, height - bottom))], fill=(127, 127, 127))
        # labelled at the top of its line, inside the panel, where no tick label can fall on it
        draw.text((px + 3, top + 2), _label(10**x_limit if x_log else x_limit), fill=(127, 127, 127))
    for name, ((xa, xb), (ya, yb)) in areas.items():  # under the dots; the label inside its top-left corner
        (ax0, ay1), (ax1, ay0) = to_px(xa, ya), to_px(xb, yb)
        draw.rectangle([ax0, ay0, ax1, ay1], outline=(0, 0, 0), width=1)
        draw.text((ax0 + 3, ay0 + 2), name, fill=(0, 0, 0))
    dots = {name: to_px(x, y) for name, (x, y) in (*own.items(), *ref.items())}
    colours = {**{name: PALETTE[i % len(PALETTE)] for i, name in enumerate(own)}, **{name: (0, 0, 0) for name in ref}}
    for name, (px, py) in dots.items():
        if name in ref:
            draw.rectangle([px - 5, py - 5, px + 5, py + 5], outline=(0, 0, 0), width=2)
        else:
            draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colours[name])
    sizes = {name: _text_size(draw, name) for name in dots}
    for name, box in place_labels(
        dots, sizes, (MARGINS[0] + 1, MARGINS[2] + 1, size[0] - MARGINS[1] - 1, size[1] - MARGINS[3] - 1)
    ).items():
        (px, py), (lx0, ly0, lx1, ly1) = dots[name], box
        nearest = (min(max(px, lx0), lx1), min(max(py, ly0), ly1))
        if math.dist((px, py), nearest) > 2 * DOT_RADIUS + 4:  # a label moved away gets a leader line
            draw.line([(px, py), nearest], fill=colours[name])
        draw.text((lx0, ly0), name, fill=colours[name])
    return write_with(path, lambda tmp: img.save(tmp, format="PNG"))


def _text_size(draw, text: str) -> tuple[int, int]:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text)
    return x1 - x0, y1 - y0


DOT_RADIUS = 5


def place_labels(
    dots: Mapping[str, tuple[float, float]],
    sizes: Mapping[str, tuple[int, int]],
    bounds: tuple[float, float, float, float],
) -> dict[str, tuple[float, float, float, float]]:
    """A box (x0, y0, x1, y1) for each dot's label of the given (width, height): beside its dot where
    that overlaps no other label or dot and stays within `bounds`, else the nearest free place
    further out (greedy, dots from left to right; the last resort is beside the dot, overlapping)."""
    bx0, by0, bx1, by1 = bounds
    dot_boxes = [(x - DOT_RADIUS, y - DOT_RADIUS, x + DOT_RADIUS, y + DOT_RADIUS) for x, y in dots.values()]
    placed: dict[str, tuple[float, float, float, float]] = {}

    def free(box) -> bool:
        return (
            bx0 <= box[0]
            and box[2] <= bx1
            and by0 <= box[1]
            and box[3] <= by1
            and not any(_overlap(box, other) for other in (*dot_boxes, *placed.values()))
        )

    for name, (x, y) in sorted(dots.items(), key=lambda item: item[1]):
        w, h = sizes[name]
        gap = DOT_RADIUS + 2
        candidates = [
            (x + gap + r, y - h / 2 + dy) for r in (0, 24, 48, 96) for dy in (0, -h - 2, h + 2, -2 * h - 4, 2 * h + 4)
        ]
        candidates += [(x - gap - w - r, y - h / 2 + dy) for r in (0, 24, 48, 96) for dy in (0, -h - 2, h + 2)]
        candidates += [(x - w / 2, y - gap - h), (x - w / 2, y + gap)]
        boxes = [(cx, cy, cx + w, cy + h) for cx, cy in candidates]
        fallback = (min(max(x + gap, bx0), bx1 - w), min(max(y - h / 2, by0), by1 - h))
        placed[name] = next((b for b in boxes if free(b)), (*fallback, fallback[0] + w, fallback[1] + h))
    return placed


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
