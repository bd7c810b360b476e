"""The report's PNG charts (atu/util/plots.py): each point where the axes put it, in its series'
colour, and nothing written for nothing to plot."""

import math

import pytest
from PIL import Image

from atu.util.plots import (
    DOT_RADIUS,
    GRID,
    MARGINS,
    PALETTE,
    line_chart,
    linear_ticks,
    log_ticks,
    place_labels,
    scatter_chart,
)


def _pixel(x, y, x_range, y_range, size):
    """Where a data point lands: the panel spans the image inside MARGINS, linearly."""
    left, right, top, bottom = MARGINS
    (x0, x1), (y0, y1), (w, h) = x_range, y_range, size
    return (
        round(left + (x - x0) / (x1 - x0) * (w - left - right)),
        round(h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom)),
    )


def test_a_scatter_puts_each_dot_at_its_coordinates_in_its_colour(tmp_path):
    points = {"a": (1.0, 50.0), "b": (2.0, 90.0)}
    path = scatter_chart(points, tmp_path / "s.png", marked={"paper": (1.5, 70.0)}, x_limit=2.5, size=(400, 300))
    img = Image.open(path).convert("RGB")
    assert img.size == (400, 300)
    # the axes span the points, the marked one and the limit, padded by 5% each side
    x_range, y_range = (1.0 - 0.075, 2.5 + 0.075), (50.0 - 2.0, 90.0 + 2.0)
    for i, (x, y) in enumerate(points.values()):
        assert img.getpixel(_pixel(x, y, x_range, y_range, img.size)) == PALETTE[i]
    assert img.getpixel((5, 5)) == (255, 255, 255)
    with pytest.raises(ValueError, match="nothing to plot"):
        scatter_chart({"nan": (float("nan"), 1.0)}, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_a_line_chart_draws_each_series_through_its_points(tmp_path):
    path = line_chart({"loss": ([0, 10], [1.0, 3.0]), "other": ([5], [2.0])}, tmp_path / "l.png", size=(400, 300))
    img = Image.open(path).convert("RGB")
    mid = _pixel(5, 2.0, (0, 10), (1.0, 3.0), img.size)
    assert img.getpixel(mid) in (PALETTE[0], PALETTE[1])  # the line's middle, under the single dot
    assert img.getpixel(_pixel(2.5, 1.5, (0, 10), (1.0, 3.0), img.size)) == PALETTE[0]
    with pytest.raises(ValueError, match="nothing to plot"):
        line_chart({"empty": ([], [])}, tmp_path / "none.png")


def test_a_log_axis_places_points_by_their_logarithm(tmp_path):
    import math

    points = {"a": (1.0, 10.0), "b": (100.0, 20.0)}
    img = Image.open(scatter_chart(points, tmp_path / "log.png", x_log=True, size=(400, 300))).convert("RGB")
    x_range = (0 - 0.1, 2 + 0.1)  # log10 of 1 and 100, padded by 5%
    for i, (x, y) in enumerate(points.values()):
        assert img.getpixel(_pixel(math.log10(x), y, x_range, (10 - 0.5, 20 + 0.5), img.size)) == PALETTE[i]
    # a line chart's log axis: x = 0 cannot be placed and is left out; 10 lands midway between 1 and 100
    series = {"a": ([0, 1, 100], [5.0, 10.0, 30.0])}
    line = Image.open(line_chart(series, tmp_path / "line.png", x_log=True, size=(400, 300))).convert("RGB")
    assert line.getpixel(_pixel(1.0, 20.0, (0, 2), (10.0, 30.0), line.size)) == PALETTE[0]
    with pytest.raises(ValueError, match="nothing to plot"):
        line_chart({"a": ([0], [1.0])}, tmp_path / "none.png", x_log=True)


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_of_a_dense_cluster_and_of_dots_at_the_edge_overlap_nothing_and_stay_inside():
    bounds = (0, 0, 400, 300)
    dots = {
        "redact": (100, 40),
        "redact@redact=0.3": (106, 36),
        "el2+redact": (112, 44),
        "el2": (104, 50),
        "at the right edge": (396, 150),
        "at the top": (200, 2),
        "alone": (250, 250),
    }
    sizes = {name: (6 * len(name), 10) for name in dots}
    boxes = place_labels(dots, sizes, bounds)
    assert set(boxes) == set(dots)
    dot_boxes = [(x - DOT_RADIUS, y - DOT_RADIUS, x + DOT_RADIUS, y + DOT_RADIUS) for x, y in dots.values()]
    for name, box in boxes.items():
        assert (box[2] - box[0], box[3] - box[1]) == sizes[name]
        assert bounds[0] <= box[0] and box[2] <= bounds[2] and bounds[1] <= box[1] and box[3] <= bounds[3], name
        assert not any(_overlaps(box, d) for d in dot_boxes), name
        assert not any(_overlaps(box, other) for n, other in boxes.items() if n != name), name
    x, y = dots["alone"]  # a dot with room keeps its label right beside it
    assert boxes["alone"][0] == x + DOT_RADIUS + 2 and boxes["alone"][1] == y - 5
    assert boxes["at the right edge"][2] <= dots["at the right edge"][0]  # flipped to the left


def test_ticks_are_round_values_inside_the_range():
    assert linear_ticks(78.7, 100) == [80, 85, 90, 95, 100]
    assert linear_ticks(0, 1600) == [0, 500, 1000, 1500]
    assert linear_ticks(-0.3, 0.7) == [-0.2, 0, 0.2, 0.4, 0.6]
    assert linear_ticks(5, 5) == [5]
    for lo, hi in [(78.7, 100), (0.013, 0.5), (-7, 1e5), (1.0, 1.3)]:
        ticks = linear_ticks(lo, hi)
        assert 1 <= len(ticks) <= 7 and all(lo <= t <= hi for t in ticks)
    assert log_ticks(0.45, 7.84) == [0.5, 1, 2, 5]
    assert log_ticks(0.7, 20) == [1, 2, 5, 10, 20]
    assert log_ticks(1.22, 9.4) == [1.5, 2, 3, 5, 7]  # 2 and 5 alone are too few
    assert log_ticks(0.01, 1e6) == [0.01, 1, 100, 1e4, 1e6]  # every other decade of nine
    assert log_ticks(1.0, 1.3) == linear_ticks(1.0, 1.3)  # no two of 1, 2, 5 x 10^k inside
    assert log_ticks(10 ** math.log10(10), 10 ** math.log10(50))[-1] == 50  # an end a rounding short of 50


def test_the_grid_runs_through_the_ticks(tmp_path):
    img = Image.open(line_chart({"a": ([0, 1600], [78.7, 78.7])}, tmp_path / "g.png", size=(400, 300))).convert("RGB")
    y_range = (78.7 - 0.5, 78.7 + 0.5)  # one y value: the range is widened by 0.5 each side
    for x in (500, 1000, 1500):
        _, top_row = _pixel(x, y_range[1], (0, 1600), y_range, img.size)
        assert img.getpixel((_pixel(x, 78.5, (0, 1600), y_range, img.size)[0], top_row + 5)) == GRID
    assert img.getpixel((_pixel(250, 78.5, (0, 1600), y_range, img.size)[0], top_row + 5)) == (255, 255, 255)


def test_a_marked_area_is_a_box_over_its_ranges_and_widens_the_axes(tmp_path):
    points = {"a": (1.0, 50.0)}
    img = Image.open(
        scatter_chart(
            points, tmp_path / "area.png", marked_areas={"range": ((2.0, 3.0), (60.0, 70.0))}, size=(400, 300)
        )
    ).convert("RGB")
    x_range, y_range = (1.0 - 0.1, 3.0 + 0.1), (50.0 - 1.0, 70.0 + 1.0)  # the box's corners set the far ends
    assert img.getpixel(_pixel(1.0, 50.0, x_range, y_range, img.size)) == PALETTE[0]
    left, bottom_edge = _pixel(2.0, 60.0, x_range, y_range, img.size)
    right, top_edge = _pixel(3.0, 70.0, x_range, y_range, img.size)
    mid_x, mid_y = (left + right) // 2, (top_edge + bottom_edge) // 2
    near = lambda x, y: {img.getpixel((x + dx, y + dy)) for dx in (-1, 0, 1) for dy in (-1, 0, 1)}  # noqa: E731
    for x, y in ((left, mid_y), (right, mid_y), (mid_x, top_edge), (mid_x, bottom_edge)):
        assert (0, 0, 0) in near(x, y), (x, y)  # the outline, within a pixel
    assert img.getpixel((mid_x, mid_y)) in ((255, 255, 255), GRID)  # hollow


def test_the_tradeoff_plot_marks_the_papers_el2_and_extrapolation_range_on_mnist_only(tmp_path, monkeypatch):
    from atu.study import paper, tradeoff

    seen = {}
    monkeypatch.setattr(tradeoff, "scatter_chart", lambda points, path, **kw: seen.update(kw, points=points) or path)
    metrics = {
        "class": 8,
        "pretrained": {"fid": 40.0},
        "methods": {"el2": {"pul": 90.0, "pul_judge2": 88.0, "fid": 52.0}, "filter": {"pul": 100.0, "fid": 20.0}},
    }
    tradeoff.write_tradeoff_plot(metrics, "mnist", tmp_path / "t.png")
    assert seen["points"] == {"el2": (1.3, 88.0), "filter": (0.5, 100.0)}  # FID ratio, the lower judge's PUL
    el2 = paper.RESULTS[8]["el2"]
    assert seen["marked"] == {"paper EL2": (el2[1] / paper.PRETRAINED_FID, el2[0])}
    (x_lo, x_hi), (y_lo, y_hi) = seen["marked_areas"]["paper extrapolation"]
    assert (x_lo * paper.PRETRAINED_FID, x_hi * paper.PRETRAINED_FID) == pytest.approx(paper.EXTRAPOLATION_FID)
    assert (y_lo, y_hi) == paper.EXTRAPOLATION_PUL and seen["x_limit"] == tradeoff.FID_BOUND
    tradeoff.write_tradeoff_plot(metrics, "digits", tmp_path / "t.png")
    assert seen["marked"] == {} and seen["marked_areas"] == {}
    metrics["pretrained"]["recall"] = 50.0
    metrics["methods"]["el2"]["recall"], metrics["methods"]["filter"]["recall"] = 40.0, 46.0
    tradeoff.write_tradeoff_plot(metrics, "digits", tmp_path / "t.png")
    assert seen["points"] == {"el2 (recall 0.80x)": (1.3, 88.0), "filter": (0.5, 100.0)}
