"""A batch that cannot fit, refused before any work (exit 2) instead of failing mid-run."""

from __future__ import annotations

from ..util.errors import InputError
from ..util.memory import available_bytes, gib

# Refuse only what is clearly too large: the estimate is a lower bound, and memory is shared.
MARGIN = 1.25


def require_batch_fits(G, batch: int, device, option: str, *, training: bool = False) -> None:
    """InputError naming `option` when `batch` images of G need more than the device has free."""
    free = available_bytes(device)
    if free is None:
        return
    need = batch * G.bytes_per_image(training=training)
    if need > MARGIN * free:
        fits = max(1, int(free // G.bytes_per_image(training=training)))
        raise InputError(
            f"{option} {batch} at {G.size} px needs at least {gib(need)} ({'training' if training else 'drawing'}"
            f" {batch} images at once) and {device} has {gib(free)} free; use {option} {fits} or less"
        )
