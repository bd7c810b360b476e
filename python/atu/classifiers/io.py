"""Classifier checkpoints: atu's safetensors format with kind "classifier".

The config holds the architecture ({"arch": "lenet" | "resnet", ...}: enough to rebuild the module),
the tensors live in the section "classifier", and the metadata says how it was trained (data, split
seed, held-out accuracy, command, versions).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from .. import checkpoint as ckpt
from .lenet import LeNet
from .resnet import ResNet

KIND = "classifier"
SECTION = "classifier"
ARCHITECTURES: dict[str, type[nn.Module]] = {LeNet.arch: LeNet, ResNet.arch: ResNet}


def build_classifier(config: dict[str, Any]) -> nn.Module:
    """A freshly initialised classifier from a config dict (as `model.config()` returns)."""
    arch = config.get("arch")
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown classifier arch {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[arch].from_config(config)


def save_classifier(path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any] | None = None) -> Path:
    """Writes the classifier atomically (safetensors + JSON config/metadata)."""
    if getattr(model, "arch", None) not in ARCHITECTURES:
        raise TypeError(
            f"save_classifier: {type(model).__name__} is not an atu classifier "
            f"({', '.join(c.__name__ for c in ARCHITECTURES.values())})"
        )
    return ckpt.save(
        path, kind=KIND, config=model.config(), state_dicts={SECTION: model.state_dict()}, metadata=metadata
    )


def load_classifier(path: str | os.PathLike) -> nn.Module:
    """The classifier stored at `path`, in eval mode on CPU; its training metadata is `model.metadata`."""
    found = ckpt.load_atu(path)
    if found.kind != KIND or SECTION not in found.state_dicts:
        raise ckpt.CheckpointError(
            f"{path}: an atu checkpoint of kind {found.kind!r}, not a classifier "
            f"(train one with `atu train-classifier`)"
        )
    try:
        model = build_classifier(found.config)
        model.load_state_dict(found.state_dicts[SECTION], strict=True)
    except (ValueError, TypeError, RuntimeError) as err:
        raise ckpt.CheckpointError(
            f"{path}: the classifier's weights do not fit its config {found.config}: {err}"
        ) from err
    model.metadata = found.metadata
    model.origin = str(path)  # what errors about the classifier's outputs name
    return model.eval()
