"""Morphometrics of handwritten digits, as Morpho-MNIST defines them (Castro, Tan, Kainz, Konukoglu,
Glocker: "Morpho-MNIST: Quantitative Assessment and Diagnostics for Representation Learning", JMLR 2019):
the measurements feature-level unlearning judges digits by ("thick strokes" = thickness in the top 10%
of the real training digits, Moon et al. 2024).

Each image is upsampled ×`scale` (bicubic pyramid expansion) and binarised at half-way between its
darkest and brightest value; on that:
  area       pixels of the binary digit, in original pixels² (÷ scale²)
  length     length of its medial axis (skeleton), each step between 8-neighbours counted 1 or √2
  thickness  2 × the mean distance to the background along the medial axis (the stroke's mean width)
  slant      arctan(−u11 / u02) of the upsampled grey image's central moments: the horizontal shear of
             the digit, in radians, positive when it leans right (top to the right of the bottom)

all in original pixels. Digits are white on black, as MNIST's and atu's generators' images.
"""

from __future__ import annotations

import math

import numpy as np
import torch

MEASURES = ("area", "length", "thickness", "slant")
SCALE = 4  # Morpho-MNIST's upsampling factor for sub-pixel measurements
_DIAGONAL = math.sqrt(2.0)


def measure(images: torch.Tensor, scale: int = SCALE) -> dict[str, torch.Tensor]:
    """{measure: float64 [N]} of images [N, C, H, W] (or [N, H, W]) with values in [-1, 1] or [0, 1]
    (only the relative brightness matters); colour images are averaged over channels."""
    from skimage import morphology, transform

    x = images.detach().to(torch.float64).cpu()
    if x.ndim == 4:
        x = x.mean(1)
    if x.ndim != 3:
        raise ValueError(f"images must be [N, C, H, W] or [N, H, W], got {tuple(images.shape)}")
    out = {name: torch.empty(x.shape[0], dtype=torch.float64) for name in MEASURES}
    for i, image in enumerate(x.numpy()):
        hires = transform.pyramid_expand(image, upscale=scale, order=3, channel_axis=None) if scale > 1 else image
        low, high = hires.min(), hires.max()
        binary = hires >= low + (high - low) * 0.5
        skeleton, distance = morphology.medial_axis(binary, return_distance=True, rng=0)
        out["area"][i] = binary.sum() / scale**2
        out["length"][i] = _skeleton_length(skeleton) / scale
        out["thickness"][i] = 2.0 * distance[skeleton].mean() / scale if skeleton.any() else 0.0
        out["slant"][i] = _slant(hires - low)
    return out


def _skeleton_length(skeleton: np.ndarray) -> float:
    """Each pair of 8-neighbouring skeleton pixels counted once: 1 across an edge, √2 across a corner."""
    s = skeleton.astype(np.float64)
    straight = (s[:, 1:] * s[:, :-1]).sum() + (s[1:, :] * s[:-1, :]).sum()
    diagonal = (s[1:, 1:] * s[:-1, :-1]).sum() + (s[1:, :-1] * s[:-1, 1:]).sum()
    return float(straight + _DIAGONAL * diagonal)


def _slant(image: np.ndarray) -> float:
    """arctan(−u11 / u02) of the intensity-weighted central moments (x across, y down the rows)."""
    mass = image.sum()
    if mass <= 0:
        return 0.0
    y, x = np.mgrid[: image.shape[0], : image.shape[1]].astype(np.float64)
    mx, my = (x * image).sum() / mass, (y * image).sum() / mass
    u11 = ((x - mx) * (y - my) * image).sum() / mass
    u02 = ((y - my) ** 2 * image).sum() / mass
    return math.atan(-u11 / u02) if u02 > 0 else 0.0
