"""A study folder's layout, in one place: the runner writes it, the evaluation and the report read it.

OUT/config.json               the resolved configuration and provenance (resume checks it)
OUT/bank.safetensors          the feedback bank, drawn once for every feature
OUT/report.md                 every feature's table
OUT/<feature>/feedback.safetensors, metrics.json, attack.json, report.md, grids/, curves/
OUT/<feature>/seed_<s>/adapt/model_<j>/     stage 1
OUT/<feature>/seed_<s>/<method>/            stage 2 (or the latent method), a training run folder
OUT/<feature>/seed_<s>/extrapolation/       the baseline's models and strip.png
"""

from __future__ import annotations

from pathlib import Path

from ..gan.run import MODEL_FILE
from ..stages.extrapolate import scale_name

CONFIG_FILE = "config.json"
BANK_FILE = "bank.safetensors"
FEEDBACK_FILE = "feedback.safetensors"
METRICS_FILE = "metrics.json"
ATTACK_FILE = "attack.json"


def seed_dir(fdir: Path, seed: int) -> Path:
    return fdir / f"seed_{seed}"


def adapt_dir(sdir: Path) -> Path:
    return sdir / "adapt"


def extrapolation_dir(sdir: Path) -> Path:
    return sdir / "extrapolation"


def extrapolation_file(sdir: Path, s: float) -> Path:
    return extrapolation_dir(sdir) / f"{scale_name(s)}.safetensors"


def method_model_file(fdir: Path, seed: int, method: str) -> Path:
    """The model a method's run of one seed ends with."""
    return seed_dir(fdir, seed) / method / MODEL_FILE
