"""The models of a study as its tables name and order them (the titles and order are the methods
table's, study/methods.py; report.py, paper.py and tradeoff.py read them from here)."""

from __future__ import annotations

from .methods import COLUMN_ORDER, TABLE
from .variants import VARIANT_MARK, base_method

TITLES = {**{m.name: m.title for m in TABLE}, "pretrained": "Pre-trained"}


def column_title(name: str) -> str:
    """A model's name in tables: the method's title, a variant's with its one change, e.g. "EL2 (gamma=24000)"."""
    method, _, change = name.partition(VARIANT_MARK)
    if change and method in TITLES:
        return f"{TITLES[method]} ({change})"
    return TITLES.get(name, name.replace("extrapolation", "Extrapolation"))


def ordered_columns(metrics: dict) -> list[str]:
    """The models in table order: the extrapolations, then the methods in COLUMN_ORDER, each followed by
    its METHOD@KEY=VALUE variants in the study's order; every model measured gets a column."""
    names = [n for n in metrics["methods"] if not n.startswith("extrapolation")]
    extrapolations = [n for n in metrics["methods"] if n.startswith("extrapolation")]
    ordered = [
        n for m in COLUMN_ORDER for n in [m, *(v for v in names if v != m and base_method(v) == m)] if n in names
    ]
    return extrapolations + ordered + [n for n in names if n not in ordered]


def subject(metrics: dict) -> str:
    """What a feature's tables remove: "class 8", or a measured feature and its threshold (from
    metrics.json's "feature" record, or a summary's "feature_judge")."""
    if metrics.get("class") is not None:
        return f"class {metrics['class']}"
    judged = metrics.get("feature_judge") or metrics["feature"]
    return f"{judged['feature']}, judged by its measurement, threshold {judged['threshold']:.3g}"


def fid_space(metrics: dict, default: str) -> str:
    """How a comparison names the space atu's FID was computed in: Inception's, or `default`."""
    return "Inception's too" if metrics.get("fid_features", {}).get("kind") == "inception" else default
