"""The checking vocabulary of study files: the error every reader raises, YAML without aliases or
repeated keys, sections that must be mappings of known keys, paths relative to the file, and sections
declared with util/settings. Every error names the key that holds the problem."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from ..util import settings
from ..util.errors import InputError


class ConfigError(InputError):
    """A configuration that cannot run; the message names the key."""


def brief(value: Any, limit: int = 80) -> str:
    """repr(value) cut to `limit` characters: an error names what it got without echoing a file."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_yaml(text: str):
    """yaml.safe_load without aliases (*name): a few hundred bytes of nested aliases expand to
    gigabytes once anything walks the result, and a study file has no use for them."""

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
                    raise ConfigError(f"line {key_node.start_mark.line + 1}: the key {brief(key)} is given twice")
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


def only(section: Any, where: str, allowed: set[str]) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{where or 'the file'}: expected a mapping, got {brief(section)}")
    unknown = sorted(set(section) - allowed, key=str)
    if unknown:
        prefix = f"{where}." if where else ""
        named = ", ".join(brief(f"{prefix}{k}", 40) for k in unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise ConfigError(f"unknown setting(s) {named}; known here: {sorted(allowed)}")


def mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {brief(value)}")
    return value


def file_setting(raw: dict, key: str, base_dir: Path, *, required: bool = False) -> Path | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{key}: required")
        return None
    path = resolve_path(value, base_dir, key)
    if not path.is_file():
        raise ConfigError(f"{key}: {path}: no such file")
    return path


def resolve_path(value: Any, base_dir: Path, key: str) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ConfigError(f"{key}: expected a path, got {brief(value)}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def settings_section(cls, value: Any, key: str, *, allowed: tuple[str, ...] | None = None):
    """A section declared with util/settings (every key checked, errors naming `key.name`); `allowed`
    narrows the keys a file may set."""
    try:
        return settings.from_mapping(cls, value, key, allowed=allowed)
    except ValueError as err:
        raise ConfigError(str(err)) from err


def without_seed(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "seed")
