"""Moon, Cho, Kim's published MNIST feature results (AAAI 2024, Table 1: their latent method on a DCGAN
and a VAE, thick and slanted digits as the top 10% by Morpho-MNIST's measurements) and the table that
sets a measured-feature study beside them. The target feature ratio is the share of samples with the
feature (percent); FIDs compare as ratios to each side's original model (theirs is Inception's on
another generator, ours in the digit classifier's features unless an Inception file was given).
"""

from __future__ import annotations

from .columns import column_title, fid_space, ordered_columns

PAPER = "Moon, Cho, Kim (AAAI 2024), Table 1"
# feature -> model -> (ratio original, ratio unlearned, ratio oracle, FID original, unlearned, oracle); None: not given
RESULTS = {
    "thickness:top10": {
        "DCGAN": (9.10, 1.35, 1.28, 2.32, 3.35, 3.40),
        "VAE": (9.47, 0.97, 1.01, 23.36, 23.74, 24.03),
    },
    "slant:top10": {
        "DCGAN": (10.92, 1.25, 1.31, 2.24, 2.79, 2.85),
        "VAE": (9.22, 0.91, 1.08, None, None, None),
    },
}


def comparable(data: str, metrics: dict) -> bool:
    """Moon et al. measured MNIST's thick and slanted digits; other features or data are another setting."""
    feature = (metrics.get("feature") or {}).get("feature")
    return data.split(":", 1)[0] == "mnist" and feature in RESULTS


def _pct(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def _ratio(fid, original) -> str:
    return "–" if fid is None or not original else f"{fid / original:.2f}×"


def comparison_table(metrics: dict) -> str:
    """Moon et al.'s rows and ours: target feature ratio before → after, the oracle's ratio, FID ÷ the
    original model's for the unlearned model and for the oracle."""
    feature = metrics["feature"]["feature"]
    pre, oracle = metrics["pretrained"], metrics.get("retrained") or {}
    rows = [
        "| | Target ratio (%): original → unlearned | Oracle ratio (%) | FID ÷ original | Oracle FID ÷ original |",
        "|---|---:|---:|---:|---:|",
    ]
    for model, (r0, r1, ro, f0, f1, fo) in RESULTS[feature].items():
        rows.append(
            f"| Moon et al., latent method on their {model} | {_pct(r0)} → {_pct(r1)} | {_pct(ro)} "
            f"| {_ratio(f1, f0)} | {_ratio(fo, f0)} |"
        )
    oracle_cells = f"{_pct(oracle.get('feature_ratio'))} | "
    for name in ordered_columns(metrics):
        m = metrics["methods"][name]
        rows.append(
            f"| atu: {column_title(name)} | {_pct(pre.get('feature_ratio'))} → {_pct(m.get('feature_ratio'))} "
            f"| {oracle_cells}{_ratio(m.get('fid'), pre.get('fid'))} | {_ratio(oracle.get('fid'), pre.get('fid'))} |"
        )
    note = (
        f"Moon et al.'s numbers: {PAPER} (target ratio on 10,000 samples, FID on 50,000, Inception's). "
        "atu's oracle is the shipped generator retrained without the feature (– where none ships); its FID is "
        + fid_space(metrics, "in the digit classifier's feature space")
        + ", so compare the ratios."
    )
    return "\n".join(rows + ["", note])
