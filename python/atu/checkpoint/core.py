"""`Checkpoint`: what any reader returns, whatever the file's format, and how modules are rebuilt from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..models import Discriminator, Generator
from .architecture import infer_discriminator_config, infer_generator_config
from .errors import CheckpointError

# Sections holding model weights, by the names rosinality/stylegan2-pytorch's train.py gives them.
GENERATOR_SECTIONS = ("g_ema", "g")
DISCRIMINATOR_SECTIONS = ("d",)
MODEL_SECTIONS = ("g", "d", "g_ema")  # rosinality's order in its torch.save call


@dataclass
class Checkpoint:
    """A checkpoint in memory.

    `state_dicts` maps a section ("g", "g_ema", "d", ...) to its tensors; `config` holds the
    architecture ({"generator": Generator kwargs, "discriminator": Discriminator kwargs}), stored or
    inferred from the tensors; `metadata` is JSON-able provenance (for rosinality files: the saved
    training arguments); `extras` keeps whatever else the file held, raw (optimizer states, ...);
    `ignored` lists "section/name" entries read but not part of any model (reported, never loaded)."""

    path: Path
    format: str  # "atu", "rosinality" or "state_dict"
    kind: str  # "stylegan2", "classifier", ...
    config: dict[str, Any]
    state_dicts: dict[str, dict[str, torch.Tensor]]
    metadata: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    file_format: str = ""  # "safetensors", "torch-zip" or "pickle"

    @property
    def sections(self) -> list[str]:
        return list(self.state_dicts)

    def state_dict(self, which: str) -> dict[str, torch.Tensor]:
        if which not in self.state_dicts:
            available = ", ".join(self.state_dicts) or "none"
            raise CheckpointError(
                f"{self.path}: no section {which!r} in this checkpoint; available sections: {available}"
            )
        return self.state_dicts[which]

    # ---- architecture ---------------------------------------------------------------------------
    def generator_config(self, which: str = "g_ema") -> dict[str, Any]:
        """Generator kwargs for section `which`: the stored architecture, else inferred from its tensors."""

        state_dict = self.state_dict(which)
        return dict(self.config.get("generator") or infer_generator_config(state_dict, where=self._where(which)))

    def discriminator_config(self, which: str = "d") -> dict[str, Any]:

        state_dict = self.state_dict(which)
        return dict(
            self.config.get("discriminator") or infer_discriminator_config(state_dict, where=self._where(which))
        )

    # ---- modules --------------------------------------------------------------------------------
    def generator(self, which: str = "g_ema", device: str | torch.device = "cpu"):
        """A Generator built from the architecture with section `which` loaded strictly."""

        return self._build(Generator, self.generator_config(which), which, device)

    def discriminator(self, which: str = "d", device: str | torch.device = "cpu"):
        """A Discriminator built from the architecture with section `which` loaded strictly."""

        return self._build(Discriminator, self.discriminator_config(which), which, device)

    def _build(self, cls, config: dict[str, Any], which: str, device) -> torch.nn.Module:
        state_dict = self.state_dict(which)
        try:
            module = cls.from_config(config)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{self._where(which)}: cannot build a {cls.__name__} from {config}: {err}") from err
        try:
            module.load_state_dict(state_dict, strict=True)
        except RuntimeError as err:
            raise CheckpointError(
                f"{self._where(which)}: the tensors do not fit {cls.__name__}({config}): {err}"
            ) from err
        module.origin = self._where(which)  # what errors about the module's outputs name
        module.recorded_conv_clamp = self.recorded_conv_clamp(which)
        return module.to(device)

    def recorded_conv_clamp(self, which: str) -> float | None:
        """The activation clamp section `which` was trained with, where the file records one (an NVlabs
        pickle's conv_clamp; the smallest where its layers differ); None otherwise."""
        notes = (self.metadata.get("networks") or {}).get(which) or {}
        clamps = notes.get("dropped_conv_clamp")
        return min(clamps) if clamps else None

    def _where(self, which: str) -> str:
        return f"{self.path} [{which}]"
