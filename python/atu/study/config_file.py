"""Reading a study file (.yaml, .yml or .json, or a study folder's config.json) into a StudyConfig."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .checks import ConfigError, brief, parse_yaml
from .config import StudyConfig, from_dict

MAX_CONFIG_BYTES = 1 << 20  # a study file is a page of settings; anything larger is not one


def no_repeated_keys(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ConfigError(f"the key {brief(repeated[0])} is given twice in one object")
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
                raw = json.loads(text, object_pairs_hook=no_repeated_keys)
            except json.JSONDecodeError as err:
                raise ConfigError(f"not valid JSON: line {err.lineno}, column {err.colno}: {err.msg}") from None
            except RecursionError:
                raise ConfigError("nested too deeply to be a study file") from None
        else:
            raw = parse_yaml(text)
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
