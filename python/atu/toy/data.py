"""The toy's world: a mixture of 8 Gaussians on a circle, and the "user" who labels samples.

Mode i sits at angle 2πi/8 on a circle of radius 2 (mode 0 at (2, 0), counter-clockwise), each an
isotropic Gaussian of small std. The labeller stands in for the user of the method's feedback step:
a sample is undesired when its nearest mode is one of the undesired modes. It is closed-form, so
the tests can check it against points worked out by hand.
"""

from __future__ import annotations

import math

import torch

N_MODES = 8
RADIUS = 2.0


def mode_centres(n_modes: int = N_MODES, radius: float = RADIUS) -> torch.Tensor:
    """(n_modes, 2) float32 centres, mode i at angle 2πi/n_modes."""
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def sample_mixture(n: int, gen: torch.Generator, std: float, centres: torch.Tensor) -> torch.Tensor:
    """n points of the mixture (equal weights), drawn on CPU from `gen` so every device sees the
    same data for the same seed."""
    modes = torch.randint(0, centres.shape[0], (n,), generator=gen)
    return centres[modes] + std * torch.randn(n, 2, generator=gen)


def nearest_mode(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre for every point (ties go to the lower index)."""
    return torch.cdist(points.double(), centres.double()).argmin(dim=1)


def undesired_mask(points: torch.Tensor, centres: torch.Tensor, undesired: tuple[int, ...]) -> torch.Tensor:
    """The labeller: True where the point's nearest mode is undesired."""
    wanted = torch.tensor(sorted(undesired), dtype=torch.long)
    return torch.isin(nearest_mode(points, centres), wanted)
