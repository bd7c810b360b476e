"""StyleGAN2 residual discriminator with rosinality/stylegan2-pytorch's state-dict layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .channels import check_size, resolve_channels
from .layers import ConvLayer, EqualLinear, ResBlock
from .precision import MixedPrecisionModel


class Discriminator(MixedPrecisionModel, nn.Module):
    def __init__(
        self,
        size: int,
        channel_multiplier: int = 2,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
        channels: Mapping[int, int] | None = None,
        stddev_group: int = 4,
    ):
        super().__init__()
        self.size = check_size(size)
        self.channel_multiplier, self.blur_kernel = channel_multiplier, tuple(blur_kernel)
        self.channels = resolve_channels(size, channel_multiplier, channels)
        self._explicit_channels = channels is not None
        ch = self.channels
        log_size = size.bit_length() - 1
        blocks: list[nn.Module] = [ConvLayer(3, ch[size], 1)]
        in_ch = ch[size]
        for i in range(log_size, 2, -1):
            out_ch = ch[2 ** (i - 1)]
            blocks.append(ResBlock(in_ch, out_ch, blur_kernel))
            in_ch = out_ch
        self.convs = nn.Sequential(*blocks)
        # the resolution each of convs' blocks reads: the RGB input's, then each residual block's
        self.block_resolutions = [size] + [2**i for i in range(log_size, 2, -1)]
        self.stddev_group, self.stddev_feat = stddev_group, 1
        self.final_conv = ConvLayer(in_ch + 1, ch[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 4 * 4, ch[4], activation="lrelu"), EqualLinear(ch[4], 1))

    def config(self) -> dict:
        cfg = {"size": self.size, "channel_multiplier": self.channel_multiplier, "blur_kernel": list(self.blur_kernel)}
        if self._explicit_channels:
            cfg["channels"] = {str(r): c for r, c in self.channels.items()}
        if self.stddev_group != 4:
            cfg["stddev_group"] = self.stddev_group
        return cfg

    @classmethod
    def from_config(cls, cfg: Mapping) -> Discriminator:
        return cls(**dict(cfg))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.ndim != 4 or image.shape[1] != 3 or image.shape[2:] != (self.size, self.size):
            raise ValueError(f"image must be [N, 3, {self.size}, {self.size}], got {tuple(image.shape)}")
        out = image
        for block, resolution in zip(self.convs, self.block_resolutions):
            out = block(out.to(self.precision.reduced_at(resolution, self.size) or image.dtype))
        out = out.to(image.dtype)
        out = torch.cat([out, self._minibatch_stddev(out)], dim=1)
        out = self.final_conv(out)
        return self.final_linear(out.flatten(1))

    def _minibatch_stddev(self, x: torch.Tensor) -> torch.Tensor:
        """One feature map: the std over groups of samples, averaged over channels and pixels.
        rosinality uses groups of min(N, 4) and fails when that does not divide N; we take the
        largest group size <= stddev_group that divides N (the same result whenever theirs runs)."""
        n, c, h, w = x.shape
        group = next(g for g in range(min(n, self.stddev_group), 0, -1) if n % g == 0)
        y = x.view(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8)
        y = y.mean(dim=(2, 3, 4), keepdim=True).squeeze(2)  # [N/group, 1, 1, 1]
        return y.repeat(group, 1, h, w)
