"""What else an edit moved: each class's share of a model's bank against the share the pre-trained
model predicts for it, flagged where the difference exceeds what seeds and sampling alone give.

The prediction is what an edit that removed the feature and nothing else would draw: the pre-trained
model's samples without the feature, in their class proportions (class_shares_without_feature, which
the evaluation counts on the same bank). For an undesired class, the others fill the room it left,
scaled to the share of it the edit kept (pre_c · (100 − m_u) / (100 − pre_u) where only the overall
shares were counted). A measured feature is no class: removing thick strokes rightly draws fewer
of the digits that are often thick, and only a move beyond that is flagged. The spread of a share is
the larger of its seed-to-seed standard deviation and the sampling deviation of two banks' shares
(√2 · √(p(1 − p) / n_bank)); a class is flagged when it moved by more than FLAG_SPREADS of them.
"""

from __future__ import annotations

import math

FLAG_SPREADS = 2.0


def expected_shares(
    pretrained: list[float],
    undesired: int | None,
    undesired_share: float | None,
    without_feature: list[float] | None = None,
) -> list[float]:
    """The shares (percent) of an edit that removed only the feature: the pre-trained model's shares
    `without_feature` where counted (scaled, for a class, to the share of it the edit kept), else
    for a class the other classes rescaled to fill its room, for a feature the pre-trained shares."""
    if undesired is None:
        return list(without_feature) if without_feature else list(pretrained)
    if undesired_share is None or pretrained[undesired] >= 100:
        return list(pretrained)
    scale = (100.0 - undesired_share) / (100.0 - pretrained[undesired])
    return [undesired_share if c == undesired else share * scale for c, share in enumerate(pretrained)]


def share_spread(share: float, seed_std: float | None, n_bank: int) -> float:
    """The spread (percentage points) one model's share of a class has by seeds and sampling alone."""
    p = min(max(share / 100.0, 0.0), 1.0)
    sampling = 100.0 * math.sqrt(2.0 * p * (1.0 - p) / n_bank)
    return max(seed_std or 0.0, sampling)


def moved_classes(method: dict, pretrained: dict, undesired: int | None, n_bank: int) -> list[dict]:
    """[{class, share, expected, spread}] of the classes but `undesired` whose share in `method`'s
    bank differs from the expected one by more than FLAG_SPREADS spreads; [] without class shares."""
    shares, before = method.get("class_shares"), pretrained.get("class_shares")
    if not shares or not before:
        return []
    stds = method.get("class_shares_std") or [None] * len(shares)
    expected = expected_shares(
        before,
        undesired,
        shares[undesired] if undesired is not None else None,
        pretrained.get("class_shares_without_feature"),
    )
    moved = []
    for c, (share, want, std) in enumerate(zip(shares, expected, stds)):
        spread = share_spread(want, std, n_bank)
        if c != undesired and abs(share - want) > FLAG_SPREADS * spread:
            moved.append({"class": c, "share": share, "expected": want, "spread": spread})
    return moved
