"""atu_ext: fused CPU/CUDA kernels for Adapt-then-Unlearn.

Parameter-space penalties over all tensors of a model at once (squared distance, the IL2/NL2/EL2
repulsion losses, EWC) and StyleGAN2's ops: ``upfirdn2d`` (resampling with an FIR filter), ``bias_act``
(fused bias + activation) and ``modulated_conv2d``, on CPU and CUDA, as registered
``torch.ops.atu.*`` custom ops with fake kernels and autograd of every order training needs.
"""

import os

import torch  # noqa: F401  (loads libtorch before our extension links against it)

try:
    from . import _C  # noqa: F401  (registers torch.ops.atu.*)
except ImportError as exc:  # no silent fallback: the reference code is never used in its place
    _here = os.path.dirname(os.path.abspath(__file__))
    _in_checkout = os.path.exists(os.path.join(_here, os.pardir, os.pardir, "pyproject.toml"))
    raise ImportError(
        "atu_ext: the compiled extension atu_ext._C could not be loaded "
        f"({exc}). Rebuild it against the torch you run: "
        "`pip install --no-build-isolation --force-reinstall --no-deps .` from the atu checkout "
        "(install torch first; see README.md)."
        + (
            f" Note: this imported the source tree at {_here} (is the checkout's python/ on "
            "PYTHONPATH?), which holds no build: use the installed package."
            if _in_checkout
            else ""
        )
    ) from exc


def _release(version: str) -> tuple[int, int]:
    """(major, minor) of a torch version string: "2.14.1+cu130" -> (2, 14)."""
    major, minor = version.split("+")[0].split(".")[:2]
    return int(major), int(minor)


if _release(torch.__version__) < _release(_C.target_torch):
    # The module calls torch only through the stable ABI of its target release: an older torch
    # lacks functions it needs, so it is refused here rather than at the first op.
    raise ImportError(
        f"atu_ext: torch {torch.__version__} is older than torch {_C.target_torch}, the oldest torch this "
        f"atu_ext runs with (it was built against torch {_C.built_against_torch} on the stable ABI of "
        f"{_C.target_torch}). Install torch>={_C.target_torch}."
    )

# The ops' Python half (fake kernels, autograd), only once the compiled half is known to fit this torch.
from . import ops_mode  # noqa: E402
from .bias_act import bias_act  # noqa: E402
from .modulated_conv import modulated_conv2d  # noqa: E402  (registers its fake kernel and autograd)
from .ops_mode import OpsUnavailableError, use_ops  # noqa: E402
from .penalties import (  # noqa: E402
    ewc_penalty,
    repulsion_el2,
    repulsion_il2,
    repulsion_nl2,
    sq_dist,
)
from .training import EWC, Repulsion  # noqa: E402
from .upfirdn2d import upfirdn2d  # noqa: E402  (registers its fake kernel and autograd)

built_with_cuda: bool = _C.built_with_cuda


def build_info() -> dict:
    """How this atu_ext was built and which ops mode is in force: recorded with every result."""
    return {
        "built_against_torch": _C.built_against_torch,
        "target_torch": _C.target_torch,
        "torch": torch.__version__,
        "cuda_kernels": bool(_C.built_with_cuda),
        "cuda_architectures": _C.cuda_architectures,
        "cpu_loops": _C.cpu_isa(),
        "ops": ops_mode.current(),
    }


__all__ = [
    "EWC",
    "OpsUnavailableError",
    "build_info",
    "use_ops",
    "Repulsion",
    "bias_act",
    "built_with_cuda",
    "ewc_penalty",
    "modulated_conv2d",
    "ops_mode",
    "repulsion_el2",
    "repulsion_il2",
    "repulsion_nl2",
    "sq_dist",
    "upfirdn2d",
]
