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
