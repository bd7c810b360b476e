"""What a study recommends for a feature, and the PUL–FID trade-off of every method it ran.

The recommendation is the model edit with the best PUL at an FID within FID_BOUND times the
pre-trained model's and a recall at least RECALL_BOUND times the pre-trained model's; with a second
judge, a method's PUL is the lower of the two judges' (a model that only fools the labeller must not
win). The output filter is a reference, not an edit: it is plotted and reported beside, never
recommended.

Why recall: FID mixes fidelity and coverage, and an edit that draws fewer kinds of images well can
keep a modest FID while covering much less of the real data (EL2 on MNIST's 8 stays within the FID
bound while losing a third of its recall: docs/results.md). Recall (Kynkäänniemi et al. 2019)
measures the coverage alone; the bound asks an edit to keep nine tenths of what the pre-trained
model covered, a margin well above the seed-to-seed spread of recall.
"""

from __future__ import annotations

from pathlib import Path

from ..util.plots import scatter_chart
from . import paper
from .columns import subject
from .methods import BY_NAME
from .variants import base_method

FID_BOUND = 1.5
RECALL_BOUND = 0.9


def _is_edit(name: str) -> bool:
    """A model the study may recommend: any method's (or variant's) but a reference's (the filter)."""
    method = BY_NAME.get(base_method(name))
    return method is None or method.is_edit


def judged_pul(m: dict) -> float | None:
    """The PUL a method is ranked by: the lower of the labeller's and the second judge's (when counted)."""
    values = [m.get("pul"), *([m["pul_judge2"]] if "pul_judge2" in m else [])]
    return None if any(v is None for v in values) else min(values)


def judged_pul_std(m: dict) -> float | None:
    """The seed-to-seed spread of the PUL judged_pul ranks by: the lower judge's (None with one seed)."""
    if judged_pul(m) is not None and "pul_judge2" in m and m["pul_judge2"] < m["pul"]:
        return m.get("pul_judge2_std")
    return m.get("pul_std")


def keeps_recall(m: dict, pretrained: dict) -> bool | None:
    """Recall at least RECALL_BOUND × the pre-trained model's; None where either was not measured."""
    if m.get("recall") is None or not pretrained.get("recall"):
        return None
    return m["recall"] >= RECALL_BOUND * pretrained["recall"]


def recommendation(metrics: dict) -> tuple[str | None, str]:
    """(the method recommended, one line saying why), or (None, why none qualifies)."""
    pre = metrics["pretrained"]
    limit = FID_BOUND * pre["fid"]
    judges = "both judges" if any("pul_judge2" in m for m in metrics["methods"].values()) else "the labeller"
    within = {
        name: m
        for name, m in metrics["methods"].items()
        if _is_edit(name) and m["fid"] is not None and m["fid"] <= limit and judged_pul(m) is not None
    }
    if not within:
        return None, (
            f"no method kept FID within {FID_BOUND:g}× the pre-trained model's ({limit:.2f}); none is recommended"
        )
    covering = {name: m for name, m in within.items() if keeps_recall(m, pre) is not False}
    rank = lambda name: (judged_pul(within[name]), -within[name]["fid"])  # noqa: E731
    if not covering:
        best = max(within, key=rank)
        return None, (
            f"no method within {FID_BOUND:g}× the pre-trained FID kept recall at {RECALL_BOUND:g}× the "
            f"pre-trained model's ({RECALL_BOUND * pre['recall']:.1f}%); none is recommended (the best PUL "
            f"within the FID bound, {best}, has recall {within[best]['recall']:.1f}%)"
        )
    best = max(covering, key=rank)
    m = within[best]
    recall = (
        f" and recall {m['recall']:.1f}% ≥ {RECALL_BOUND:g}× the pre-trained model's"
        if keeps_recall(m, pre)
        else " (recall not measured)"
    )
    return best, (
        f"**{best}**: the best PUL under {judges} ({judged_pul(m):.1f}%, the lower of the judges' when "
        f"two count) among the methods with FID within {FID_BOUND:g}× the pre-trained model's "
        f"({m['fid']:.2f} ≤ {limit:.2f}){recall}"
    )


def tradeoff_points(metrics: dict) -> dict[str, tuple[float, float]]:
    """{method: (FID ÷ pre-trained FID, judged PUL)} for every method with both numbers."""
    pre = metrics["pretrained"]["fid"]
    return {
        name: (m["fid"] / pre, judged_pul(m))
        for name, m in metrics["methods"].items()
        if m["fid"] is not None and judged_pul(m) is not None and pre
    }


def write_tradeoff_plot(metrics: dict, data: str, path: Path) -> Path | None:
    """tradeoff.png: a dot per method (with its recall ratio where it is below RECALL_BOUND) and, when
    the setting is the paper's (MNIST, its classes), the paper's EL2 as a square and its
    extrapolation's range as a box; None when no method has a PUL."""
    points = tradeoff_points(metrics)
    if not points:
        return None
    pre = metrics["pretrained"]
    # a method below the recall bound says so beside its dot (FID alone does not show lost coverage);
    # "x" for times: the plot font may lack "×"
    points = {
        (
            f"{name} (recall {metrics['methods'][name]['recall'] / pre['recall']:.2f}x)"
            if keeps_recall(metrics["methods"][name], pre) is False
            else name
        ): xy
        for name, xy in points.items()
    }
    marked, areas = {}, {}
    if paper.comparable(data, metrics["class"]):
        p = paper.RESULTS[metrics["class"]]["el2"]
        marked["paper EL2"] = (p[1] / paper.PRETRAINED_FID, p[0])
        fid_lo, fid_hi = paper.EXTRAPOLATION_FID
        areas["paper extrapolation"] = (
            (fid_lo / paper.PRETRAINED_FID, fid_hi / paper.PRETRAINED_FID),
            paper.EXTRAPOLATION_PUL,
        )
    # PIL's built-in font has no "÷"; a log axis keeps 0.7× to 20× readable around 1×
    return scatter_chart(
        points,
        path,
        title=f"{subject(metrics)}: PUL against FID / pre-trained FID",
        x_label="FID / pre-trained FID (log scale)",
        y_label="PUL (%)",
        marked=marked,
        marked_areas=areas,
        x_limit=FID_BOUND,
        x_log=True,
        size=(800, 520),
    )
