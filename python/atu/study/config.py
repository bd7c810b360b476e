"""A study's configuration: which generator, which features to remove, which methods, which seeds,
and every stage's hyper-parameters, read from a YAML (or JSON) file or built in code (`atu demo`).

Everything is checked when the configuration is read, before any work: unknown keys (a typo must
not silently fall back to a default), missing files, bad values; every error names the key.
Relative paths in a file are relative to that file's folder.

    generator: pretrained.pt            # atu .safetensors or rosinality/ATU .pt with g_ema and d
    classifier: classifier.safetensors  # default judge of every feature (a feature may name its own)
    data: mnist:/data/mnist             # real data for FID (digits | mnist | mnist:DIR | folder:DIR)
    attributes_file: null               # CelebA attributes, for folder data
    features:                           # one sub-study each
      - {name: no8, undesired: 8, retrained: mnist_no8.pt}
      - {name: thin, measure: thickness:top10,      # a measured feature (digits): MEASURE:topP|bottomP,
         judge: thickness_judge.safetensors,       # judged by the measurement, and again by `judge`
         retrained: mnist_no_thick.pt}            # (a classifier whose class is the feature's name)
      - {name: no8_n25, undesired: 8, negatives: 25}  # its own feedback.negatives: features that remove
                                        # the same class with different counts give the report's
                                        # negatives-marked-against-quality tables and charts
    methods: [el2, il2, nl2, adv_only, latent]   # stage 2 variants, and `latent`: latent feature
                                        # unlearning (Moon et al.), which needs no stage 1; the
                                        # extrapolation baseline runs whenever it has scales; also
                                        # redact, redact_labeller, el2+redact, il2+redact, nl2+redact
                                        # (atu/stages/redaction.py) and filter (rejection sampling, trains nothing);
                                        # METHOD@KEY=VALUE: a stage-2 method with one unlearn setting
                                        # changed, its own run (e.g. redact@redact=0.03, el2@gamma=3000)
    seeds: [0, 1, 2]
    feedback: {n: 5000, seed: 0, truncation: 1.0, batch_size: 64,      # batch_size: at most, per pass
               threshold: null,         # null: the classifier's predicted class marks a sample
                                        # undesired; P: its probability of the class is >= P
               negatives: null}         # N: mark only the first N undesired samples found (the
                                        # bank's desired samples stay the positives); null: all
    adapt: {k: 2, steps: 2000, lam: 5.0e8, fisher_samples: 32, fisher_layers: conv, fisher_output: logit,
            train: {batch_size: 16, lr: 0.002, ...}}
    unlearn: {steps: 1000, alpha: 2.0, gamma: 10.0, reduction: tensor_mean, train: {...},
              decoupled: false,         # true: the repulsion as its own step after Adam's (atu unlearn --decoupled)
              redact: 0.1, redact_source: negatives,   # the redaction methods' weight and (for +redact) source
              methods: {il2: {gamma: 0.5}, nl2: {gamma: 2.0}}}     # per-method overrides
    latent: {steps: 1000, alpha: 3.0, lr: 5.0e-4, batch_size: 16}   # the `latent` method (atu latent-unlearn)
    attack: {judge: classifier_seed1.safetensors, n: 500, steps: 50, step_size: 0.02, radius: 0.1, seed: 0}
                                        # PGD on the latent against the pre-trained, EL2
                                        # (el2_paper, else el2) and latent models, judged by a
                                        # second classifier; no judge = no attack
    extrapolation: {scales: [0.5, 1.0, 1.5]}
    evaluate: {n_bank: 15000, n_fid: 5000, seed: 0,
               inception: null,         # Inception-v3 TorchScript file for FID (default: classifier features)
               judge: null}             # a second classifier: every PUL and feature ratio counted by it too
    schedule: {log_every: 50, sample_every: 500, checkpoint_every: 500,
               log_to: []}              # tensorboard and/or wandb: every run's log also goes there
    device: auto                        # auto = cuda when available

A study folder's config.json (the resolved configuration, every default written out, with its
provenance) is also a configuration: `atu run OLD/config.json --out NEW` runs the same study again.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..eval.attack import AttackSettings
from ..feedback.labelling import check_threshold
from ..gan.run import Schedule
from ..latent.run import LatentConfig
from ..stages.adapt import AdaptConfig
from ..stages.unlearn import UnlearnConfig
from ..util import settings
from ..util.settings import setting
from ..util.validate import MAX_COUNT, MAX_SEED, positive_int, seed_value
from .checks import ConfigError, brief, file_setting, mapping, only, settings_section, without_seed
from .features import Feature, data_spec, read_features
from .methods import ATU_METHODS, METHODS
from .variants import VARIANT_MARK, base_method, from_resolved_unlearn, unlearn_settings


def _at_least_two(name: str, value) -> int:
    """A count of at least 2: a bank of one sample has no contrast, a covariance needs two."""
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_COUNT:
        raise ValueError(f"{name} must be an integer from 2 to {MAX_COUNT:,}, got {value!r}")
    return value


def _truncation(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def _threshold(name: str, value) -> None:
    check_threshold(value)


def _negatives(name: str, value) -> None:
    if value is not None:
        positive_int(name, value)


@dataclass
class FeedbackSpec:
    """How a study draws and labels each feature's feedback bank (`atu feedback`'s settings)."""

    n: int = setting(5000, help="samples in the feedback bank", check=_at_least_two)
    seed: int = setting(0, help="seeds the bank's latents and noise", check=seed_value)
    truncation: float = setting(1.0, help="truncation ψ in (0, 1]; 1 = none", check=_truncation)
    batch_size: int = setting(64, help="samples per generator / classifier call", check=positive_int)
    threshold: float | None = setting(
        None, help="None: the predicted class decides; P: p(class) >= P (atu feedback --threshold)", check=_threshold
    )
    negatives: int | None = setting(
        None,
        help="None: every undesired sample of the bank is marked; N: only the first N (a user who marks N "
        "and stops), the bank's desired samples stay the positives",
        check=_negatives,
    )

    def __post_init__(self):
        settings.check_fields(self)


@dataclass
class EvaluateSpec:
    """How a study evaluates (`atu evaluate`'s settings); the files are checked where they are read."""

    n_bank: int = setting(15_000, help="samples judged for PUL", check=positive_int)
    n_fid: int = setting(5_000, help="samples for FID, KID and precision/recall", check=_at_least_two)
    seed: int = setting(0, help="seeds the evaluation's samples", check=seed_value)
    inception: Path | None = setting(None, help="FID's feature network (atu/eval/extractors.py); None: the judge's")
    judge: Path | None = setting(None, help="a second classifier counting every PUL too; None: the labeller only")

    def __post_init__(self):
        settings.check_fields(self)

    def to_dict(self) -> dict:
        # judge only when set, so studies written before it existed still resume
        return {
            "n_bank": self.n_bank,
            "n_fid": self.n_fid,
            "seed": self.seed,
            "inception": str(self.inception) if self.inception else None,
            **({"judge": str(self.judge)} if self.judge else {}),
        }


@dataclass
class AttackSpec:
    """The latent attack of the study (`atu attack`); judge None = no attack."""

    judge: Path | None = None
    settings: AttackSettings = field(default_factory=AttackSettings)

    def to_dict(self) -> dict:
        return {"judge": str(self.judge) if self.judge else None, **self.settings.to_dict()}


@dataclass
class StudyConfig:
    generator: Path
    data: str
    features: list[Feature]
    methods: list[str] = field(default_factory=lambda: ["el2"])
    seeds: list[int] = field(default_factory=lambda: [0])
    attributes_file: Path | None = None
    feedback: FeedbackSpec = field(default_factory=FeedbackSpec)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    unlearn: dict[str, UnlearnConfig] = field(default_factory=dict)  # ATU method -> its configuration
    latent: LatentConfig = field(default_factory=LatentConfig)  # the `latent` method (seed per run)
    attack: AttackSpec = field(default_factory=AttackSpec)
    extrapolation_scales: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5])
    evaluate: EvaluateSpec = field(default_factory=EvaluateSpec)
    schedule: Schedule = field(default_factory=Schedule)
    device: str = "auto"

    def adapt_config(self, seed: int) -> AdaptConfig:
        return dataclasses.replace(self.adapt, seed=seed)

    def unlearn_config(self, method: str, seed: int) -> UnlearnConfig:
        return dataclasses.replace(self.unlearn[method], seed=seed)

    def latent_config(self, seed: int) -> LatentConfig:
        return LatentConfig(**{**self.latent.to_dict(), "seed": seed})

    def needs_stage1(self) -> bool:
        """Stage 1's adapted models feed the repulsion (the methods with γ > 0) and the extrapolation
        baseline; the methods without repulsion, the latent method and the filter train without them."""
        repelled = any(base_method(m) in ATU_METHODS and self.unlearn[m].gamma > 0 for m in self.methods)
        return repelled or bool(self.extrapolation_scales)

    def to_dict(self) -> dict:
        """The resolved configuration (what config.json records): every default written out."""
        return {
            "generator": str(self.generator),
            "data": self.data,
            "attributes_file": str(self.attributes_file) if self.attributes_file else None,
            "features": [f.to_dict() for f in self.features],
            "methods": list(self.methods),
            "seeds": list(self.seeds),
            # negatives only when set, so that studies written before it existed still resume
            "feedback": {k: v for k, v in vars(self.feedback).items() if k != "negatives" or v is not None},
            "adapt": {k: v for k, v in self.adapt.to_dict().items() if k != "seed"},
            "unlearn": {m: {k: v for k, v in c.to_dict().items() if k != "seed"} for m, c in self.unlearn.items()},
            "latent": {k: v for k, v in self.latent.to_dict().items() if k != "seed"},
            "attack": self.attack.to_dict(),
            "extrapolation": {"scales": list(self.extrapolation_scales)},
            "evaluate": self.evaluate.to_dict(),
            "schedule": self._schedule_dict(),
            "device": self.device,
        }

    def _schedule_dict(self) -> dict:
        """The schedule as written to config.json; log_to only when it names a sink, so a study's
        record is the same as before sinks existed unless it uses one."""
        schedule = {k: v for k, v in vars(self.schedule).items() if k != "log_to"}
        return {**schedule, "log_to": list(self.schedule.log_to)} if self.schedule.log_to else schedule


# ---- reading ---------------------------------------------------------------------------------------


def from_dict(raw: dict, base_dir: str | os.PathLike = ".") -> StudyConfig:
    """Builds and checks a StudyConfig from plain data (a parsed file or code)."""
    base_dir = Path(base_dir)
    raw = copy.deepcopy(raw)
    only(
        raw,
        "",
        {
            "generator",
            "classifier",
            "data",
            "attributes_file",
            "features",
            "methods",
            "seeds",
            "feedback",
            "adapt",
            "unlearn",
            "latent",
            "attack",
            "extrapolation",
            "evaluate",
            "schedule",
            "device",
        },
    )
    generator = file_setting(raw, "generator", base_dir, required=True)
    data = raw.get("data")
    if not isinstance(data, str) or not data:
        raise ConfigError("data: required, the real data for FID: 'digits', 'mnist', 'mnist:DIR' or 'folder:DIR'")
    data = data_spec(data, base_dir)
    attributes_file = file_setting(raw, "attributes_file", base_dir)
    default_classifier = file_setting(raw, "classifier", base_dir)
    features = read_features(raw.get("features"), default_classifier, base_dir, data, attributes_file)
    methods = _methods(raw)
    return StudyConfig(
        generator=generator,
        data=data,
        features=features,
        methods=methods,
        seeds=_seeds(raw),
        attributes_file=attributes_file,
        feedback=settings_section(FeedbackSpec, raw.get("feedback", {}), "feedback"),
        adapt=_adapt(raw.get("adapt", {})),
        unlearn=_unlearn(raw, methods),
        latent=_latent(raw.get("latent", {})),
        attack=_attack(raw.get("attack", {}), base_dir),
        extrapolation_scales=_extrapolation_scales(raw),
        evaluate=_evaluate(raw, base_dir),
        schedule=_schedule(raw),
        device=_device(raw),
    )


def _methods(raw: dict) -> list[str]:
    methods = raw.get("methods", ["el2"])
    if (
        not isinstance(methods, list)
        or not methods
        or any(not isinstance(m, str) for m in methods)
        or any(base_method(m) not in METHODS for m in methods)
        or len(set(methods)) != len(methods)
    ):
        raise ConfigError(
            f"methods: a non-empty list of distinct names from {list(METHODS)} (or METHOD@KEY=VALUE "
            f"variants of the stage-2 methods), got {brief(methods)}"
        )
    return list(methods)


def _unlearn(raw: dict, methods: list[str]) -> dict:
    """{method: its UnlearnConfig} for atu's stage-2 methods and the study's variants of them."""
    section = from_resolved_unlearn(raw.get("unlearn", {}))
    variants = [m for m in methods if VARIANT_MARK in m]
    return {name: unlearn_settings(section, name, variants) for name in (*ATU_METHODS, *variants)}


def _seeds(raw: dict) -> list[int]:
    seeds = raw.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ConfigError(f"seeds: a non-empty list of distinct integers from 0 to {MAX_SEED:,}, got {brief(seeds)}")
    return list(seeds)


def _extrapolation_scales(raw: dict) -> list[float]:
    extrapolation = raw.get("extrapolation", {})
    only(extrapolation, "extrapolation", {"scales"})
    scales = extrapolation.get("scales", [0.5, 1.0, 1.5])
    if (
        not isinstance(scales, list)
        or any(isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) for s in scales)
        or len(set(scales)) != len(scales)
    ):
        raise ConfigError(
            f"extrapolation.scales: a list of distinct finite numbers (may be empty), got {brief(scales)}"
        )
    return [float(s) for s in scales]


def _schedule(raw: dict) -> Schedule:
    try:
        return Schedule(**mapping(raw.get("schedule", {}), "schedule"))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"schedule: {err}") from err


def _device(raw: dict) -> str:
    device = raw.get("device", "auto")
    if not isinstance(device, str):
        raise ConfigError(f"device: a string (auto, cpu, cuda, cuda:1), got {brief(device)}")
    return device


def _evaluate(raw: dict, base_dir: Path) -> EvaluateSpec:
    section = dict(mapping(raw.get("evaluate", {}), "evaluate"))
    only(section, "evaluate", set(EvaluateSpec.__dataclass_fields__))
    try:
        inception = file_setting(section, "inception", base_dir)  # relative to the configuration file
        judge = file_setting(section, "judge", base_dir)
    except ConfigError as err:
        raise ConfigError(f"evaluate.{err}") from err
    numbers = {k: v for k, v in section.items() if k not in ("inception", "judge")}
    return dataclasses.replace(settings_section(EvaluateSpec, numbers, "evaluate"), inception=inception, judge=judge)


def _adapt(value: Any) -> AdaptConfig:
    """Every AdaptConfig setting but the seed, which the study sets per run."""
    return settings_section(AdaptConfig, value, "adapt", allowed=without_seed(AdaptConfig))


def _latent(value: Any) -> LatentConfig:
    """The `latent` method's settings (its seed is the study's, per run)."""
    return settings_section(LatentConfig, value, "latent", allowed=without_seed(LatentConfig))


def _attack(value: Any, base_dir: Path) -> AttackSpec:
    """The latent attack: the judge (a second classifier, a path relative to the file) and PGD's
    settings."""
    value = dict(mapping(value, "attack"))
    try:
        judge = file_setting(value, "judge", base_dir)
    except ConfigError as err:
        raise ConfigError(f"attack.{err}") from err
    value.pop("judge", None)
    try:
        return AttackSpec(judge=judge, settings=settings.from_mapping(AttackSettings, value, "attack"))
    except ValueError as err:
        raise ConfigError(str(err)) from err
