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
    methods: [el2, il2, nl2, adv_only, latent]   # stage 2 variants, and `latent`: latent feature
                                        # unlearning (Moon et al.), which needs no stage 1; the
                                        # extrapolation baseline runs whenever it has scales; also
                                        # redact, redact_labeller, el2+redact, il2+redact, nl2+redact
                                        # (atu/stages/redaction.py) and filter (rejection sampling, trains nothing);
                                        # METHOD@KEY=VALUE: a stage-2 method with one unlearn setting
                                        # changed, its own run (e.g. redact@redact=0.03, el2@gamma=3000)
    seeds: [0, 1, 2]
    feedback: {n: 5000, seed: 0, truncation: 1.0, batch_size: 64,      # batch_size: at most, per pass
               threshold: null}         # null: the classifier's predicted class marks a sample
                                        # undesired; P: its probability of the class is >= P
    adapt: {k: 2, steps: 2000, lam: 5.0e8, fisher_samples: 32, fisher_layers: conv, fisher_output: logit,
            train: {batch_size: 16, lr: 0.002, ...}}
    unlearn: {steps: 1000, alpha: 2.0, gamma: 10.0, reduction: tensor_mean, train: {...},
              decoupled: false,         # true: the repulsion as its own step after Adam's (atu unlearn --decoupled)
              redact: 0.1, redact_source: negatives,   # the redaction methods' weight and (for +redact) source
              methods: {il2: {gamma: 0.5}, nl2: {gamma: 2.0}}}     # per-method overrides
    latent: {steps: 1000, alpha: 3.0, lr: 5.0e-4, batch_size: 16}   # the `latent` method (atu latent-unlearn)
    attack: {judge: classifier_seed1.safetensors, n: 500, steps: 50, step_size: 0.02, radius: 0.1, seed: 0}
                                        # PGD on the latent against the pre-trained, el2 and latent
                                        # models, judged by a second classifier; no judge = no attack
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
import json
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
from ..stages.unlearn import KINDS, UnlearnConfig
from ..util import settings
from ..util.errors import InputError
from ..util.settings import setting
from ..util.validate import MAX_COUNT, MAX_SEED, positive_int, seed_value
from .methods import ATU_METHODS, BY_NAME, METHODS, REDACT_METHODS, REDACT_WEIGHT

# A variant of a stage-2 method with one setting changed, "METHOD@KEY=VALUE" (e.g. redact@redact=0.03,
# el2@gamma=3000): its own run and folder beside the method's, a point of its own in the trade-off
# plot, so one study sweeps a setting with stage 1 and the feedback shared.
VARIANT_MARK = "@"


class ConfigError(InputError):
    """A configuration that cannot run; the message names the key."""


@dataclass
class Feature:
    name: str  # folder name and report label
    undesired: int | str  # class number or the classifier's label name
    classifier: Path
    retrained: Path | None = None  # generator trained without the feature (Ret-FID); None = missing
    exclude_attribute: str | None = None  # folder data: the attribute whose images FID leaves out

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "undesired": self.undesired,
            "classifier": str(self.classifier),
            "retrained": str(self.retrained) if self.retrained else None,
            "exclude_attribute": self.exclude_attribute,
        }


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
            "feedback": vars(self.feedback).copy(),
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

MAX_CONFIG_BYTES = 1 << 20  # a study file is a page of settings; anything larger is not one


def _brief(value: Any, limit: int = 80) -> str:
    """repr(value) cut to `limit` characters: an error names what it got without echoing a file."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse_yaml(text: str):
    """yaml.safe_load without aliases (*name): a few hundred bytes of nested aliases expand to
    gigabytes once anything walks the result, and a study file has no use for them."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.events.AliasEvent):
                mark = self.peek_event().start_mark
                raise ConfigError(f"line {mark.line + 1}: YAML aliases (*name) are not accepted in a study file")
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            # YAML itself allows a key twice and keeps the last; in a study file that silently
            # drops a setting the user wrote (a second `seeds:` line), so it is refused
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    continue
                if key in seen:
                    raise ConfigError(f"line {key_node.start_mark.line + 1}: the key {_brief(key)} is given twice")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    try:
        return yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as err:  # where and what, never the offending line's text
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError(f"not valid YAML: {where}{err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML ({type(err).__name__})") from None
    except RecursionError:
        raise ConfigError("nested too deeply to be a study file") from None


def _no_repeated_keys(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ConfigError(f"the key {_brief(repeated[0])} is given twice in one object")
    return dict(pairs)


def load_config(path: str | os.PathLike) -> StudyConfig:
    """Reads a .yaml/.yml/.json study file; ConfigError (naming the file and key) if it cannot run.

    Error messages name the line and the problem but never quote the file: a wrong path given to
    `atu run` must not print what some other file holds."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {size:,} bytes is too large for a study file (at most {MAX_CONFIG_BYTES:,})")
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8)") from None
    try:
        if path.suffix.lower() == ".json":
            try:
                raw = json.loads(text, object_pairs_hook=_no_repeated_keys)
            except json.JSONDecodeError as err:
                raise ConfigError(f"not valid JSON: line {err.lineno}, column {err.colno}: {err.msg}") from None
            except RecursionError:
                raise ConfigError("nested too deeply to be a study file") from None
        else:
            raw = _parse_yaml(text)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    if set(raw) == {"config", "provenance"}:  # a study folder's config.json
        raw = raw["config"]
    try:
        return from_dict(raw, base_dir=path.parent)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err


def from_dict(raw: dict, base_dir: str | os.PathLike = ".") -> StudyConfig:
    """Builds and checks a StudyConfig from plain data (a parsed file or code)."""
    base_dir = Path(base_dir)
    raw = copy.deepcopy(raw)
    _only(
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
    generator = _file(raw, "generator", base_dir, required=True)
    data = raw.get("data")
    if not isinstance(data, str) or not data:
        raise ConfigError("data: required, the real data for FID: 'digits', 'mnist', 'mnist:DIR' or 'folder:DIR'")
    data = _data_spec(data, base_dir)
    attributes_file = _file(raw, "attributes_file", base_dir)
    default_classifier = _file(raw, "classifier", base_dir)
    features = _features(raw.get("features"), default_classifier, base_dir, data, attributes_file)

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
            f"variants of the stage-2 methods), got {_brief(methods)}"
        )
    variants = [m for m in methods if VARIANT_MARK in m]
    seeds = raw.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ConfigError(f"seeds: a non-empty list of distinct integers from 0 to {MAX_SEED:,}, got {_brief(seeds)}")

    feedback = _settings_section(FeedbackSpec, raw.get("feedback", {}), "feedback")
    adapt = _adapt(raw.get("adapt", {}))
    unlearn_section = _from_resolved_unlearn(raw.get("unlearn", {}))
    unlearn = {name: _unlearn(unlearn_section, name, variants) for name in (*ATU_METHODS, *variants)}
    latent = _latent(raw.get("latent", {}))
    attack = _attack(raw.get("attack", {}), base_dir)
    extrapolation = raw.get("extrapolation", {})
    _only(extrapolation, "extrapolation", {"scales"})
    scales = extrapolation.get("scales", [0.5, 1.0, 1.5])
    if (
        not isinstance(scales, list)
        or any(isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) for s in scales)
        or len(set(scales)) != len(scales)
    ):
        raise ConfigError(
            f"extrapolation.scales: a list of distinct finite numbers (may be empty), got {_brief(scales)}"
        )
    evaluate = _evaluate(raw, base_dir)
    try:
        schedule = Schedule(**_mapping(raw.get("schedule", {}), "schedule"))
    except TypeError as err:
        raise ConfigError(f"schedule: {err}") from err
    except ValueError as err:
        raise ConfigError(f"schedule: {err}") from err
    device = raw.get("device", "auto")
    if not isinstance(device, str):
        raise ConfigError(f"device: a string (auto, cpu, cuda, cuda:1), got {_brief(device)}")
    return StudyConfig(
        generator=generator,
        data=data,
        features=features,
        methods=list(methods),
        seeds=list(seeds),
        attributes_file=attributes_file,
        feedback=feedback,
        adapt=adapt,
        unlearn=unlearn,
        latent=latent,
        attack=attack,
        extrapolation_scales=[float(s) for s in scales],
        evaluate=evaluate,
        schedule=schedule,
        device=device,
    )


def _only(section: Any, where: str, allowed: set[str]) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{where or 'the file'}: expected a mapping, got {_brief(section)}")
    unknown = sorted(set(section) - allowed, key=str)
    if unknown:
        prefix = f"{where}." if where else ""
        named = ", ".join(_brief(f"{prefix}{k}", 40) for k in unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise ConfigError(f"unknown setting(s) {named}; known here: {sorted(allowed)}")


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_brief(value)}")
    return value


def _file(raw: dict, key: str, base_dir: Path, *, required: bool = False) -> Path | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{key}: required")
        return None
    path = _resolve(value, base_dir, key)
    if not path.is_file():
        raise ConfigError(f"{key}: {path}: no such file")
    return path


def _resolve(value: Any, base_dir: Path, key: str) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ConfigError(f"{key}: expected a path, got {_brief(value)}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _data_spec(spec: str, base_dir: Path) -> str:
    from ..data import parse_spec

    try:
        kind, folder = parse_spec(spec)
    except ValueError as err:
        raise ConfigError(f"data: {err}") from err
    if folder is None:
        if kind == "mnist":  # the installed files: checked now, not when FID needs them
            from ..data.mnist import installed_mnist_folder

            try:
                installed_mnist_folder()
            except FileNotFoundError as err:
                raise ConfigError(f"data: {err}") from err
        return spec
    folder = folder if folder.is_absolute() else base_dir / folder
    if not folder.is_dir():
        raise ConfigError(f"data: {folder}: no such folder")
    if kind == "mnist":
        from ..data.mnist import check_mnist_folder

        try:
            check_mnist_folder(folder)
        except FileNotFoundError as err:
            raise ConfigError(f"data: {err}") from err
    return f"{kind}:{folder}"


MAX_FEATURE_NAME = 100  # a folder name under the study's --out, with room for the path above it


def _features(
    value: Any, default_classifier: Path | None, base_dir: Path, data: str, attributes_file: Path | None
) -> list[Feature]:
    if not isinstance(value, list) or not value:
        raise ConfigError("features: a non-empty list, e.g. [{name: no8, undesired: 8}]")
    features, names = [], set()
    for i, item in enumerate(value):
        where = f"features[{i}]"
        _only(item, where, {"name", "undesired", "classifier", "retrained", "exclude_attribute"})
        if (
            "undesired" not in item
            or isinstance(item["undesired"], bool)
            or not isinstance(item["undesired"], (int, str))
        ):
            raise ConfigError(f"{where}.undesired: required, a class number or a label name of the classifier")
        name = str(item.get("name", f"no_{item['undesired']}"))
        if not name or Path(name).name != name or name.startswith(".") or len(name) > MAX_FEATURE_NAME:
            raise ConfigError(
                f"{where}.name: {_brief(name)} must be a plain folder name of at most {MAX_FEATURE_NAME} characters"
            )
        if name in names:
            raise ConfigError(f"{where}.name: {name!r} is used twice")
        names.add(name)
        classifier = _file(item, "classifier", base_dir) or default_classifier
        if classifier is None:
            raise ConfigError(f"{where}.classifier: required (or give a top-level classifier)")
        exclude_attribute = item.get("exclude_attribute")
        if data.startswith("folder:"):
            exclude_attribute = exclude_attribute or (item["undesired"] if isinstance(item["undesired"], str) else None)
            if not exclude_attribute or attributes_file is None:
                raise ConfigError(
                    f"{where}: folder data needs attributes_file and the attribute to leave out of "
                    f"FID's real images (exclude_attribute, or undesired given as its name)"
                )
        elif exclude_attribute is not None:
            raise ConfigError(f"{where}.exclude_attribute: only for folder data; {data} has classes")
        features.append(
            Feature(
                name=name,
                undesired=item["undesired"],
                classifier=classifier,
                retrained=_file(item, "retrained", base_dir),
                exclude_attribute=exclude_attribute,
            )
        )
    return features


def _settings_section(cls, value: Any, key: str):
    """A section declared with util/settings (every key checked, errors naming `key.name`)."""
    try:
        return settings.from_mapping(cls, _mapping(value, key), key)
    except ValueError as err:
        raise ConfigError(str(err)) from err


def _evaluate(raw: dict, base_dir: Path) -> EvaluateSpec:
    section = dict(_mapping(raw.get("evaluate", {}), "evaluate"))
    _only(section, "evaluate", set(EvaluateSpec.__dataclass_fields__))
    try:
        inception = _file(section, "inception", base_dir)  # relative to the configuration file
        judge = _file(section, "judge", base_dir)
    except ConfigError as err:
        raise ConfigError(f"evaluate.{err}") from err
    numbers = {k: v for k, v in section.items() if k not in ("inception", "judge")}
    return dataclasses.replace(_settings_section(EvaluateSpec, numbers, "evaluate"), inception=inception, judge=judge)


def _adapt(value: Any) -> AdaptConfig:
    """Every AdaptConfig setting but the seed, which the study sets per run."""
    try:
        return settings.from_mapping(AdaptConfig, value, "adapt", allowed=_without_seed(AdaptConfig))
    except ValueError as err:
        raise ConfigError(str(err)) from err


def _without_seed(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "seed")


def base_method(name: str) -> str:
    """The method a run name stands for: itself, or a variant's METHOD."""
    return name.split(VARIANT_MARK, 1)[0]


def parse_variant(name: str) -> tuple[str, dict]:
    """ "METHOD@KEY=VALUE" -> (METHOD, {KEY: VALUE}), VALUE read as YAML reads a scalar."""
    base, _, change = name.partition(VARIANT_MARK)
    key, equals, text = change.partition("=")
    if base not in ATU_METHODS or not equals or not key or not text:
        raise ConfigError(
            f"methods: {name!r}: a variant is METHOD@KEY=VALUE with METHOD one of {list(ATU_METHODS)} "
            f"and KEY one of its unlearn settings (e.g. redact@redact=0.03)"
        )
    value = _parse_yaml(text)
    if isinstance(value, (dict, list)) or value is None:
        raise ConfigError(f"methods: {name!r}: VALUE must be a number, a boolean or a word, got {text!r}")
    return base, {key: value}


def _unlearn(value: Any, name: str, variants: list[str]) -> UnlearnConfig:
    """The stage-2 configuration of run `name` (a method, or a METHOD@KEY=VALUE variant): the
    shared settings, the built-in per-method defaults, the file's per-method overrides
    (unlearn.methods.<method>), then a variant's one change. The kind follows from the method and
    the seed from the study, so a file sets neither."""
    method, change = parse_variant(name) if VARIANT_MARK in name else (name, {})
    value = _mapping(value, "unlearn")
    shared = tuple(f.name for f in dataclasses.fields(UnlearnConfig) if f.name not in ("seed", "kind"))
    _only(value, "unlearn", {*shared, "methods"})
    overrides = _mapping(value.get("methods", {}), "unlearn.methods")
    _only(overrides, "unlearn.methods", {*ATU_METHODS, *variants})
    # the resolved form (config.json) holds a variant's whole setting under its own name
    own = {**_mapping(overrides.get(name, overrides.get(method, {})), f"unlearn.methods.{name}"), **change}

    def where(key: str = "") -> str:
        """The key an error names: the file's override, or the variant that changed it."""
        if change:
            return f"methods: {name}" + (f" ({key})" if key else "")
        return f"unlearn.methods.{method}" + (f".{key}" if key else "")

    common = {k: v for k, v in value.items() if k != "methods"}
    spec = BY_NAME[method]
    if "gamma" in spec.fixed and "gamma" in own:
        raise ConfigError(
            f"{where('gamma')}: {method} has no repulsion (γ = 0 by definition); "
            f"set γ for el2, il2, nl2 or their +redact forms instead"
        )
    if spec.redacts and own.get("redact", 1) == 0:
        raise ConfigError(
            f"{where('redact')}: {method} is defined by its redaction term; "
            f"a weight of 0 is {'adv_only' if not spec.repels else method.split('+')[0]}"
        )
    if not spec.redacts and {"redact", "redact_source"} & set(own):
        raise ConfigError(
            f"{where()}: redact and redact_source belong to the redaction methods "
            f"{list(REDACT_METHODS)}; {method} has no redaction term"
        )
    source = spec.fixed.get("redact_source")
    if source is not None and own.get("redact_source", source) != source:
        other = next(m.name for m in BY_NAME.values() if m.fixed.get("redact_source") not in (None, source))
        raise ConfigError(
            f"{where('redact_source')}: {method} redacts with {source} by definition; the other source is {other}"
        )
    if spec.repels and spec.fixed.get("decoupled") is False and own.get("decoupled"):
        raise ConfigError(
            f"{where('decoupled')}: el2_paper is EL2 with the paper's coupled update "
            "by definition; the decoupled step is el2 with unlearn.decoupled: true"
        )
    kind = spec.kind
    assert kind in KINDS
    try:
        # each layer on its own first, so that an error names the layer that holds the value
        settings.from_mapping(UnlearnConfig, common, "unlearn", allowed=shared)
        settings.from_mapping(UnlearnConfig, own, where(), allowed=shared, kind=kind)
        merged = {**common, **spec.defaults, **own}
        if spec.redacts:
            merged.setdefault("redact", REDACT_WEIGHT)
        else:  # the shared section's redaction settings belong to the redaction family
            merged.pop("redact", None)
            merged.pop("redact_source", None)
        merged.update(spec.fixed)
        return settings.from_mapping(UnlearnConfig, merged, f"unlearn ({name})", allowed=shared, kind=kind)
    except ValueError as err:
        raise ConfigError(str(err)) from err


def method_config(method: str, seed: int = 0, **overrides: Any) -> UnlearnConfig:
    """Stage 2's configuration of `method` (one of ATU_METHODS, or a METHOD@KEY=VALUE variant) as a
    study resolves it: the built-in per-method defaults, then `overrides` (UnlearnConfig's fields,
    `train` as a mapping), checked as a study file's unlearn.methods.<method> is. ConfigError names
    what does not fit."""
    if not isinstance(method, str) or base_method(method) not in ATU_METHODS:
        raise ConfigError(f"method {method!r}: expected one of {', '.join(ATU_METHODS)} (or METHOD@KEY=VALUE)")
    variants = [method] if VARIANT_MARK in method else []
    config = _unlearn({"methods": {method: overrides}} if overrides else {}, method, variants)
    return dataclasses.replace(config, seed=seed)


def _from_resolved_unlearn(value: Any) -> Any:
    """The resolved form StudyConfig.to_dict writes (one complete setting per method, keyed by the
    method: {el2: {kind: el2, alpha: ..., ...}, adv_only: {...}}) as the file form's per-method
    settings, which _unlearn then checks; anything else is returned as it is."""
    if not isinstance(value, dict) or not value or not {base_method(m) for m in value} <= set(ATU_METHODS):
        return value
    methods = {}
    for method, spec in value.items():
        spec = dict(_mapping(spec, f"unlearn.{method}"))
        kind = spec.pop("kind", None)
        if kind != BY_NAME[base_method(method)].kind:
            raise ConfigError(f"unlearn.{method}.kind: {kind!r} is not the kind of method {method!r}")
        if "gamma" in BY_NAME[base_method(method)].fixed and spec.get("gamma") == 0:
            del spec["gamma"]  # the γ = 0 to_dict records; any other γ meets _unlearn's error
        methods[method] = spec
    return {"methods": methods}


def _latent(value: Any) -> LatentConfig:
    """The `latent` method's settings (its seed is the study's, per run)."""
    try:
        return settings.from_mapping(LatentConfig, value, "latent", allowed=_without_seed(LatentConfig))
    except ValueError as err:
        raise ConfigError(str(err)) from err


def _attack(value: Any, base_dir: Path) -> AttackSpec:
    """The latent attack: the judge (a second classifier, a path relative to the file) and PGD's
    settings."""
    value = dict(_mapping(value, "attack"))
    try:
        judge = _file(value, "judge", base_dir)
    except ConfigError as err:
        raise ConfigError(f"attack.{err}") from err
    value.pop("judge", None)
    try:
        return AttackSpec(judge=judge, settings=settings.from_mapping(AttackSettings, value, "attack"))
    except ValueError as err:
        raise ConfigError(str(err)) from err
