"""What a study reads once: the pre-trained generator, each feature's classifier and retrained model,
the judges and the FID network, loaded and checked together before the first sample is drawn (a bad
file or class fails the study before any work), then handed to every step that uses them; and the
trained models of a feature, loaded once for its evaluation, attack and report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from .. import checkpoint as ckpt
from ..classifiers import load_classifier
from ..classifiers.classes import resolve_class
from ..eval.extractors import FeatureExtractor, load_inception
from ..stages.inputs import load_pretrained
from ..util.errors import InputError
from .config import StudyConfig
from .layout import extrapolation_file, method_model_file, seed_dir
from .methods import FILTER_METHOD


class StudyError(InputError):
    """A study folder or input that cannot be (re)used as asked."""


@dataclass
class StudyInputs:
    generator: nn.Module  # the pre-trained g_ema, on the CPU
    classifiers: dict[str, nn.Module]  # feature name -> its classifier (the labeller and first judge)
    classes: dict[str, int]  # feature name -> the undesired class's index
    retrained: dict[str, nn.Module | None]  # feature name -> the model retrained without it, if any
    evaluate_judge: nn.Module | None = None
    attack_judge: nn.Module | None = None
    inception: FeatureExtractor | None = None  # on the study's device


def load_inputs(cfg: StudyConfig, device: str = "cpu") -> StudyInputs:
    """Loads and cross-checks every input file of the study; StudyError names the first bad one."""
    G, _ = load_pretrained(cfg.generator)  # both stages need its d as well: checked here
    judges = {}
    for key, path in (("attack.judge", cfg.attack.judge), ("evaluate.judge", cfg.evaluate.judge)):
        if path is not None:
            try:
                judges[key] = load_classifier(path)
            except (ValueError, OSError) as err:
                raise StudyError(f"{key} {path}: {err}") from err
    inputs = StudyInputs(
        generator=G,
        classifiers={},
        classes={},
        retrained={},
        evaluate_judge=judges.get("evaluate.judge"),
        attack_judge=judges.get("attack.judge"),
    )
    for feature in cfg.features:
        try:
            classifier = load_classifier(feature.classifier)
            c = resolve_class(classifier, feature.undesired)
            for key, judge in judges.items():
                if resolve_class(judge, feature.undesired) != c:
                    raise ValueError(f"{key} numbers class {feature.undesired!r} differently from the classifier")
        except (ValueError, OSError) as err:
            raise StudyError(f"feature {feature.name!r}: {err}") from err
        inputs.classifiers[feature.name], inputs.classes[feature.name] = classifier, c
        retrained = ckpt.load(feature.retrained).generator().eval() if feature.retrained else None
        if retrained is not None and retrained.size != G.size:
            raise StudyError(
                f"feature {feature.name!r}: retrained {feature.retrained} makes {retrained.size} px "
                f"images, the generator {G.size} px"
            )
        inputs.retrained[feature.name] = retrained
    if cfg.evaluate.inception is not None:
        try:
            inputs.inception = load_inception(
                cfg.evaluate.inception, resolution=G.size, device=device, option="evaluate.inception"
            )
        except ValueError as err:
            raise StudyError(str(err)) from err
    return inputs


def extrapolation_name(s: float) -> str:
    return f"extrapolation s={s:g}"


def model_files(cfg: StudyConfig, fdir: Path) -> dict[str, dict[int, Path]]:
    """{column name: {seed: model file}} for every method and extrapolation scale, in report order:
    extrapolation first, then the stage-2 methods (the layout of the paper's tables)."""
    files: dict[str, dict[int, Path]] = {}
    for s in cfg.extrapolation_scales:
        files[extrapolation_name(s)] = {seed: extrapolation_file(seed_dir(fdir, seed), s) for seed in cfg.seeds}
    for method in cfg.methods:
        if method != FILTER_METHOD:  # the filter has no model file (it is built over the pre-trained model)
            files[method] = {seed: method_model_file(fdir, seed, method) for seed in cfg.seeds}
    return files


def load_trained(cfg: StudyConfig, fdir: Path, device: str) -> dict[str, dict[int, nn.Module]]:
    """{column name: {seed: g_ema in eval mode on `device`}} of every trained model of a feature."""
    return {
        name: {seed: ckpt.load(path).generator("g_ema", device=device).eval() for seed, path in per_seed.items()}
        for name, per_seed in model_files(cfg, fdir).items()
    }
