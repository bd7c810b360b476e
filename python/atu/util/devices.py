"""Which device a run uses: a named device checked against this machine and this build of atu_ext,
or "auto"."""

from __future__ import annotations

import torch

from atu_ext import ops_mode


def check_device(device: str) -> str:
    """A clear error for a device this machine does not have, before any file is read."""
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"--device {device!r}: {err}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is available here; use --device cpu")

    try:
        ops_mode.require_kernels("ops", dev)
    except ops_mode.OpsUnavailableError as err:
        raise ValueError(f"--device {device}: {err}") from err
    return device


def resolve_device(device: str) -> str:
    """check_device, plus "auto": CUDA when this machine has it, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return check_device(device)
