"""`load(path)`: any checkpoint atu understands, told apart by content, checked before use."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..models import Discriminator, Generator
from .architecture import check_layout
from .atu_format import HEADER_KEY, SECTION_SEPARATOR, from_header, parse_header, read_safetensors, split_sections
from .core import DISCRIMINATOR_SECTIONS, GENERATOR_SECTIONS, Checkpoint
from .errors import CheckpointWarning
from .file_format import SAFETENSORS, sniff_format
from .rosinality import from_torch_object
from .torch_file import load_torch_file


def load(path: str | os.PathLike) -> Checkpoint:
    """Reads an atu checkpoint (safetensors + JSON), a rosinality/ATU .pt file or a bare state dict.

    The file's kind comes from its first bytes, not its name. torch files are read with
    torch.load(weights_only=True) and an explicit allow-list: a file that needs anything else is
    refused (CheckpointError naming it) and nothing from it runs. StyleGAN2 sections (g, g_ema, d)
    are checked against their architecture here, so a file that loads also builds."""
    path = Path(path)
    file_format = sniff_format(path)
    if file_format == SAFETENSORS:
        checkpoint = _from_safetensors(path)
    else:
        checkpoint = from_torch_object(path, load_torch_file(path, file_format), file_format=file_format)
    if checkpoint.kind == "stylegan2":
        _check_model_sections(checkpoint)
    if checkpoint.ignored:
        warnings.warn(f"{path}: ignored {len(checkpoint.ignored)} entries that are not model weights "
                      f"(*_mean / *_fisher statistics of Adapt-then-Unlearn's stage 1, e.g. "
                      f"{checkpoint.ignored[0]}); they are listed in Checkpoint.ignored",
                      CheckpointWarning, stacklevel=2)
    return checkpoint


def _from_safetensors(path: Path) -> Checkpoint:
    tensors, raw_metadata = read_safetensors(path)
    if HEADER_KEY in raw_metadata:
        return from_header(path, parse_header(path, raw_metadata[HEADER_KEY]), tensors)
    # A safetensors file someone else wrote: "<section>/<name>" keys, or one bare state dict.
    if tensors and all(SECTION_SEPARATOR in k for k in tensors):
        return from_torch_object(path, split_sections(tensors, []), file_format=SAFETENSORS)
    return from_torch_object(path, tensors, file_format=SAFETENSORS)


def _check_model_sections(checkpoint: Checkpoint) -> None:
    for section in checkpoint.sections:
        if section in GENERATOR_SECTIONS:
            check_layout(checkpoint.state_dicts[section], Generator, checkpoint.generator_config(section),
                         f"{checkpoint.path} [{section}]")
        elif section in DISCRIMINATOR_SECTIONS:
            check_layout(checkpoint.state_dicts[section], Discriminator, checkpoint.discriminator_config(section),
                         f"{checkpoint.path} [{section}]")
