"""A study's stage-2 runs: each method's configuration as the study resolves it (shared settings, the
method's own defaults and fixed settings from study/methods.py, the file's per-method overrides) and
variants "METHOD@KEY=VALUE", a method with one setting changed, as runs of their own."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..stages.unlearn import KINDS, UnlearnConfig
from ..util import settings
from .checks import ConfigError, mapping, only, parse_yaml
from .methods import ATU_METHODS, BY_NAME, REDACT_METHODS, REDACT_WEIGHT

# A variant of a stage-2 method with one setting changed, "METHOD@KEY=VALUE" (e.g. redact@redact=0.03,
# el2@gamma=3000): its own run and folder beside the method's, a point of its own in the trade-off
# plot, so one study sweeps a setting with stage 1 and the feedback shared.
VARIANT_MARK = "@"


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
    value = parse_yaml(text)
    if isinstance(value, (dict, list)) or value is None:
        raise ConfigError(f"methods: {name!r}: VALUE must be a number, a boolean or a word, got {text!r}")
    return base, {key: value}


def unlearn_settings(value: Any, name: str, variants: list[str]) -> UnlearnConfig:
    """The stage-2 configuration of run `name` (a method, or a METHOD@KEY=VALUE variant): the
    shared settings, the built-in per-method defaults, the file's per-method overrides
    (unlearn.methods.<method>), then a variant's one change. The kind follows from the method and
    the seed from the study, so a file sets neither."""
    method, change = parse_variant(name) if VARIANT_MARK in name else (name, {})
    value = mapping(value, "unlearn")
    shared = tuple(f.name for f in dataclasses.fields(UnlearnConfig) if f.name not in ("seed", "kind"))
    only(value, "unlearn", {*shared, "methods"})
    overrides = mapping(value.get("methods", {}), "unlearn.methods")
    only(overrides, "unlearn.methods", {*ATU_METHODS, *variants})
    # the resolved form (config.json) holds a variant's whole setting under its own name
    own = {**mapping(overrides.get(name, overrides.get(method, {})), f"unlearn.methods.{name}"), **change}

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
    kind = spec.kind
    assert kind in KINDS
    if spec.repels and spec.fixed.get("decoupled") is False and own.get("decoupled"):
        raise ConfigError(
            f"{where('decoupled')}: {method} is {kind.upper()} with the paper's coupled update "
            f"by definition; the decoupled step is {kind} with unlearn.decoupled: true"
        )
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
    config = unlearn_settings({"methods": {method: overrides}} if overrides else {}, method, variants)
    return dataclasses.replace(config, seed=seed)


def from_resolved_unlearn(value: Any) -> Any:
    """The resolved form StudyConfig.to_dict writes (one complete setting per method, keyed by the
    method: {el2: {kind: el2, alpha: ..., ...}, adv_only: {...}}) as the file form's per-method
    settings, which unlearn_settings then checks; anything else is returned as it is."""
    if not isinstance(value, dict) or not value or not {base_method(m) for m in value} <= set(ATU_METHODS):
        return value
    methods = {}
    for method, spec in value.items():
        spec = dict(mapping(spec, f"unlearn.{method}"))
        kind = spec.pop("kind", None)
        if kind != BY_NAME[base_method(method)].kind:
            raise ConfigError(f"unlearn.{method}.kind: {kind!r} is not the kind of method {method!r}")
        if "gamma" in BY_NAME[base_method(method)].fixed and spec.get("gamma") == 0:
            del spec["gamma"]  # the γ = 0 to_dict records; any other γ meets unlearn_settings's error
        methods[method] = spec
    return {"methods": methods}
