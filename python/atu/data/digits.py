"""The 1,797 handwritten 8×8 digits bundled with scikit-learn, upsampled: data that ships with atu."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .dataset import ImageDataset

N_DIGITS = 1797
_MAX_VALUE = 16.0  # sklearn's digits are counts of set pixels in 4×4 blocks: 0..16


def load_digits(resolution: int = 32) -> ImageDataset:
    """Digits upsampled bilinearly to `resolution` (16 or 32 px) and mapped from [0, 16] to [-1, 1]."""
    if resolution not in (16, 32):
        raise ValueError(f"digits: resolution must be 16 or 32 px, got {resolution}")
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    small = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1)  # [N, 1, 8, 8]
    big = F.interpolate(small, size=(resolution, resolution), mode="bilinear", align_corners=False)
    images = (big / _MAX_VALUE * 2 - 1).clamp(-1, 1).expand(-1, 3, -1, -1).contiguous()
    return ImageDataset(
        lambda i: images[i],
        torch.as_tensor(bunch.target),
        name="digits",
        resolution=resolution,
        info={
            "source": "sklearn.datasets.load_digits (1,797 8x8 images, 0..16)",
            "preprocessing": f"bilinear upsampling 8->{resolution}, [0,16] -> [-1,1], gray to RGB",
        },
    )
