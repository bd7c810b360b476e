"""One declaration per setting. A configuration is a dataclass whose fields are made by `setting`:
the default, the help text, the command-line flag and the check live on the field, and everything
else is derived from it here:

  add_options(parser, Config)      the argparse options (flag, type, default, help)
  from_options(Config, args)       the configuration the parsed options describe
  to_dict(config)                  the record run.json and config.json hold (nested configs as dicts)
  from_mapping(Config, mapping)    a YAML/JSON section, unknown keys and wrong types refused by name
  check_fields(config)             every field's check, called from the dataclass's __post_init__

so that adding a setting is one line, and the flag, the study key and the record cannot disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any

NO_FLAG = object()  # a setting only a study file or the API sets


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    flag: str | None | object = None,
    check: Callable[[str, Any], None] | None = None,
    choices: tuple | None = None,
    default_factory: Callable[[], Any] | None = None,
    record_default: bool = True,
    label: str | None = None,
) -> Any:
    """A dataclass field with what the derived forms need.

    flag: the option's spelling (default: --field-name); NO_FLAG for settings only a study file or
    the API sets. check(label, value) raises ValueError; choices are checked too. label names the
    setting in errors (default: the field name, e.g. "lam (λ)"). record_default=False leaves the
    field out of to_dict while it holds its default, so records written before it existed still
    describe the same run (resume compares records)."""
    metadata = {
        "help": help,
        "flag": flag,
        "check": check,
        "choices": choices,
        "record_default": record_default,
        "label": label,
    }
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _settings(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def _types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _flag(f: dataclasses.Field) -> str | None:
    flag = f.metadata["flag"]
    if flag is NO_FLAG:
        return None
    return flag or "--" + f.name.replace("_", "-")


def _optional_inner(kind: Any) -> Any:
    """X for a field typed X | None, else None."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind):
        return next(a for a in typing.get_args(kind) if a is not type(None))
    return None


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def check_fields(config) -> None:
    """Runs every field's choices and check; the message names the setting."""
    for f in _settings(type(config)):
        value = getattr(config, f.name)
        label = f.metadata["label"] or f.name
        choices = f.metadata["choices"]
        if choices is not None and value not in choices:
            raise ValueError(f"{label} must be one of {', '.join(map(str, choices))}; got {value!r}")
        if f.metadata["check"] is not None:
            f.metadata["check"](label, value)


def add_options(
    parser: argparse.ArgumentParser, cls, *, defaults: dict[str, Any] | None = None, exclude: tuple[str, ...] = ()
) -> None:
    """One option per flagged field of `cls` (nested configurations excluded: add theirs on their
    own). `defaults` overrides a field's default for this command (e.g. the step budget)."""
    defaults = defaults or {}
    types = _types(cls)
    for f in _settings(cls):
        flag = _flag(f)
        if flag is None or f.name in exclude or dataclasses.is_dataclass(types[f.name]):
            continue
        default = defaults.get(f.name, _default(f))
        kind = _optional_inner(types[f.name]) or types[f.name]  # X | None: the option gives an X
        shown = f"{default:g}" if isinstance(default, float) else default
        # a None default is explained by the help itself
        help_text = f.metadata["help"] if default is None else f"{f.metadata['help']} (default {shown})"
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", default=default, help=f.metadata["help"])
        else:
            parser.add_argument(
                flag,
                dest=f.name,
                type=kind,
                default=default,
                choices=f.metadata["choices"],
                metavar=None if f.metadata["choices"] else flag.lstrip("-").upper().replace("-", "_"),
                help=help_text,
            )


def from_options(cls, args: argparse.Namespace, **given: Any):
    """cls from the parsed options of its flagged fields, plus `given` (nested configs, seeds)."""
    values = {
        f.name: getattr(args, f.name)
        for f in _settings(cls)
        if _flag(f) is not None and f.name not in given and hasattr(args, f.name)
    }
    return cls(**values, **given)


def to_dict(config) -> dict[str, Any]:
    """The record of a configuration: every setting (nested configurations as dicts), in declaration
    order, leaving out record_default=False settings that hold their default."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if "help" in f.metadata and not f.metadata["record_default"] and value == _default(f):
            continue
        out[f.name] = to_dict(value) if dataclasses.is_dataclass(value) else value
    return out


def from_mapping(cls, mapping: Any, where: str, *, allowed: tuple[str, ...] | None = None, **given: Any):
    """cls from a study file's section: keys are field names (nested configurations as mappings);
    an unknown key, a value of the wrong type or a failed check is a ValueError naming `where.key`.
    `allowed` narrows the keys a file may set (e.g. not the seed, which the study sets per run)."""
    if not isinstance(mapping, dict):
        raise ValueError(f"{where}: expected a mapping, got {_brief(mapping)}")
    types = _types(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in given]
    permitted = set(names if allowed is None else allowed)
    unknown = sorted((k for k in mapping if k not in permitted), key=str)
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(_brief(f'{where}.{k}', 40) for k in unknown[:5])}"
            f"{f' and {len(unknown) - 5} more' if len(unknown) > 5 else ''}; "
            f"known here: {sorted(permitted)}"
        )
    values = {}
    for key, value in mapping.items():
        kind = types[key]
        if dataclasses.is_dataclass(kind):
            values[key] = from_mapping(kind, value, f"{where}.{key}")
        else:
            values[key] = _typed(value, kind, f"{where}.{key}")
    try:
        return cls(**values, **given)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from err


def _typed(value: Any, kind: Any, where: str) -> Any:
    """value checked against a field's type; ints are accepted where floats are expected."""
    if _optional_inner(kind) is not None:
        if value is None:
            return None
        kind = _optional_inner(kind)
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) if isinstance(value, int) else value
        raise ValueError(f"{where}: expected a number, got {_brief(value)}{_yaml_number_hint(value)}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{where}: expected an integer, got {_brief(value)}{_yaml_number_hint(value)}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where}: expected true or false, got {_brief(value)}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{where}: expected text, got {_brief(value)}")
    return value


def _yaml_number_hint(value: Any) -> str:
    """YAML 1.1 (PyYAML) reads 5e8 as the text "5e8": say how to write it."""
    if isinstance(value, str):
        try:
            if math.isfinite(float(value)):
                return " (YAML reads exponents without a sign as text: write 5.0e+8, not 5e8)"
        except ValueError:
            pass
    return ""


def _brief(value: Any, limit: int = 80) -> str:
    """repr(value) cut to `limit` characters: an error names what it got without echoing a file."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
