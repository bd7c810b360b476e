"""Which implementation every atu_ext op runs: the compiled kernels or the plain-PyTorch references.

    ATU_OPS=reference atu demo ...          # the environment sets the process default
    atu demo --ops reference ...            # every command's flag does the same
    with atu_ext.use_ops("reference"): ...  # for one block of code

"compiled" (the default) runs the kernels of atu_ext._C. "reference" runs every StyleGAN2 op
through atu_ext.reference and the penalties through a torch._foreach formulation, on any device:
the way to run everything on a GPU for which this build has no kernels, or to cross-check the
kernels on real work. The mode is only ever chosen, never fallen back to: in compiled mode a tensor
on a device this build has no kernels for stops the op before any work (`require_kernels`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from . import _C

MODES = ("compiled", "reference")
ENV_VAR = "ATU_OPS"


class OpsUnavailableError(RuntimeError):
    """A tensor reached an op in compiled mode on a device this build has no kernels for."""


def _checked(mode: str, where: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{where}: unknown ops mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def _from_environment() -> str:
    value = os.environ.get(ENV_VAR, "").strip()
    return _checked(value, f"the environment variable {ENV_VAR}") if value else "compiled"


# A plain module global, not a ContextVar: torch.compile traces reads of globals (and guards on
# them, so a graph compiled in one mode is recompiled in the other) but cannot trace a ContextVar.
_mode = _from_environment()


def current() -> str:
    """The mode in force: a `use_ops` block's, else the process default."""
    return _mode


def set_default(mode: str) -> None:
    """Sets the process-wide mode (what ATU_OPS set at import), e.g. from a command's --ops."""
    global _mode
    _mode = _checked(mode, "set_default")


@contextlib.contextmanager
def use_ops(mode: str) -> Iterator[None]:
    """Runs the block in `mode` ("compiled" or "reference"), then restores the previous mode."""
    global _mode
    previous, _mode = _mode, _checked(mode, "use_ops")
    try:
        yield
    finally:
        _mode = previous


def reference_mode() -> bool:
    return current() == "reference"


def has_kernels_for(device: torch.device | str) -> bool:
    """Whether this build has compiled kernels for tensors on `device`."""
    kind = torch.device(device).type
    # meta: shape inference runs the fake kernels, which every op has
    return kind in ("cpu", "meta") or (kind == "cuda" and bool(_C.built_with_cuda))


def require_kernels(op: str, device: torch.device | str) -> None:
    """In compiled mode, stops with OpsUnavailableError when this build cannot run `op` on `device`."""
    if reference_mode() or has_kernels_for(device):
        return
    kind = torch.device(device).type
    build = (
        "a CPU-only build (atu_ext.built_with_cuda is False)"
        if kind == "cuda"
        else f"built with kernels for cpu{' and cuda' if _C.built_with_cuda else ''} only"
    )
    raise OpsUnavailableError(
        f"atu_ext.{op}: a tensor on {device} reached the compiled op, but this atu_ext is {build}, "
        f"against torch {_C.built_against_torch}. Either rebuild with the CUDA kernels (a CUDA torch and "
        "nvcc installed: ATU_CUDA=ON pip install --no-build-isolation --no-deps --force-reinstall .), or "
        f"run the plain-PyTorch reference ops on any device: {ENV_VAR}=reference, or --ops reference on "
        "any atu command."
    )
