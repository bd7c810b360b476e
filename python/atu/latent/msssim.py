"""MS-SSIM (Wang, Simoncelli, Bovik 2003) for image batches, differentiable, that also works on the
small images of this project (32 px digits).

Per scale j = 1..M, on images filtered with a Gaussian window (11 px, σ = 1.5; "valid" positions
only, as in the original):

    c·s_j = mean over positions of (2σ_xy + C2) / (σ_x² + σ_y² + C2)
    SSIM_M = mean over positions of (2μ_xμ_y + C1)/(μ_x² + μ_y² + C1) · (2σ_xy + C2)/(σ_x² + σ_y² + C2),
             at the coarsest scale only (luminance enters there),
    MS-SSIM = SSIM_M^{w_M} · Π_{j<M} (c·s_j)^{w_j}

per image and channel, then averaged over the channels. Between scales the images are halved by
2×2 average pooling (an odd last row or column is dropped). C1 = (0.01·L)², C2 = (0.03·L)², with L
the data range (2 for images in [-1, 1]).

Why fewer scales on small images: the standard 5 scales with an 11-px window need at least
11·2⁴ = 176 px (libraries such as pytorch-msssim refuse anything below 161 px). The usual adaptation,
used here, keeps the window and the per-scale formula unchanged and drops the coarsest scales that
the window no longer fits in: M = the largest number ≤ 5 with ⌊size / 2^(M−1)⌋ ≥ 11, and the first M
of the standard weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), renormalised to sum to 1
(with all 5 the published weights are used as they are). A 32-px
image gets M = 2 (32 and 16 px), weights (0.1356, 0.8644); 11..21 px gets M = 1, i.e. plain SSIM.
Below 11 px the window does not fit at all: ValueError.

Values of c·s below a tiny floor (1e-6) are raised to it before the fractional power: a negative
structure correlation would otherwise give NaN, and 0^w has an infinite gradient.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

STANDARD_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03
FLOOR = 1e-6


def scales_for(size: int, window: int = WINDOW, max_scales: int = len(STANDARD_WEIGHTS)) -> int:
    """How many scales fit an image whose smaller side is `size` px."""
    if size < window:
        raise ValueError(f"MS-SSIM needs images of at least {window} px (its window); got {size} px")
    m = 1
    while m < max_scales and size // 2**m >= window:
        m += 1
    return m


def scale_weights(m: int) -> tuple[float, ...]:
    """The first m standard weights, renormalised to sum to 1 (all five, as published, unchanged:
    they sum to 1.0001)."""
    head = STANDARD_WEIGHTS[:m]
    if m == len(STANDARD_WEIGHTS):
        return head
    total = math.fsum(head)
    return tuple(w / total for w in head)


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> torch.Tensor:
    """The normalised 1-D Gaussian [size] the 2-D window is the outer product of."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable "valid" Gaussian filtering of every channel of x [N, C, H, W]."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, c1: float, c2: float):
    """(SSIM = l·c·s, c·s), each averaged over positions: [N, C] each. The product is taken per
    position before averaging, as SSIM's map is."""
    mu_x, mu_y = _filter(x, g), _filter(y, g)
    var_x = _filter(x * x, g) - mu_x**2
    var_y = _filter(y * y, g) - mu_y**2
    cov = _filter(x * y, g) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
    return (luminance * contrast_structure).mean((-2, -1)), contrast_structure.mean((-2, -1))


def ms_ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 2.0, scales: int | None = None) -> torch.Tensor:
    """MS-SSIM of each pair of images x[i], y[i] ([N, C, H, W]) -> [N]; 1 for identical images.
    `scales` (default: as many as fit, up to 5) must fit the images."""
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(
            f"expected two image batches [N, C, H, W] of one shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    most = scales_for(min(x.shape[-2:]))
    m = most if scales is None else scales
    if not 1 <= m <= most:
        raise ValueError(
            f"{m} scales do not fit {min(x.shape[-2:])}-px images (at most {most} with an {WINDOW}-px window)"
        )
    weights = scale_weights(m)
    g = gaussian_window().to(x)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    value = None
    for j in range(m):
        ssim, cs = _ssim_terms(x, y, g, c1, c2)
        term = cs if j < m - 1 else ssim
        factor = term.clamp(min=FLOOR) ** weights[j]
        value = factor if value is None else value * factor
        if j < m - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return value.mean(1)
