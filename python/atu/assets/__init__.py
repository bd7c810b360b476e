"""Files that ship inside the atu package (trained models); MODELS.md says how each was made."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ShippedSet:
    """The models that ship for one data set: the generator (g_ema and d), the judge that stands in for
    the user (feedback, PUL, FID's features), the second judge of the latent attack (the same recipe
    with seed 1), and generators retrained without one class each (Ret-FID's references)."""

    data: str  # the data spec the models were trained on
    generator: str
    classifier: str
    second_classifier: str

    def retrained(self, excluded_class: int) -> Path | None:
        """The generator trained without `excluded_class`, or None when none ships for that class: Ret-FID
        is then reported as missing, never estimated otherwise (MODELS.md: the command for any class)."""
        candidate = _HERE / self.generator.replace(".safetensors", f"_no{int(excluded_class)}.safetensors")
        return candidate if candidate.is_file() else None

    def without_feature(self, feature: str) -> Path | None:
        """The generator trained without a measured feature (its oracle, e.g. mnist32_no_thickness_top10
        for "thickness:top10"), or None when none ships."""
        candidate = _HERE / self.generator.replace(".safetensors", f"_no_{_slug(feature)}.safetensors")
        return candidate if candidate.is_file() else None

    def feature_judge(self, feature: str) -> Path | None:
        """The classifier trained to tell a measured feature from the rest (its second judge, e.g.
        mnist_thickness_top10_judge), or None when none ships."""
        candidate = _HERE / self.classifier.replace("_classifier.safetensors", f"_{_slug(feature)}_judge.safetensors")
        return candidate if candidate.is_file() else None

    def second_judge(self) -> Path | None:
        candidate = _HERE / self.second_classifier
        return candidate if candidate.is_file() else None

    def missing(self) -> list[str]:
        """The required files this install lacks (the retrained generators are optional)."""
        return [name for name in (self.generator, self.classifier) if not (_HERE / name).is_file()]


def _slug(feature: str) -> str:
    return feature.replace(":", "_").replace(".", "p")


SHIPPED = {
    "digits": ShippedSet(
        "digits", "digits32.safetensors", "digits_classifier.safetensors", "digits_classifier_seed1.safetensors"
    ),
    "mnist": ShippedSet(
        "mnist", "mnist32.safetensors", "mnist_classifier.safetensors", "mnist_classifier_seed1.safetensors"
    ),
}

# The set whose models a command uses when none is named: the demo's data, and the generator and
# classifier `atu feedback` and `atu label` default to.
DEFAULT_SET = "mnist"


def default_set() -> ShippedSet:
    return SHIPPED[DEFAULT_SET]
