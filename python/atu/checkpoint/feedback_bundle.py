"""The feedback bundle: which generated samples the user finds undesired.

One atu-format file (safetensors + JSON, written atomically), kind "feedback", section "feedback":
  latents    float32 [n, style_dim]   the z of every sample (seeded, so the bank can be redrawn)
  images     uint8   [n, 3, R, R]     the samples as shown to the user (0..255, i.e. [-1, 1] mapped)
  undesired  uint8   [n]              1 = marked undesired (a negative), 0 = desired (a positive)
metadata: the generator (path, sha256), sample seed and truncation, who labelled (classifier and its
undesired class, or a marks file), counts, provenance. Stage 1 trains on the negatives, stage 2 on the
positives; `atu label` (the web page) writes the same format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .atu_format import load_atu, save
from .errors import CheckpointError

KIND = "feedback"
SECTION = "feedback"


def images_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> 0..255 bytes (rounded, clamped): how samples are stored and shown."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def uint8_to_images(data: torch.Tensor) -> torch.Tensor:
    return data.to(torch.float32) / 127.5 - 1


@dataclass
class FeedbackBundle:
    latents: torch.Tensor  # [n, style_dim] float32
    images: torch.Tensor  # [n, 3, R, R] uint8
    undesired: torch.Tensor  # [n] bool
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        n = self.latents.shape[0]
        if self.latents.ndim != 2 or self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(
                f"feedback: latents must be [n, style_dim] and images [n, 3, R, R], got "
                f"{tuple(self.latents.shape)} and {tuple(self.images.shape)}"
            )
        if self.images.shape[0] != n or self.undesired.shape != (n,):
            raise ValueError(
                f"feedback: {n} latents, {self.images.shape[0]} images and "
                f"{tuple(self.undesired.shape)} marks must all count the same samples"
            )
        if self.images.dtype != torch.uint8:
            raise TypeError(f"feedback: images are stored as uint8, got {self.images.dtype} (use images_to_uint8)")
        self.undesired = self.undesired.to(torch.bool)

    def __len__(self) -> int:
        return self.latents.shape[0]

    @property
    def n_undesired(self) -> int:
        return int(self.undesired.sum())

    def negatives(self) -> torch.Tensor:
        """The undesired samples as float images in [-1, 1] (stage 1's training data)."""
        return uint8_to_images(self.images[self.undesired])

    def positives(self) -> torch.Tensor:
        """The desired samples as float images in [-1, 1] (stage 2's training data)."""
        return uint8_to_images(self.images[~self.undesired])

    def require_both_kinds(self, where: str = "feedback") -> None:
        """Adapt-then-Unlearn needs negatives (stage 1) and positives (stage 2)."""
        if self.n_undesired == 0:
            raise ValueError(
                f"{where}: no sample is marked undesired out of {len(self)}; nothing to unlearn "
                f"(draw more samples or check the labeller)"
            )
        if self.n_undesired == len(self):
            raise ValueError(f"{where}: all {len(self)} samples are marked undesired; stage 2 needs desired ones")


def save_bundle(path: str | os.PathLike, bundle: FeedbackBundle) -> Path:
    meta = {**bundle.metadata, "n": len(bundle), "n_undesired": bundle.n_undesired}
    return save(
        path,
        kind=KIND,
        config={"style_dim": int(bundle.latents.shape[1]), "resolution": int(bundle.images.shape[-1])},
        state_dicts={
            SECTION: {
                "latents": bundle.latents.float(),
                "images": bundle.images,
                "undesired": bundle.undesired.to(torch.uint8),
            }
        },
        metadata=meta,
    )


def load_bundle(path: str | os.PathLike) -> FeedbackBundle:
    ck = load_atu(path)
    if ck.kind != KIND or SECTION not in ck.state_dicts:
        raise CheckpointError(f"{path}: a {ck.kind!r} file, not a feedback bundle")
    t = ck.state_dicts[SECTION]
    missing = sorted({"latents", "images", "undesired"} - set(t))
    if missing:
        raise CheckpointError(f"{path}: feedback bundle lacks {missing}")
    if not t["latents"].is_floating_point() or t["undesired"].dtype not in (torch.uint8, torch.bool):
        raise CheckpointError(
            f"{path}: feedback bundle with {t['latents'].dtype} latents and {t['undesired'].dtype} "
            "marks; a bundle holds float latents and 0/1 marks"
        )
    if t["undesired"].numel() and int(t["undesired"].to(torch.uint8).max()) > 1:
        raise CheckpointError(f"{path}: feedback bundle marks other than 0 and 1")
    _check_records(path, ck.metadata)
    try:
        return FeedbackBundle(t["latents"], t["images"], t["undesired"], dict(ck.metadata))
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: inconsistent feedback bundle: {err}") from err


def _check_records(path, metadata: Any) -> None:
    """The records stages read from a bundle's metadata are what atu writes: `generator` and
    `labeller` objects, a file's path a string and its sha256 64 hex digits, a class an integer."""
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: feedback bundle metadata is a {type(metadata).__name__}, not an object")
    for key in ("generator", "labeller"):
        record = metadata.get(key)
        if record is None:
            continue
        if not isinstance(record, dict):
            raise CheckpointError(f"{path}: its {key} record is a {type(record).__name__}, not an object")
        sha = record.get("sha256")
        if sha is not None and not (
            isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)
        ):
            raise CheckpointError(f"{path}: its {key} sha256 {str(sha)[:70]!r} is not 64 hexadecimal digits")
        if "path" in record and not isinstance(record["path"], str):
            raise CheckpointError(f"{path}: its {key} path is a {type(record['path']).__name__}, not a string")
        for name in ("undesired_class",):
            value = record.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise CheckpointError(f"{path}: its {key} {name} {str(value)[:40]!r} is not an integer")
