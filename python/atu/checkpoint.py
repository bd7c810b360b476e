"""Checkpoints: atu's own format (safetensors + JSON metadata).

atu format: one `.safetensors` file. Tensors are stored as "<section>/<name>" (sections such as
"g", "g_ema", "d", "classifier"); the safetensors header's metadata holds, under the key "atu", a
JSON object {"format_version", "kind", "config", "metadata"}: the architecture (`config`, enough to
rebuild the module) and provenance (training step, data, seed, command, versions). Writes are atomic.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .atomic import write_with

FORMAT_VERSION = 1
_SEP = "/"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read as asked (missing, truncated, corrupt, unsafe, wrong kind)."""


@dataclass
class Checkpoint:
    path: Path
    format: str                                   # "atu" or "rosinality"
    kind: str                                     # "stylegan2", "classifier", ...
    config: dict[str, Any]                        # architecture, enough to rebuild the modules
    state_dicts: dict[str, dict[str, torch.Tensor]]
    metadata: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # entries read but not used (reported)


def save(path: str | os.PathLike, *, kind: str, config: dict[str, Any],
         state_dicts: dict[str, dict[str, torch.Tensor]], metadata: dict[str, Any] | None = None) -> Path:
    """Writes an atu checkpoint atomically. Tensors are saved contiguous, on CPU, detached."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for section, sd in state_dicts.items():
        if _SEP in section or not section:
            raise ValueError(f"section name {section!r} must be non-empty and not contain {_SEP!r}")
        for name, t in sd.items():
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"state_dicts[{section!r}][{name!r}] is {type(t).__name__}, not a tensor")
            tensors[f"{section}{_SEP}{name}"] = t.detach().to("cpu").contiguous()
    header = {"format_version": FORMAT_VERSION, "kind": kind, "config": config,
              "metadata": metadata or {}, "sections": list(state_dicts)}
    text = json.dumps(header, sort_keys=True, default=_json_default)  # fails before anything is written
    return write_with(path, lambda tmp: save_file(tensors, str(tmp), metadata={"atu": text}))


def load_atu(path: str | os.PathLike) -> Checkpoint:
    """Reads an atu checkpoint (safetensors + JSON); a truncated or corrupt file raises CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw_meta = fh.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint (truncated or corrupt?): {err}") from err
    if "atu" not in raw_meta:
        raise CheckpointError(f"{path}: a safetensors file without atu metadata; not an atu checkpoint")
    try:
        header = json.loads(raw_meta["atu"])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: the atu metadata is not valid JSON: {err}") from err
    if header.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: atu checkpoint format {header.get('format_version')!r}; "
                              f"this atu reads format {FORMAT_VERSION}")
    state_dicts: dict[str, dict[str, torch.Tensor]] = {s: {} for s in header.get("sections", [])}
    for key, t in tensors.items():
        section, _, name = key.partition(_SEP)
        state_dicts.setdefault(section, {})[name] = t
    return Checkpoint(path=path, format="atu", kind=header["kind"], config=header["config"],
                      state_dicts=state_dicts, metadata=header.get("metadata", {}))


def _json_default(obj):
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON serialisable: {obj!r}")
