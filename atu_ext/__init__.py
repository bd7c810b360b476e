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
    _in_checkout = os.path.exists(os.path.join(_here, os.pardir, "pyproject.toml"))
    raise ImportError(
        "atu_ext: the compiled extension atu_ext._C could not be loaded "
        f"({exc}). Rebuild it against the torch you run: "
        "`pip install --no-build-isolation --force-reinstall --no-deps .` from the atu checkout "
        "(install torch first; see README.md)."
        + (f" Note: this imported the source tree at {_here}, which holds no build; run from "
           "another directory to use the installed package." if _in_checkout else "")
    ) from exc

from . import _registrations  # noqa: E402,F401  (fake kernels and autograd)
from .bias_act import bias_act  # noqa: E402
from .penalties import (  # noqa: E402
    ewc_penalty,
    repulsion_el2,
    repulsion_il2,
    repulsion_nl2,
    sq_dist,
)
from .modulated_conv import modulated_conv2d  # noqa: E402  (registers its fake kernel and autograd)
from .training import EWC, Repulsion  # noqa: E402
from .upfirdn2d import upfirdn2d  # noqa: E402  (registers its fake kernel and autograd)

built_with_cuda: bool = _C.built_with_cuda

__all__ = [
    "EWC",
    "Repulsion",
    "bias_act",
    "built_with_cuda",
    "ewc_penalty",
    "modulated_conv2d",
    "repulsion_el2",
    "repulsion_il2",
    "repulsion_nl2",
    "sq_dist",
    "upfirdn2d",
]
