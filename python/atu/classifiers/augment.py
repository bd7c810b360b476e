"""Seeded training-time augmentation: small random translations and (for faces) horizontal flips.

Generated digits are rarely centred exactly like the 8x8 originals; shifting the training images by
a couple of pixels makes the classifier judge them on shape rather than position. Borders are padded
by replicating the edge pixels, which for digits is the background.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    max_shift: int = 0  # pixels in each direction
    hflip: bool = False  # mirror half the images (faces: yes; digits: never)

    def to_dict(self) -> dict:
        return asdict(self)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augmented copy of a batch [N, C, R, R]; all randomness comes from `generator`."""
        n = x.shape[0]
        if self.max_shift > 0:
            x = random_translate(x, self.max_shift, generator)
        if self.hflip:
            flip = torch.rand(n, generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x


def random_translate(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by its own integer (dy, dx) in [-max_shift, max_shift]², size unchanged."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # [N, H, 1]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # [N, 1, W]
    batch = torch.arange(n)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()  # gather per image


def default_augmentation(arch: str, resolution: int) -> Augmentation:
    """Digits: +-2 px at 32 px (scaled with the resolution), no flips. Faces: +-R/32 px and flips."""
    if arch == "lenet":
        return Augmentation(max_shift=max(1, round(2 * resolution / 32)), hflip=False)
    return Augmentation(max_shift=max(1, resolution // 32), hflip=True)
