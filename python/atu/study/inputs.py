"""What a study reads once: the pre-trained generator, each feature's classifier and retrained model,
the judges and the FID network, loaded and checked together before the first sample is drawn (a bad
file or class fails the study before any work), then handed to every step that uses them; and the
trained models of a feature, loaded once for its evaluation, attack and report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from .. import checkpoint as ckpt
from ..classifiers import load_classifier
from ..classifiers.classes import resolve_class
from ..classifiers.judges import ClassJudge, Judge, MeasureJudge
from ..eval.extractors import FeatureExtractor, load_inception
from ..stages.inputs import load_pretrained
from ..util.errors import InputError
from .config import StudyConfig
from .features import Feature
from .layout import extrapolation_file, method_model_file, seed_dir
from .methods import FILTER_METHOD


class StudyError(InputError):
    """A study folder or input that cannot be (re)used as asked."""


@dataclass
class StudyInputs:
    generator: nn.Module  # the pre-trained g_ema, on the CPU
    classifiers: dict[str, nn.Module]  # feature name -> its classifier (labeller of a class, FID's features)
    judges: dict[str, Judge]  # feature name -> what marks the feedback and counts PUL
    second_judges: dict[str, Judge | None]  # feature name -> the judge that counts PUL again, if any
    retrained: dict[str, nn.Module | None]  # feature name -> the model retrained without it, if any
    attack_judge: nn.Module | None = None
    discriminator: nn.Module | None = None  # the pre-trained D, on the CPU (what the stages' memory depends on)
    inception: FeatureExtractor | None = None  # on the study's device
    # what the evaluation measured of the pre-trained model, the real data and the retrained model,
    # kept for the features that share them (study/evaluation.pre_trained_side -> evaluate's `shared`)
    measured: dict[str, dict] = field(default_factory=dict)

    def undesired_class(self, feature: str) -> int | None:
        """The feature's class index; None for a measured feature."""
        judge = self.judges[feature]
        return judge.undesired if isinstance(judge, ClassJudge) else None


def load_inputs(cfg: StudyConfig, device: str = "cpu") -> StudyInputs:
    """Loads and cross-checks every input file of the study; StudyError names the first bad one."""
    G, D = load_pretrained(cfg.generator)  # both stages need its d as well: checked here
    shared = {}
    for key, path in (("attack.judge", cfg.attack.judge), ("evaluate.judge", cfg.evaluate.judge)):
        if path is not None:
            try:
                shared[key] = load_classifier(path)
            except (ValueError, OSError) as err:
                raise StudyError(f"{key} {path}: {err}") from err
    inputs = StudyInputs(G, {}, {}, {}, {}, attack_judge=shared.get("attack.judge"), discriminator=D)
    for feature in cfg.features:
        try:
            _load_feature(cfg, feature, G, shared, inputs)
        except (ValueError, OSError) as err:
            raise StudyError(f"feature {feature.name!r}: {err}") from err
    if cfg.evaluate.inception is not None:
        try:
            inputs.inception = load_inception(
                cfg.evaluate.inception, resolution=G.size, device=device, option="evaluate.inception"
            )
        except ValueError as err:
            raise StudyError(str(err)) from err
    return inputs


def _load_feature(cfg: StudyConfig, feature: Feature, G: nn.Module, shared: dict, inputs: StudyInputs) -> None:
    """A feature's classifier, judges and retrained model into `inputs` (ValueError if one does not fit)."""
    classifier = load_classifier(feature.classifier)
    own_judge = load_classifier(feature.judge) if feature.judge else None
    if feature.measured is not None:
        c, judge = None, MeasureJudge.over(feature.measured, cfg.data, G.size)
        # a feature's own judge names the feature as a class: `atu train-classifier --feature` does
        second = ClassJudge.of(own_judge, feature.measure, file=feature.judge) if own_judge is not None else None
    else:
        c = resolve_class(classifier, feature.undesired)
        for key, other in shared.items():
            if resolve_class(other, feature.undesired) != c:
                raise ValueError(f"{key} numbers class {feature.undesired!r} differently from the classifier")
        judge = ClassJudge(classifier, c, file=feature.classifier)
        if own_judge is not None:
            second = ClassJudge.of(own_judge, feature.undesired, file=feature.judge)
        elif "evaluate.judge" in shared:
            second = ClassJudge(shared["evaluate.judge"], c, file=cfg.evaluate.judge)
        else:
            second = None
    retrained = ckpt.load(feature.retrained).generator().eval() if feature.retrained else None
    if retrained is not None and retrained.size != G.size:
        raise ValueError(f"retrained {feature.retrained} makes {retrained.size} px images, the generator {G.size} px")
    inputs.classifiers[feature.name] = classifier
    inputs.judges[feature.name], inputs.second_judges[feature.name] = judge, second
    inputs.retrained[feature.name] = retrained


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


# A feature's trained generators: {column name: {seed: g_ema}}
Trained = dict[str, dict[int, nn.Module]]


def load_trained(cfg: StudyConfig, fdir: Path, device: str) -> Trained:
    """{column name: {seed: g_ema in eval mode on `device`}} of every trained model of a feature."""
    return {
        name: {seed: ckpt.load(path).generator("g_ema", device=device).eval() for seed, path in per_seed.items()}
        for name, per_seed in model_files(cfg, fdir).items()
    }
