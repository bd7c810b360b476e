"""The Adapt-then-Unlearn paper's published MNIST results (Tiwary et al., TMLR 2025, Table 1; EL2
and the extrapolation baseline, three runs each) and the table that sets a study's numbers beside
them. FIDs are compared as ratios to each side's pre-trained model: the paper's FID is Inception's,
atu's is in the judge's feature space unless an Inception file was given, so absolute values do
not compare, while "how many times the pre-trained model's FID" does.
"""

from __future__ import annotations

from .columns import column_title, fid_space, ordered_columns
from .methods import paper_el2

PAPER = "Tiwary et al. (TMLR 2025), Table 1"
PRETRAINED_FID = 5.4
# class -> method -> (PUL %, FID, Ret-FID)
RESULTS = {1: {"el2": (99.32, 9.65, 6.29)}, 4: {"el2": (96.23, 10.24, 5.80)}, 8: {"el2": (95.22, 8.89, 5.68)}}
# over its scales and the three classes
EXTRAPOLATION_PUL = (90.9, 95.1)
EXTRAPOLATION_FID = (17.9, 45.8)


def comparable(data: str, undesired_class: int) -> bool:
    """The paper measured MNIST (classes 1, 4, 8); atu's digits or image folders are another setting."""
    return data.split(":", 1)[0] == "mnist" and undesired_class in RESULTS


def _ratio(fid, pretrained) -> str:
    return "–" if fid is None or not pretrained else f"{fid / pretrained:.2f}×"


def _num(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def comparison_table(metrics: dict) -> str:
    """Paper and atu side by side for the metrics' class: PUL, FID with its ratio to the pre-trained
    model's, Ret-FID; a row per method either side has (the paper's rows: EL2 and extrapolation)."""
    c = metrics["class"]
    ours, pre = metrics["methods"], metrics["pretrained"]
    paper = RESULTS[c]
    rows = [
        "| | Paper PUL (%) | Paper FID | Paper FID ÷ pre-trained | Paper Ret-FID "
        "| atu PUL (%) | atu FID | atu FID ÷ pre-trained | atu Ret-FID |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| Pre-trained | – | {PRETRAINED_FID:.2f} | 1.00× | – | – | {_num(pre['fid'])} | 1.00× "
        f"| {_num(pre.get('ret_fid'))} |",
    ]
    paper_el2_row = paper_el2(ours) or "el2"

    # every model of ours in the results table's order, and the paper's EL2 row even where ours is missing
    names = [n for n in ours if not n.startswith("extrapolation")]
    names += [paper_el2_row] if paper_el2_row not in ours else []
    for method in ordered_columns({"methods": dict.fromkeys(names)}):
        p = paper["el2"] if method == paper_el2_row else None
        o, title = ours.get(method, {}), column_title(method)
        paper_cells = f"{p[0]:.2f} | {p[1]:.2f} | {_ratio(p[1], PRETRAINED_FID)} | {p[2]:.2f}" if p else "– | – | – | –"
        rows.append(
            f"| {title} | {paper_cells} | {_num(o.get('pul'))} | {_num(o.get('fid'))} "
            f"| {_ratio(o.get('fid'), pre['fid'])} | {_num(o.get('ret_fid'))} |"
        )
    extrapolations = {n: m for n, m in ours.items() if n.startswith("extrapolation")}
    lo, hi = EXTRAPOLATION_FID
    paper_ex = (
        f"{EXTRAPOLATION_PUL[0]}–{EXTRAPOLATION_PUL[1]} | {lo}–{hi} "
        f"| {lo / PRETRAINED_FID:.1f}–{hi / PRETRAINED_FID:.1f}× | –"
    )
    if extrapolations:
        for i, (name, m) in enumerate(extrapolations.items()):
            rows.append(
                f"| {name.replace('extrapolation', 'Extrapolation')} | {paper_ex if i == 0 else '″ | ″ | ″ | ″'} "
                f"| {_num(m.get('pul'))} | {_num(m.get('fid'))} | {_ratio(m.get('fid'), pre['fid'])} "
                f"| {_num(m.get('ret_fid'))} |"
            )
    else:
        rows.append(f"| Extrapolation | {paper_ex} | – | – | – | – |")
    note = (
        f"The paper's numbers: {PAPER}, three runs (EL2; extrapolation as the range over its scales and "
        f"classes 1, 4, 8). Its FID is Inception's against MNIST without the class; atu's FID is "
        + fid_space(metrics, "in the judge's feature space")
        + ", so compare the ratios."
    )
    return "\n".join(rows + ["", note])
