"""What the toy measures, on a fixed bank of generated samples.

share[i]   fraction of samples within `radius` of mode i (a sample between modes counts for none)
removed[i] for an undesired mode: 1 − share_after[i] / share_before[i] (1 = every sample gone,
           0 = as many as before, negative = more than before); "overall" is the same ratio over
           the undesired modes' shares summed
covered[j] for a desired mode: it keeps at least MIN_SHARE of all samples AND at least
           MIN_KEPT of its own pre-trained share. With 6 modes left an even generator puts 1/6
           there; 2% and a quarter of the old share mean "the mode is still clearly made", not
           merely "a stray sample landed on it".
quality    fraction of samples within `radius` of ANY desired mode (1 = every sample is a clean
           sample of a wanted mode; what bridges between modes and stragglers cost)
"""

from __future__ import annotations

import torch

MIN_SHARE = 0.02
MIN_KEPT = 0.25


def mode_shares(samples: torch.Tensor, centres: torch.Tensor, radius: float) -> list[float]:
    """share[i] for every mode; a point within `radius` of two modes (impossible when the modes are
    more than 2·radius apart) would count for both."""
    if samples.shape[0] == 0:
        raise ValueError("mode_shares needs at least one sample")
    near = torch.cdist(samples.double(), centres.double()) <= radius
    return [float(v) for v in near.double().mean(0)]


def removal(before: list[float], after: list[float], undesired: tuple[int, ...]) -> dict[str, float | None]:
    """{"mode i": removed fraction, ..., "overall": ...}; None where the mode had no samples before."""

    def ratio(b: float, a: float) -> float | None:
        return None if b == 0 else 1.0 - a / b

    out: dict[str, float | None] = {f"mode {i}": ratio(before[i], after[i]) for i in undesired}
    out["overall"] = ratio(sum(before[i] for i in undesired), sum(after[i] for i in undesired))
    return out


def coverage(before: list[float], after: list[float], desired: tuple[int, ...]) -> dict[str, bool]:
    return {f"mode {j}": after[j] >= MIN_SHARE and after[j] >= MIN_KEPT * before[j] for j in desired}


def quality(shares: list[float], desired: tuple[int, ...]) -> float:
    return sum(shares[j] for j in desired)  # the modes are disjoint discs: shares add up
