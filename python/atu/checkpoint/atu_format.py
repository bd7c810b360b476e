"""atu's own checkpoint format: one `.safetensors` file.

Tensors are stored as "<section>/<name>" (sections such as "g", "g_ema", "d", "classifier"); the
safetensors header's metadata holds, under the key "atu", a JSON object {"format_version", "kind",
"config", "metadata", "sections"}: the architecture (`config`, enough to rebuild the modules) and
provenance (training step, data, seed, command, versions), plus "order": each section's entry
names in state_dict order, which safetensors (it sorts names) would otherwise lose. safetensors holds no code, so
reading
one is safe whatever its origin. Writes are atomic.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from ..util.atomic import write_with
from .core import Checkpoint
from .digest import tensors_sha256
from .errors import CheckpointError
from .file_format import SAFETENSORS

FORMAT_VERSION = 1
SECTION_SEPARATOR = "/"
HEADER_KEY = "atu"


def save(
    path: str | os.PathLike,
    *,
    kind: str,
    config: dict[str, Any],
    state_dicts: dict[str, dict[str, torch.Tensor]],
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Writes an atu checkpoint atomically. Tensors are saved contiguous, on CPU, detached.

    Everything is checked (section names, tensors, JSON-able metadata) before a byte is written."""

    tensors: dict[str, torch.Tensor] = {}
    for section, state_dict in state_dicts.items():
        if not section or SECTION_SEPARATOR in section:
            raise ValueError(f"section name {section!r} must be non-empty and not contain {SECTION_SEPARATOR!r}")
        for name, t in state_dict.items():
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"state_dicts[{section!r}][{name!r}] is {type(t).__name__}, not a tensor")
            tensors[f"{section}{SECTION_SEPARATOR}{name}"] = t.detach().to("cpu").contiguous()
    text = header_json(
        kind=kind,
        config=config,
        metadata=metadata,
        sections=list(state_dicts),
        order={section: list(state_dict) for section, state_dict in state_dicts.items()},
        tensors_sha256=tensors_sha256(tensors),
    )
    return write_with(path, lambda tmp: safetensors.torch.save_file(tensors, str(tmp), metadata={HEADER_KEY: text}))


def header_json(
    *,
    kind: str,
    config: dict[str, Any],
    metadata: dict[str, Any] | None,
    sections: list[str],
    order: dict[str, list[str]] | None = None,
    tensors_sha256: str | None = None,
) -> str:
    """The JSON header; a TypeError for values JSON cannot hold, raised before anything is written."""
    header = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": config,
        "metadata": metadata or {},
        "sections": sections,
    }
    if order is not None:
        header["order"] = order
    if tensors_sha256 is not None:
        header["tensors_sha256"] = tensors_sha256
    return json.dumps(header, sort_keys=True, default=_json_default)


def parse_header(path: Path, text: str) -> dict[str, Any]:
    try:
        header = json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: the atu metadata is not valid JSON: {err}") from err
    except RecursionError:  # crafted metadata nested past the parser's depth
        raise CheckpointError(f"{path}: the atu metadata is nested too deeply to be a checkpoint's") from None
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        version = header.get("format_version") if isinstance(header, dict) else None
        raise CheckpointError(f"{path}: atu checkpoint format {version!r}; this atu reads format {FORMAT_VERSION}")
    return header


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, the header's string metadata); CheckpointError for a truncated or corrupt file."""

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw_metadata = fh.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint (truncated or corrupt?): {err}") from err
    return tensors, raw_metadata


def split_sections(
    tensors: dict[str, torch.Tensor], sections: list[str], order: dict[str, list[str]] | None = None
) -> dict[str, dict[str, torch.Tensor]]:
    """{"g/style.1.weight": t, ...} -> {"g": {"style.1.weight": t}, ...}, keeping empty sections and,
    where `order` gives it, each section's original entry order."""
    state_dicts: dict[str, dict[str, torch.Tensor]] = {s: {} for s in sections}
    for section, names in (order or {}).items():
        for name in names:
            key = f"{section}{SECTION_SEPARATOR}{name}"
            if key in tensors:
                state_dicts.setdefault(section, {})[name] = tensors[key]
    for key, t in tensors.items():
        section, _, name = key.partition(SECTION_SEPARATOR)
        state_dicts.setdefault(section, {}).setdefault(name, t)
    return state_dicts


def load_atu(path: str | os.PathLike) -> Checkpoint:
    """Reads an atu checkpoint (safetensors + JSON); a truncated or corrupt file raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    tensors, raw_metadata = read_safetensors(path)
    if HEADER_KEY not in raw_metadata:
        raise CheckpointError(f"{path}: a safetensors file without atu metadata; not an atu checkpoint")
    return from_header(path, parse_header(path, raw_metadata[HEADER_KEY]), tensors)


def from_header(path: Path, header: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Checkpoint:
    check_digest(path, header, tensors)
    state_dicts = split_sections(tensors, header.get("sections", []), header.get("order"))
    return Checkpoint(
        path=path,
        format="atu",
        kind=header["kind"],
        config=header["config"],
        state_dicts=state_dicts,
        metadata=header.get("metadata", {}),
        file_format=SAFETENSORS,
    )


def check_digest(path: Path, header: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """The flat "section/name" tensors are those atu wrote (files written before atu recorded a digest
    have none to check)."""
    expected = header.get("tensors_sha256")
    if expected is None:
        return
    if tensors_sha256(tensors) != expected:
        raise CheckpointError(
            f"{path}: its tensors do not match the sha256 atu wrote with them: the file was "
            "changed or damaged after it was written; refused"
        )


def _json_default(obj):
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON serialisable: {obj!r}")
