"""How many samples must a user mark? A study whose features remove the same thing with different
numbers of marked negatives (`atu demo --negatives 10 25 all`: one feature per count, each with its
own `negatives`) answers it: each method's PUL (the lower of both judges), FID and recall as ratios
to the pre-trained model's, as a function of the negatives marked. The study's report gets a table
per method and one chart per measure; marks.json holds the points.

A feature that marks every undesired sample of the bank counts as that many marks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..util.atomic import write_text
from ..util.plots import line_chart
from .columns import column_title, subject
from .tradeoff import judged_pul, judged_pul_std


def _ratio(value, reference) -> float | None:
    return None if value is None or not reference else value / reference


# measure: (its title, its value and its seed-to-seed spread from a method's and the pre-trained model's metrics)
MEASURES = {
    "pul": ("PUL, lower judge (%)", lambda m, pre: (judged_pul(m), judged_pul_std(m))),
    "fid": (
        "FID / pre-trained",
        lambda m, pre: (_ratio(m.get("fid"), pre.get("fid")), _ratio(m.get("fid_std"), pre.get("fid"))),
    ),
    "recall": (
        "recall / pre-trained",
        lambda m, pre: (_ratio(m.get("recall"), pre.get("recall")), _ratio(m.get("recall_std"), pre.get("recall"))),
    ),
}


def negatives_marked(metrics: dict) -> int:
    """How many undesired samples the feature's feedback marked: the first N, or all the bank held."""
    feedback = metrics["feedback"]
    return feedback["negatives"]["n"] if "negatives" in feedback else feedback["undesired"]


def marks_point(metrics: dict) -> dict:
    """One feature's point on the curve: the negatives marked and each method's measures."""
    pre = metrics["pretrained"]
    return {
        "negatives": negatives_marked(metrics),
        "all": "negatives" not in metrics["feedback"],
        "seeds": max((len(m.get("seeds", [])) for m in metrics["methods"].values()), default=0),
        "methods": {
            name: {key: dict(zip(("mean", "std"), value(m, pre))) for key, (_, value) in MEASURES.items()}
            for name, m in metrics["methods"].items()
        },
    }


def _short_name(metrics: dict) -> str:
    """What is removed, as a file name: class8, thickness_top10."""
    if metrics.get("class") is not None:
        return f"class{metrics['class']}"
    return metrics["feature"]["feature"].replace(":", "_")


def marks_curves(feature_metrics: Sequence[dict]) -> dict[str, dict]:
    """{short name: {"subject": what is removed, "points": by the negatives marked}} for each subject
    that more than one feature removes with different counts of marks (the others have no curve)."""
    curves: dict[str, dict] = {}
    for metrics in feature_metrics:
        curve = curves.setdefault(_short_name(metrics), {"subject": subject(metrics), "points": []})
        curve["points"].append(marks_point(metrics))
    return {
        name: {**curve, "points": sorted(curve["points"], key=lambda p: p["negatives"])}
        for name, curve in curves.items()
        if len({p["negatives"] for p in curve["points"]}) > 1
    }


def _cell(measure: dict | None) -> str:
    if measure is None or measure["mean"] is None:
        return "–"
    spread = f" ± {measure['std']:.2g}" if measure.get("std") else ""
    return f"{measure['mean']:.3g}{spread}"


def marks_tables(points: list[dict]) -> list[str]:
    """Markdown: one table per method, a row per count of marks (mean ± std over seeds)."""
    lines = []
    for name in _methods(points):
        lines += [
            f"{column_title(name)}:",
            "",
            "| negatives marked | " + " | ".join(title for title, _ in MEASURES.values()) + " |",
            "|---:|" + "---:|" * len(MEASURES),
        ]
        for p in points:
            if name in p["methods"]:
                marked = f"{p['negatives']} (all)" if p["all"] else str(p["negatives"])
                cells = [_cell(p["methods"][name].get(key)) for key in MEASURES]
                lines.append(f"| {marked} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def write_marks(out: Path, curves: dict[str, dict]) -> list[str]:
    """Writes out/marks.json and out/marks_<short name>_<measure>.png; returns the report's section
    (empty without a curve)."""
    if not curves:
        return []
    write_text(out / "marks.json", json.dumps(curves, indent=2))
    lines = ["## Negatives marked against quality", ""]
    for short, curve in curves.items():
        name, points = curve["subject"], curve["points"]
        counts = ", ".join(str(p["negatives"]) for p in points)
        lines += [f"### {name}: {counts} negatives marked", "", *marks_tables(points)]
        for key, (title, _) in MEASURES.items():
            series = {
                column_title(method): (
                    [p["negatives"] for p in points if _has(p, method, key)],
                    [p["methods"][method][key]["mean"] for p in points if _has(p, method, key)],
                )
                for method in _methods(points)
                if not method.startswith("extrapolation")  # three scales would crowd the chart; in the tables
            }
            chart = f"marks_{short}_{key}.png"
            try:
                line_chart(series, out / chart, title=f"{name}: {title}", x_label="negatives marked", x_log=True)
            except ValueError:  # nothing measured (e.g. no recall without FID features)
                continue
            lines.append(f"![{title}]({chart})")
        lines.append("")
    return lines


def _methods(points: list[dict]) -> list[str]:
    """Every model of the points, the methods before the extrapolation baseline's scales."""
    names = list(dict.fromkeys(n for p in points for n in p["methods"]))
    return sorted(names, key=lambda n: n.startswith("extrapolation"))


def _has(point: dict, method: str, key: str) -> bool:
    return point["methods"].get(method, {}).get(key, {}).get("mean") is not None
