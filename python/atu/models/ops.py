"""StyleGAN2's three custom ops as the models call them, with the models' fixed arguments.

Which implementation runs (atu_ext's compiled kernels or its plain-PyTorch references) is atu_ext's
ops mode (atu_ext.ops_mode: ATU_OPS, --ops, `use_ops`), decided there for every op at once.
"""

from __future__ import annotations

import atu_ext
from atu_ext import use_ops  # noqa: F401  (re-exported: atu.models.use_ops)


def upfirdn2d(x, f, up=1, down=1, padding=0, gain=1.0):
    return atu_ext.upfirdn2d(x, f, up=up, down=down, padding=padding, gain=gain)


def bias_act(x, b=None, act="linear", clamp=None):
    return atu_ext.bias_act(x, b, act=act, clamp=clamp)


def modulated_conv2d(x, weight, styles, *, demodulate, up=1, down=1, resample_filter=None):
    return atu_ext.modulated_conv2d(
        x, weight, styles, demodulate=demodulate, up=up, down=down, resample_filter=resample_filter
    )
