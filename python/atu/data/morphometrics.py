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

import functools
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

MEASURES = ("area", "length", "thickness", "slant")
SCALE = 4  # Morpho-MNIST's upsampling factor for sub-pixel measurements
_DIAGONAL = math.sqrt(2.0)
_CHUNK = 64  # images per task of the thread pool


def measure(images: torch.Tensor, scale: int = SCALE, threads: int | None = None) -> dict[str, torch.Tensor]:
    """{measure: float64 [N]} of images [N, C, H, W] (or [N, H, W]) with values in [-1, 1] or [0, 1]
    (only the relative brightness matters); colour images are averaged over channels. The images are
    measured `threads` at a time (default: torch's intra-op thread count), each on its own, so the
    values do not depend on it (the upsampling and the distance transform run without Python's lock)."""
    x = images.detach().to(torch.float64).cpu()
    if x.ndim == 4:
        x = x.mean(1)
    if x.ndim != 3:
        raise ValueError(f"images must be [N, C, H, W] or [N, H, W], got {tuple(images.shape)}")
    threads = torch.get_num_threads() if threads is None else threads
    chunks = list(torch.split(x, _CHUNK))
    if threads > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(lambda chunk: _measure_each(chunk.numpy(), scale), chunks))
    else:
        parts = [_measure_each(chunk.numpy(), scale) for chunk in chunks]
    return {name: torch.cat([part[name] for part in parts]) for name in MEASURES}


def _measure_each(x: np.ndarray, scale: int) -> dict[str, torch.Tensor]:
    from skimage import transform

    out = {name: torch.empty(x.shape[0], dtype=torch.float64) for name in MEASURES}
    for i, image in enumerate(x):
        hires = transform.pyramid_expand(image, upscale=scale, order=3, channel_axis=None) if scale > 1 else image
        low, high = hires.min(), hires.max()
        binary = hires >= low + (high - low) * 0.5
        skeleton, distance = medial_axis(binary)
        out["area"][i] = binary.sum() / scale**2
        out["length"][i] = _skeleton_length(skeleton) / scale
        out["thickness"][i] = 2.0 * distance[skeleton].mean() / scale if skeleton.any() else 0.0
        out["slant"][i] = _slant(hires - low)
    return out


def medial_axis(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(skeleton, distance to the background) of a 2-D bool image: scikit-image's
    `morphology.medial_axis(binary, return_distance=True, rng=0)`, pixel for pixel, without rebuilding
    its two 512-entry lookup tables on every call (they are most of its cost on a digit)."""
    from scipy import ndimage

    thinning_loop, keep, cornerness = _medial_axis_tables()
    if thinning_loop is None:  # a scikit-image without the helper: its public function, same result
        from skimage import morphology

        return morphology.medial_axis(binary, return_distance=True, rng=0)
    binary = np.asarray(binary, dtype=bool)
    distance = ndimage.distance_transform_edt(binary)
    rows, cols = np.nonzero(binary)  # row-major, as scikit-image enumerates the pixels
    neighbourhood = ndimage.correlate(binary.astype(np.intp), _NEIGHBOUR_BITS, mode="constant")
    tiebreaker = np.random.default_rng(0).permutation(np.arange(rows.size))
    order = np.lexsort((tiebreaker, cornerness[neighbourhood[rows, cols]], distance[rows, cols]))
    skeleton = np.ascontiguousarray(binary, dtype=np.uint8)
    thinning_loop(
        skeleton,
        np.ascontiguousarray(rows, dtype=np.intp),
        np.ascontiguousarray(cols, dtype=np.intp),
        np.ascontiguousarray(order, dtype=np.int32),
        keep,
    )
    return skeleton.astype(bool), distance


# bit k of a pixel's 3×3 neighbourhood code is neighbour k in row-major order (scikit-image's convention)
_NEIGHBOUR_BITS = np.array([[1, 2, 4], [8, 16, 32], [64, 128, 256]])


@functools.cache
def _medial_axis_tables():
    """(scikit-image's compiled thinning loop or None, the 'keep this pixel' table, the cornerness
    table), both indexed by a 3×3 neighbourhood code, built once as scikit-image defines them."""
    from scipy import ndimage

    try:
        from skimage.morphology._skeletonize_various_cy import _skeletonize_loop
    except ImportError:
        return None, None, None
    patterns = [((code >> np.arange(9)) & 1).reshape(3, 3).astype(bool) for code in range(512)]
    eight = np.ones((3, 3), dtype=bool)
    components = [ndimage.label(p, eight)[1] for p in patterns]
    centre = 1 << 4
    keep = np.array(
        [
            bool(code & centre) and (components[code] != components[code & ~centre] or patterns[code].sum() < 3)
            for code in range(512)
        ],
        dtype=np.uint8,
    )
    cornerness = np.array([9 - p.sum() for p in patterns])
    return _skeletonize_loop, keep, cornerness


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
