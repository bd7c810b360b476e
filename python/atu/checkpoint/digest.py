"""The sha256 of a checkpoint's tensors, which atu writes beside them and checks when it reads them
back: a file changed or damaged after atu wrote it (a flipped byte in a feedback bundle, a run's
state edited or truncated) is refused instead of silently used.

It covers each tensor's name, dtype, shape and bytes, in name order, so it depends on the tensors
alone, not on the file format that stores them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """The digest of flat "section/name" tensors (as atu's safetensors files store them; `flat`)."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        tensor = tensors[key]
        flat_tensor = tensor.detach().to("cpu").contiguous().reshape(-1)  # no copy when already so
        digest.update(f"{key}\0{flat_tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(flat_tensor.view(torch.uint8).numpy().tobytes() if flat_tensor.numel() else b"")
    return digest.hexdigest()


def flat(state_dicts: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """{"section/name": tensor} of {section: {name: tensor}}."""
    return {
        f"{section}/{name}": tensor
        for section, state_dict in state_dicts.items()
        for name, tensor in state_dict.items()
    }
