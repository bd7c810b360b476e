"""The features of a study (what it removes, one sub-study each) and the real data they are measured
against, read from a study file's `features` and `data` sections."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import parse_spec
from ..data.features import MeasuredFeature
from ..data.mnist import check_mnist_folder, installed_mnist_folder
from ..util.validate import positive_int
from .checks import ConfigError, brief, file_setting, only


@dataclass
class Feature:
    """What one sub-study removes: a class of the classifier (`undesired`), or a measured feature of
    digits (`measure`, MEASURE:topP or MEASURE:bottomP, judged by the measurement itself, the
    classifier then giving FID its features)."""

    name: str  # folder name and report label
    undesired: int | str | None  # class number or the classifier's label name; None for a measured feature
    classifier: Path
    retrained: Path | None = None  # generator trained without the feature (Ret-FID); None = missing
    exclude_attribute: str | None = None  # folder data: the attribute whose images FID leaves out
    measure: str | None = None  # a measured feature (data/features.py)
    judge: Path | None = None  # this feature's second judge: a classifier whose class `name` is the feature
    negatives: int | None = None  # mark only the first N undesired samples; None: the study's feedback.negatives

    def to_dict(self) -> dict:
        # measure and judge only when set, so studies written before they existed still resume
        return {
            "name": self.name,
            "undesired": self.undesired,
            "classifier": str(self.classifier),
            "retrained": str(self.retrained) if self.retrained else None,
            "exclude_attribute": self.exclude_attribute,
            **({"measure": self.measure} if self.measure else {}),
            **({"judge": str(self.judge)} if self.judge else {}),
            **({"negatives": self.negatives} if self.negatives is not None else {}),
        }

    @property
    def measured(self) -> MeasuredFeature | None:
        return MeasuredFeature.parse(self.measure) if self.measure else None


def data_spec(spec: str, base_dir: Path) -> str:

    try:
        kind, folder = parse_spec(spec)
    except ValueError as err:
        raise ConfigError(f"data: {err}") from err
    if folder is None:
        if kind == "mnist":  # the installed files: checked now, not when FID needs them
            try:
                installed_mnist_folder()
            except FileNotFoundError as err:
                raise ConfigError(f"data: {err}") from err
        return spec
    folder = folder if folder.is_absolute() else base_dir / folder
    if not folder.is_dir():
        raise ConfigError(f"data: {folder}: no such folder")
    if kind == "mnist":
        try:
            check_mnist_folder(folder)
        except FileNotFoundError as err:
            raise ConfigError(f"data: {err}") from err
    return f"{kind}:{folder}"


MAX_FEATURE_NAME = 100  # a folder name under the study's --out, with room for the path above it


def read_features(
    value: Any, default_classifier: Path | None, base_dir: Path, data: str, attributes_file: Path | None
) -> list[Feature]:
    if not isinstance(value, list) or not value:
        raise ConfigError("features: a non-empty list, e.g. [{name: no8, undesired: 8}]")
    features, names = [], set()
    for i, item in enumerate(value):
        where = f"features[{i}]"
        only(
            item,
            where,
            {"name", "undesired", "classifier", "retrained", "exclude_attribute", "measure", "judge", "negatives"},
        )
        _negatives(item, where)
        measure = _measure(item, where, data)
        if measure is None and (
            "undesired" not in item
            or isinstance(item["undesired"], bool)
            or not isinstance(item["undesired"], (int, str))
        ):
            raise ConfigError(
                f"{where}.undesired: required, a class number or a label name of the classifier "
                f"(or give measure: MEASURE:topP for a measured feature)"
            )
        default_name = f"no_{measure.replace(':', '_')}" if measure else f"no_{item['undesired']}"
        name = str(item.get("name", default_name))
        if not name or Path(name).name != name or name.startswith(".") or len(name) > MAX_FEATURE_NAME:
            raise ConfigError(
                f"{where}.name: {brief(name)} must be a plain folder name of at most {MAX_FEATURE_NAME} characters"
            )
        if name in names:
            raise ConfigError(f"{where}.name: {name!r} is used twice")
        names.add(name)
        classifier = file_setting(item, "classifier", base_dir) or default_classifier
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
                undesired=item.get("undesired"),
                classifier=classifier,
                retrained=file_setting(item, "retrained", base_dir),
                exclude_attribute=exclude_attribute,
                measure=measure,
                judge=file_setting(item, "judge", base_dir),
                negatives=item.get("negatives"),
            )
        )
    return features


def _negatives(item: dict, where: str) -> None:
    if item.get("negatives") is not None:
        try:
            positive_int(f"{where}.negatives", item["negatives"])
        except ValueError as err:
            raise ConfigError(str(err)) from err


def _measure(item: dict, where: str, data: str) -> str | None:
    """The feature's `measure` in its canonical spelling, None without one; ConfigError naming the
    key when it does not parse, comes with `undesired`, or is asked of data that are not digits."""
    if item.get("measure") is None:
        return None
    if item.get("undesired") is not None:  # null: how config.json writes a measured feature's
        raise ConfigError(f"{where}: either undesired (a class) or measure (a measured feature), not both")
    if data.startswith("folder:"):
        raise ConfigError(f"{where}.measure: measured features are digits' (digits, mnist data), not {data}'s")
    try:
        return MeasuredFeature.parse(str(item["measure"])).name
    except ValueError as err:
        raise ConfigError(f"{where}.measure: {err}") from err
