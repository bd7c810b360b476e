"""Files that ship inside the atu package (trained models); MODELS.md says how each was made."""
from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the shipped assets (everything in this folder except code and docs)."""
    return sorted(p.name for p in _HERE.iterdir() if p.is_file() and p.suffix not in (".py", ".md", ".pyc"))


def path(name: str) -> Path:
    """The path of a shipped asset, e.g. path("digits_classifier.safetensors")."""
    found = _HERE / name
    if Path(name).name != name or not found.is_file():
        raise FileNotFoundError(f"atu ships no asset {name!r}; available: {', '.join(available()) or 'none'}")
    return found


DIGITS_GENERATOR = "digits32.safetensors"
DIGITS_CLASSIFIER = "digits_classifier.safetensors"
# The same recipe trained with seed 1: the independent judge of the latent attack (`atu attack`).
DIGITS_CLASSIFIER_SEED1 = "digits_classifier_seed1.safetensors"


def second_digits_classifier() -> Path | None:
    """The shipped digits classifier trained with seed 1, or None if this install lacks it."""
    candidate = _HERE / DIGITS_CLASSIFIER_SEED1
    return candidate if candidate.is_file() else None


def retrained_digits_generator(excluded_class: int) -> Path | None:
    """The shipped digits generator trained without `excluded_class` (the Ret-FID reference), or None
    when none ships for that class: Ret-FID is then reported as missing, never estimated otherwise.
    MODELS.md gives the one command that trains one for any class."""
    candidate = _HERE / f"digits32_no{int(excluded_class)}.safetensors"
    return candidate if candidate.is_file() else None
