"""Channel counts per resolution: rosinality's table, or an explicit mapping for narrow models."""

from __future__ import annotations

from collections.abc import Mapping


def default_channels(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """rosinality/stylegan2-pytorch's widths for resolutions 4..size."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
    return {r: c if r <= 32 else c * channel_multiplier for r, c in table.items() if r <= size}


def check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size & (size - 1):
        raise ValueError(f"size must be a power of two >= 8, got {size!r}")
    return size


def resolve_channels(size: int, channel_multiplier: int, channels: Mapping | None) -> dict[int, int]:
    """The width at every resolution 4, 8, ..., size. `channels` (keys int or str, as read back from
    JSON) overrides the table and must name every one of those resolutions."""
    if channels is None:
        if isinstance(channel_multiplier, bool) or not isinstance(channel_multiplier, int) or channel_multiplier < 1:
            raise ValueError(f"channel_multiplier must be a positive int, got {channel_multiplier!r}")
        return default_channels(size, channel_multiplier)
    resolved = {int(r): c for r, c in channels.items()}
    wanted = [2**i for i in range(2, size.bit_length())]
    if sorted(resolved) != wanted:
        raise ValueError(f"channels must give a width for exactly the resolutions {wanted}, got {sorted(resolved)}")
    for r, c in resolved.items():
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ValueError(f"channels[{r}] must be a positive int, got {c!r}")
    return resolved


def narrow_channels(size: int, width: int) -> dict[int, int]:
    """Every resolution `width` channels, halving above 32 px as the table does: tiny CPU models."""
    return {r: max(1, c * width // 512) for r, c in default_channels(size, 2).items()}
