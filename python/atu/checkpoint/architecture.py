"""The StyleGAN2 architecture behind a state dict, read from its tensor names and shapes alone.

rosinality/stylegan2-pytorch's checkpoints store no architecture (the training arguments, when
present, say only size, latent, n_mlp and channel_multiplier, and nothing about custom widths), so
it is read from the weights: the number of to_rgbs gives the resolution, style.N the mapping
network, the conv weights the width at every resolution, the blur-kernel buffers the filter taps.
The result is the kwargs dict of our Generator / Discriminator (`.config()`'s format), so a
narrow or custom-width model is rebuilt exactly through `channels=`.

Not visible in the weights, hence left at rosinality's defaults: lr_mlp (0.01, a runtime scale of
the mapping network) and the discriminator's stddev_group (4).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from ..models.channels import default_channels
from .errors import CheckpointError, CheckpointWarning

DEFAULT_CHANNEL_MULTIPLIER = 2  # rosinality's default; any value builds the same model at <= 32 px
DEFAULT_LR_MLP = 0.01
DEFAULT_BLUR_KERNEL = [1, 3, 3, 1]

# Keys that only a generator / only a discriminator has: enough to tell a bare state dict's role.
_GENERATOR_MARK = "style.1.weight"
_DISCRIMINATOR_MARK = "final_linear.1.weight"


def is_generator_state_dict(state_dict: Mapping[str, Any]) -> bool:
    return _GENERATOR_MARK in state_dict and "input.input" in state_dict


def is_discriminator_state_dict(state_dict: Mapping[str, Any]) -> bool:
    return _DISCRIMINATOR_MARK in state_dict and "final_conv.0.weight" in state_dict


def infer_generator_config(
    state_dict: Mapping[str, torch.Tensor],
    *,
    hint: Mapping[str, Any] | None = None,
    where: str = "generator state dict",
) -> dict[str, Any]:
    """Generator kwargs that rebuild the generator whose weights these are.

    `hint` (size, style_dim, n_mlp, channel_multiplier, e.g. from saved training arguments) only
    breaks ties (the multiplier of a <= 32 px model) and is checked against the weights: where they
    disagree the weights win and a CheckpointWarning says so."""
    hint = dict(hint or {})
    shapes = _Shapes(state_dict, where, "a StyleGAN2 generator")
    mapping = shapes.numbered(r"style\.(\d+)\.weight", first=1, what="mapping layers (style.1 ... style.n_mlp)")
    style_dim = shapes.get("style.1.weight")[1]
    n_upsampling = len(shapes.numbered(r"to_rgbs\.(\d+)\.conv\.weight", first=0, what="to_rgbs"))
    n_convs = len(shapes.numbered(r"convs\.(\d+)\.conv\.weight", first=0, what="convs"))
    if n_convs != 2 * n_upsampling:
        raise CheckpointError(
            f"{where}: {n_convs} convs for {n_upsampling} to_rgbs; a StyleGAN2 generator "
            f"has two convs per resolution above 4 px (expected {2 * n_upsampling})"
        )
    size = 4 * 2**n_upsampling
    # The first conv of each resolution upsamples into that resolution's width: [1, out, in, k, k].
    channels = {4: shapes.get("input.input")[1]}
    for step in range(n_upsampling):
        channels[8 * 2**step] = shapes.get(f"convs.{2 * step}.conv.weight")[1]
    blur_kernel = _blur_taps(state_dict, "convs.0.conv.blur.kernel", where)

    _warn_where_hint_disagrees(hint, {"size": size, "style_dim": style_dim, "n_mlp": len(mapping)}, where)
    config: dict[str, Any] = {"size": size, "style_dim": style_dim, "n_mlp": len(mapping)}
    config.update(_widths(size, channels, hint, where))
    config.update(blur_kernel=blur_kernel, lr_mlp=DEFAULT_LR_MLP)
    return _in_model_order(
        config, ("size", "style_dim", "n_mlp", "channel_multiplier", "blur_kernel", "lr_mlp", "channels")
    )


def infer_discriminator_config(
    state_dict: Mapping[str, torch.Tensor],
    *,
    hint: Mapping[str, Any] | None = None,
    where: str = "discriminator state dict",
) -> dict[str, Any]:
    """Discriminator kwargs that rebuild the discriminator whose weights these are (see
    infer_generator_config for `hint`)."""
    hint = dict(hint or {})
    shapes = _Shapes(state_dict, where, "a StyleGAN2 discriminator")
    n_blocks = len(shapes.numbered(r"convs\.(\d+)\.conv1\.0\.weight", first=1, what="residual blocks (convs.1 ...)"))
    size = 4 * 2**n_blocks
    # convs.0 maps RGB to the width at full resolution; residual block i halves the resolution.
    channels = {size: shapes.get("convs.0.0.weight")[0]}
    for block in range(1, n_blocks + 1):
        channels[size >> block] = shapes.get(f"convs.{block}.conv2.1.weight")[0]
    # The minibatch-stddev layer appends feature maps before final_conv: [out, width_4 + stddev_feat, 3, 3].
    stddev_feat = shapes.get("final_conv.0.weight")[1] - channels[4]
    if stddev_feat != 1:
        raise CheckpointError(
            f"{where}: final_conv takes {channels[4]} + {stddev_feat} channels; atu's "
            f"Discriminator appends 1 stddev feature map (rosinality's stddev_feat=1)"
        )
    blur_kernel = _blur_taps(state_dict, "convs.1.conv2.0.kernel", where)

    _warn_where_hint_disagrees(hint, {"size": size}, where)
    config: dict[str, Any] = {"size": size}
    config.update(_widths(size, channels, hint, where))
    config["blur_kernel"] = blur_kernel
    return _in_model_order(config, ("size", "channel_multiplier", "blur_kernel", "channels"))


def check_layout(state_dict: Mapping[str, torch.Tensor], module_cls, config: Mapping[str, Any], where: str) -> None:
    """Raises CheckpointError unless `state_dict` has exactly the names and shapes of
    module_cls.from_config(config). The module is built on the meta device: no memory, no init."""
    try:
        with torch.device("meta"):
            expected = {k: tuple(t.shape) for k, t in module_cls.from_config(config).state_dict().items()}
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: cannot build a {module_cls.__name__} from {dict(config)}: {err}") from err
    actual = {k: tuple(t.shape) for k, t in state_dict.items()}
    problems = []
    missing = [k for k in expected if k not in actual]
    unexpected = [k for k in actual if k not in expected]
    wrong = [
        f"{k} {list(actual[k])} (expected {list(expected[k])})"
        for k in expected
        if k in actual and actual[k] != expected[k]
    ]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            shown = ", ".join(items[:5]) + (f", ... ({len(items)} in all)" if len(items) > 5 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise CheckpointError(f"{where}: does not match {module_cls.__name__}({dict(config)}): " + "; ".join(problems))


# ---- helpers ----------------------------------------------------------------------------------------


class _Shapes:
    """Shape look-ups that fail with a message naming the file, the section and the missing entry."""

    def __init__(self, state_dict: Mapping[str, torch.Tensor], where: str, what: str):
        self.state_dict, self.where, self.what = state_dict, where, what

    def get(self, key: str) -> tuple[int, ...]:
        tensor = self.state_dict.get(key)
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{self.where}: no tensor {key!r}; not {self.what} in rosinality's layout")
        return tuple(tensor.shape)

    def numbered(self, pattern: str, *, first: int, what: str) -> list[int]:
        """The indices N of keys matching `pattern`, which must run first, first + 1, ... without gaps."""
        found = sorted(int(m.group(1)) for k in self.state_dict if (m := re.fullmatch(pattern, k)))
        if not found:
            raise CheckpointError(f"{self.where}: no {what}; not {self.what} in rosinality's layout")
        if found != list(range(first, first + len(found))):
            raise CheckpointError(f"{self.where}: {what} are numbered {found}; expected {first}, {first + 1}, ...")
        return found


def _widths(size: int, channels: dict[int, int], hint: Mapping[str, Any], where: str) -> dict[str, Any]:
    """{"channel_multiplier": m} when rosinality's table with multiplier m gives exactly these widths,
    else the explicit {"channels": ...} (string keys, as Generator.config() writes them)."""
    hinted = hint.get("channel_multiplier")
    hinted = hinted if isinstance(hinted, int) and not isinstance(hinted, bool) and hinted >= 1 else None
    candidates = [m for m in (hinted, DEFAULT_CHANNEL_MULTIPLIER) if m is not None]
    if size > 32 and channels.get(64, 0) % 256 == 0:  # the table's 64 px width is 256 * multiplier
        candidates.append(channels[64] // 256)
    for multiplier in candidates:
        if multiplier >= 1 and default_channels(size, multiplier) == channels:
            if hinted is not None and multiplier != hinted:
                _warn(
                    f"{where}: the saved arguments say channel_multiplier={hinted}, the weights have "
                    f"the widths of channel_multiplier={multiplier}; using {multiplier}"
                )
            return {"channel_multiplier": multiplier}
    return {
        "channel_multiplier": hinted or DEFAULT_CHANNEL_MULTIPLIER,
        "channels": {str(r): channels[r] for r in sorted(channels)},
    }


def _blur_taps(state_dict: Mapping[str, torch.Tensor], key: str, where: str) -> list:
    """The 1-D blur taps behind a stored 2-D kernel buffer (rosinality's default when absent).

    The buffer is k ⊗ k / (Σk)², times a constant for upsampling, so each row sum is proportional
    to one tap; taps are given up to scale, which the model normalises away."""
    kernel = state_dict.get(key)
    if kernel is None:
        return list(DEFAULT_BLUR_KERNEL)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise CheckpointError(f"{where}: {key} has shape {list(kernel.shape)}; expected a square 2-D blur kernel")
    profile = kernel.detach().to("cpu", torch.float64).sum(dim=1)
    nonzero = profile[profile != 0]
    if nonzero.numel() == 0:
        raise CheckpointError(f"{where}: {key} is all zeros; not a blur kernel")
    taps = (profile / nonzero.abs().min()).tolist()
    whole = [round(t) for t in taps]
    if all(abs(t - w) < 1e-4 for t, w in zip(taps, whole)):
        return whole
    return [round(t, 6) for t in taps]


def _warn_where_hint_disagrees(hint: Mapping[str, Any], inferred: Mapping[str, Any], where: str) -> None:
    for key, value in inferred.items():
        if hint.get(key) is not None and hint[key] != value:
            _warn(f"{where}: the saved arguments say {key}={hint[key]!r}, the weights say {value!r}; using the weights")


def _warn(message: str) -> None:
    warnings.warn(message, CheckpointWarning, stacklevel=3)


def _in_model_order(config: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    return {k: config[k] for k in order if k in config}
