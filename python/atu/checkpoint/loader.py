"""`load(path)`: any checkpoint atu understands, told apart by content, checked before use."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from ..models import Discriminator, Generator
from . import nvlabs
from .architecture import check_layout
from .atu_format import HEADER_KEY, SECTION_SEPARATOR, from_header, parse_header, read_safetensors, split_sections
from .core import DISCRIMINATOR_SECTIONS, GENERATOR_SECTIONS, Checkpoint
from .errors import CheckpointError, CheckpointWarning
from .file_format import PICKLE, SAFETENSORS, sniff_format
from .nvlabs_pickle import is_nvlabs_file
from .rosinality import from_torch_object
from .torch_file import load_torch_file


def load(path: str | os.PathLike) -> Checkpoint:
    """Reads an atu checkpoint (safetensors + JSON), a rosinality/ATU .pt file, a bare state dict
    or an NVlabs StyleGAN2-ADA network pickle (read without running its code; see nvlabs.py).

    The file's kind comes from its first bytes, not its name. torch files are read with
    torch.load(weights_only=True) and an explicit allow-list: a file that needs anything else is
    refused (CheckpointError naming it) and nothing from it runs. StyleGAN2 sections (g, g_ema, d)
    are checked against their architecture here, so a file that loads also builds."""
    path = Path(path)
    file_format = sniff_format(path)
    if file_format == SAFETENSORS:
        checkpoint = _from_safetensors(path)
    elif file_format == PICKLE and is_nvlabs_file(path):
        checkpoint = nvlabs.checkpoint_from_pickle(path)
    else:
        checkpoint = from_torch_object(path, load_torch_file(path, file_format), file_format=file_format)
    if checkpoint.kind == "stylegan2":
        _check_model_sections(checkpoint)
    if checkpoint.ignored:
        warnings.warn(
            f"{path}: ignored {len(checkpoint.ignored)} entries that are not model weights "
            f"(*_mean / *_fisher statistics of Adapt-then-Unlearn's stage 1, e.g. "
            f"{checkpoint.ignored[0]}); they are listed in Checkpoint.ignored",
            CheckpointWarning,
            stacklevel=2,
        )
    return checkpoint


def _from_safetensors(path: Path) -> Checkpoint:
    tensors, raw_metadata = read_safetensors(path)
    if HEADER_KEY in raw_metadata:
        return from_header(path, parse_header(path, raw_metadata[HEADER_KEY]), tensors)
    # A safetensors file someone else wrote: "<section>/<name>" keys, or one bare state dict.
    if tensors and all(SECTION_SEPARATOR in k for k in tensors):
        return from_torch_object(path, split_sections(tensors, []), file_format=SAFETENSORS)
    return from_torch_object(path, tensors, file_format=SAFETENSORS)


_WEIGHT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _check_weights(state_dict, where: str) -> None:
    """Model weights are floating point and finite: a NaN generator would otherwise draw black
    images and score 0% of anything, and integer weights would be silently cast."""
    for name, t in state_dict.items():
        if t.dtype not in _WEIGHT_DTYPES:
            raise CheckpointError(f"{where}: {name} is {t.dtype}; model weights must be floating point")
        if not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(
                f"{where}: {name} holds {bad} non-finite value(s) (NaN or inf) of {t.numel()}: "
                "the model is broken (a diverged run?); use an earlier checkpoint"
            )


def _check_model_sections(checkpoint: Checkpoint) -> None:
    for section in checkpoint.sections:
        if section in GENERATOR_SECTIONS or section in DISCRIMINATOR_SECTIONS:
            _check_weights(checkpoint.state_dicts[section], f"{checkpoint.path} [{section}]")
        if section in GENERATOR_SECTIONS:
            check_layout(
                checkpoint.state_dicts[section],
                Generator,
                checkpoint.generator_config(section),
                f"{checkpoint.path} [{section}]",
            )
        elif section in DISCRIMINATOR_SECTIONS:
            check_layout(
                checkpoint.state_dicts[section],
                Discriminator,
                checkpoint.discriminator_config(section),
                f"{checkpoint.path} [{section}]",
            )
