"""Plain-PyTorch formulations of every atu_ext op, under the ops' own names: the test oracles (called
on float64 copies), baseline B0 of the benchmarks (the per-tensor Python loop with autograd a user
would write) and the reference ops mode. Each lives in its op's module; this one gathers them.
They are never used in place of the compiled kernels unless the reference mode is asked for.
"""

from __future__ import annotations

from .bias_act import bias_act_reference as bias_act
from .modulated_conv import modulated_conv2d_reference as modulated_conv2d
from .penalties import ewc_penalty_reference as ewc_penalty
from .penalties import repulsion_el2_reference as repulsion_el2
from .penalties import repulsion_il2_reference as repulsion_il2
from .penalties import repulsion_nl2_reference as repulsion_nl2
from .penalties import sq_dist_reference as sq_dist
from .upfirdn2d import upfirdn2d_reference as upfirdn2d

__all__ = [
    "bias_act",
    "ewc_penalty",
    "modulated_conv2d",
    "repulsion_el2",
    "repulsion_il2",
    "repulsion_nl2",
    "sq_dist",
    "upfirdn2d",
]
