"""The sha256 of a checkpoint's tensors, which atu writes beside them and checks when it reads them
back: a file changed or damaged after atu wrote it (a flipped byte in a feedback bundle, a run's
state edited or truncated) is refused instead of silently used.

It covers each tensor's name, dtype, shape and bytes, in name order, so it depends on the tensors
alone, not on the file format that stores them."""
from __future__ import annotations

import hashlib
from typing import Mapping

import torch


def tensors_sha256(state_dicts: Mapping[str, Mapping[str, torch.Tensor]]) -> str:
    digest = hashlib.sha256()
    entries = sorted((f"{section}/{name}", tensor) for section, state_dict in state_dicts.items()
                     for name, tensor in state_dict.items())
    for key, tensor in entries:
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{key}\0{flat.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()
