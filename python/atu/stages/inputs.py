"""The inputs of both Adapt-then-Unlearn stages, read and checked before any work starts: the
pre-trained checkpoint (θ_G = its g_ema, and its D), the feedback images, the adapted models θ_N.

Every error names the option and the file, and says what was expected.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from torch import nn

from .. import checkpoint as ckpt
from ..checkpoint.feedback_bundle import load_bundle
from ..gan.run import MODEL_FILE
from ..models.channels import resolve_channels


def require_file(path: str | os.PathLike, option: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(f"{option} {path}: a folder, expected a file")
    if not path.is_file():
        raise FileNotFoundError(f"{option} {path}: no such file")
    return path


def load_pretrained(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, nn.Module]:
    """(G, D): G holds θ_G (the checkpoint's g_ema, the generator users sample from), D its
    discriminator, which both stages continue to train."""
    path = require_file(path, "--gen")
    checkpoint = ckpt.load(path)
    missing = [s for s in ("g_ema", "d") if s not in checkpoint.state_dicts]
    if missing:
        raise ckpt.CheckpointError(
            f"--gen {path}: no {' and no '.join(missing)} section; both stages need the "
            f"pre-trained g_ema and its discriminator d (sections: {checkpoint.sections})"
        )
    return checkpoint.generator("g_ema", device=device), checkpoint.discriminator("d", device=device)


def check_feedback_matches(bundle, path: str | os.PathLike, gen: dict, resolution: int) -> None:
    """The bundle was drawn from this generator: its images have the generator's resolution and, where
    the bundle recorded its generator file (atu feedback and atu label do), that file's bytes are
    --gen's. `gen` is the run's record of --gen ({"path", "sha256"}, gan.run.describe_inputs), so the
    file is not hashed twice. Marks made on another model's samples say nothing about this one's."""
    size = tuple(bundle.images.shape[-2:])
    if size != (resolution, resolution):
        raise ValueError(
            f"--feedback {path}: its images are {size[0]}×{size[1]} but the generator makes "
            f"{resolution}×{resolution}; the feedback must come from this generator"
        )
    recorded = (bundle.metadata.get("generator") or {}).get("sha256")
    if recorded is not None and recorded != gen["sha256"]:
        drawn_from = bundle.metadata["generator"].get("path", "another file")
        raise ValueError(
            f"--feedback {path} was drawn from {drawn_from} (sha256 {recorded[:12]}…), not from "
            f"--gen {gen['path']} (sha256 {gen['sha256'][:12]}…); draw the feedback from this "
            f"generator (atu feedback --gen {gen['path']} ...)"
        )


def load_feedback_images(path: str | os.PathLike, gen: dict, resolution: int, kind: str) -> torch.Tensor:
    """The negatives (kind "negatives": stage 1) or positives ("positives": stage 2) of a feedback
    bundle as float images in [-1, 1], after checking it was drawn from --gen (check_feedback_matches)."""

    path = require_file(path, "--feedback")
    bundle = load_bundle(path)
    check_feedback_matches(bundle, path, gen, resolution)
    if kind == "negatives":
        if bundle.n_undesired == 0:
            raise ValueError(
                f"--feedback {path}: no sample is marked undesired (of {len(bundle)}); stage 1 "
                f"adapts to the undesired samples, so there is nothing to adapt to"
            )
        return bundle.negatives()
    if kind == "positives":
        if bundle.n_undesired == len(bundle):
            raise ValueError(
                f"--feedback {path}: all {len(bundle)} samples are marked undesired; stage 2 "
                f"trains on the desired ones and there are none"
            )
        return bundle.positives()
    raise ValueError(f"kind must be 'negatives' or 'positives', got {kind!r}")


def adapted_model_files(adapted: str | os.PathLike | list) -> list[Path]:
    """The θ_N files: a list of files, or the folder of an `atu adapt` run (its model_<j>/ sub-runs,
    in order of j; every one must have finished)."""
    items = [adapted] if isinstance(adapted, (str, os.PathLike)) else list(adapted)
    if not items:
        raise ValueError("--adapted: no adapted models given")
    if len(items) == 1 and Path(items[0]).is_dir():
        folder = Path(items[0])
        subruns = sorted(
            (p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"model_\d+", p.name)),
            key=lambda p: int(p.name.split("_")[1]),
        )
        if not subruns:
            raise FileNotFoundError(
                f"--adapted {folder}: no model_<j>/ sub-runs; expected the --out folder "
                f"of `atu adapt`, or the adapted model files themselves"
            )
        unfinished = [p.name for p in subruns if not (p / MODEL_FILE).is_file()]
        if unfinished:
            raise FileNotFoundError(
                f"--adapted {folder}: {unfinished} have not finished (no {MODEL_FILE}); "
                f"continue them with `atu adapt ... --resume`"
            )
        return [p / MODEL_FILE for p in subruns]
    return [require_file(p, "--adapted") for p in items]


def load_adapted(files: list[Path], G: nn.Module) -> list[list[torch.Tensor]]:
    """Each θ_N^j's g_ema as a list of tensors in the order of G.parameters() (the order the
    repulsion pairs them with θ), on G's device; the architecture must be G's."""
    named = list(G.named_parameters())
    device = named[0][1].device
    references = []
    for path in files:
        checkpoint = ckpt.load(path)
        if "g_ema" not in checkpoint.state_dicts:
            raise ckpt.CheckpointError(f"--adapted {path}: no g_ema section (sections: {checkpoint.sections})")
        theirs, ours = checkpoint.generator_config("g_ema"), G.config()
        if _comparable(theirs) != _comparable(ours):
            raise ValueError(
                f"--adapted {path}: its generator {theirs} differs from --gen's {ours}; "
                f"the adapted models must be adapted from this generator"
            )
        state = checkpoint.state_dict("g_ema")
        wrong = [n for n, p in named if n not in state or tuple(state[n].shape) != tuple(p.shape)]
        if wrong:
            raise ValueError(
                f"--adapted {path}: parameters {wrong[:3]} are missing or shaped differently from --gen's generator"
            )
        references.append([state[n].to(device=device, dtype=p.dtype) for n, p in named])
    return references


def _comparable(config: dict) -> dict:
    """What makes two generators the same architecture, whatever spelling the config uses (widths
    written out or from rosinality's table, JSON lists for tuples, string keys)."""

    size = int(config["size"])
    return {
        "size": size,
        "style_dim": int(config.get("style_dim", 512)),
        "n_mlp": int(config.get("n_mlp", 8)),
        "lr_mlp": float(config.get("lr_mlp", 0.01)),
        "blur_kernel": [float(v) for v in config.get("blur_kernel", (1, 3, 3, 1))],
        "channels": resolve_channels(size, config.get("channel_multiplier", 2), config.get("channels")),
    }
