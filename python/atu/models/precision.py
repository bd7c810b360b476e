"""Mixed precision as NVlabs' StyleGAN2-ADA trains: the parameters (and so Adam's state and every
penalty over them) stay float32; the convolutions of the highest resolutions run in float16 or
bfloat16, their weights cast at use, so gradients arrive in float32; every convolution's activations
are clamped to ±conv_clamp, which keeps float16's range from overflowing. The mapping network, the
4×4 layers and the discriminator's epilogue stay float32 (NVlabs never reduces below 8×8), and the
generator's image is summed in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
LOWEST_REDUCED_RESOLUTION = 8  # NVlabs' floor: the 4×4 block and the epilogue stay float32
NVLABS_REDUCED_RESOLUTIONS = 4  # StyleGAN2-ADA's num_fp16_res
NVLABS_CONV_CLAMP = 256.0  # StyleGAN2-ADA's conv_clamp wherever it trains with num_fp16_res > 0


@dataclass(frozen=True)
class Precision:
    """Which resolutions compute in which dtype, and the activation clamp.

    name: fp32 (everything float32, nothing clamped: the models as they always ran), bf16 or fp16.
    resolutions: how many of the highest resolutions compute in `name`'s dtype.
    conv_clamp: with a reduced dtype, |activation| ≤ conv_clamp after every convolution (None: none).
    """

    name: str = "fp32"
    resolutions: int = NVLABS_REDUCED_RESOLUTIONS
    conv_clamp: float | None = NVLABS_CONV_CLAMP

    def __post_init__(self):
        if self.name not in DTYPES:
            raise ValueError(f"precision must be one of {', '.join(DTYPES)}, got {self.name!r}")
        if isinstance(self.resolutions, bool) or not isinstance(self.resolutions, int) or self.resolutions < 0:
            raise ValueError(f"reduced_resolutions must be an int >= 0, got {self.resolutions!r}")
        if self.conv_clamp is not None and not (math.isfinite(self.conv_clamp) and self.conv_clamp > 0):
            raise ValueError(f"conv_clamp must be a finite number > 0 (or None), got {self.conv_clamp!r}")

    @property
    def reduced(self) -> bool:
        return self.name != "fp32" and self.resolutions > 0

    @property
    def clamp(self) -> float | None:
        """The activation clamp the layers apply: conv_clamp with a reduced dtype, else none."""
        return self.conv_clamp if self.reduced else None

    def reduced_at(self, resolution: int, size: int) -> torch.dtype | None:
        """The reduced dtype the layers at `resolution` compute in, in a model whose images are `size`
        px (the `resolutions` highest, never below 8×8); None where they compute in the parameters'
        dtype."""
        if not self.reduced:
            return None
        lowest = max(size >> (self.resolutions - 1), LOWEST_REDUCED_RESOLUTION)
        return DTYPES[self.name] if resolution >= lowest else None


FP32 = Precision()


def set_conv_clamp(module: torch.nn.Module, clamp: float | None) -> None:
    """Every layer under `module` that clamps its activations (a `conv_clamp` attribute) clamps at `clamp`."""
    for layer in module.modules():
        if hasattr(layer, "conv_clamp"):
            layer.conv_clamp = clamp


class MixedPrecisionModel:
    """What the generator and the discriminator share for mixed-precision training: the precision they
    compute in (FP32 until set) and the activation clamp their checkpoint records, where it records one
    (NVlabs' conv_clamp; atu.checkpoint sets it), which training clamps at unless told otherwise."""

    precision: Precision = FP32
    recorded_conv_clamp: float | None = None

    def set_precision(self, precision: Precision):
        """Compute the highest resolutions in a reduced dtype with clamped activations; the parameters
        stay as they are. FP32 undoes it."""
        self.precision = precision
        set_conv_clamp(self, precision.clamp)
        return self
