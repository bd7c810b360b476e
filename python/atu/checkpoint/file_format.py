"""Which kind of file a checkpoint is, from its first bytes: extensions lie (rosinality's .pt files
are zip archives or, from old torch, bare pickles; people rename .safetensors files)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CheckpointError

SAFETENSORS = "safetensors"  # 8-byte little-endian header length, then a JSON header
TORCH_ZIP = "torch-zip"  # torch.save since torch 1.6: a zip archive holding data.pkl
PICKLE = "pickle"  # torch.save(_use_new_zipfile_serialization=False), or a bare pickle

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80  # pickle protocol >= 2 starts with PROTO <n>
_MAX_SAFETENSORS_HEADER = 100 * 2**20  # safetensors itself refuses headers above 100 MB


def sniff_format(path: str | os.PathLike) -> str:
    """SAFETENSORS, TORCH_ZIP or PICKLE; CheckpointError for a missing, empty or unknown file."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(_ZIP_MAGIC):
        return TORCH_ZIP
    if len(head) >= 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= _MAX_SAFETENSORS_HEADER:
        return SAFETENSORS
    if len(head) >= 2 and head[0] == _PICKLE_PROTO and 2 <= head[1] <= 5:
        return PICKLE
    what = "is empty" if not head else f"starts with {head[:8]!r}"
    raise CheckpointError(
        f"{path}: not a checkpoint atu can read: the file {what}, which is neither "
        f"safetensors, a torch zip archive nor a pickle"
    )
