"""`atu convert IN OUT`: between atu's checkpoint format and rosinality/stylegan2-pytorch's .pt layout.

  atu convert 550000.pt model.safetensors     a rosinality / Adapt-then-Unlearn .pt file -> atu
  atu convert model.safetensors model.pt      atu -> rosinality's layout, for the authors' code

OUT's format follows its extension (.safetensors: atu; .pt, .pth: rosinality) unless --to says.
IN's format is read from its content. Model weights (g, g_ema, d) are converted bit for bit with
the architecture and metadata; what cannot be carried over (e.g. optimizer state into the atu
format, the *_mean / *_fisher statistics of stage-1 files) is listed. Nothing is overwritten
without --force, and nothing is written unless IN was read completely.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..util.errors import InputError
from . import Checkpoint, CheckpointError, CheckpointWarning, load, save, save_rosinality
from .core import DISCRIMINATOR_SECTIONS, GENERATOR_SECTIONS, MODEL_SECTIONS

TARGETS = ("atu", "rosinality")
TARGET_BY_EXTENSION = {".safetensors": "atu", ".pt": "rosinality", ".pth": "rosinality"}
# Entries of a rosinality file that its train.py resumes from and that the layout can carry.
_ROSINALITY_OPTIMIZERS = ("g_optim", "d_optim")


class ConvertError(InputError):
    """A conversion refused before anything was read or written (paths, overwrite, format)."""


@dataclass
class Conversion:
    """What `convert` did: enough to tell the user what the output holds and what it lacks."""

    source: Path
    target: Path
    source_format: str
    target_format: str
    sections: list[str]
    architecture: dict[str, Any]
    ignored: list[str] = field(default_factory=list)
    not_converted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def convert(
    source: str | os.PathLike, target: str | os.PathLike, *, to: str | None = None, force: bool = False
) -> Conversion:
    source, target = Path(source), Path(target)
    to = to or _target_from_extension(target)
    if to not in TARGETS:
        raise ConvertError(f"--to must be one of {', '.join(TARGETS)}, got {to!r}")
    if _same_file(source, target):
        raise ConvertError(f"IN and OUT are the same file ({source}); write the conversion to another path")
    if target.is_dir():
        raise ConvertError(f"{target} is a folder; OUT must be a file path")
    if target.exists() and not force:
        raise ConvertError(f"{target} already exists; pass --force to overwrite it")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CheckpointWarning)
        checkpoint = load(source)
    notes = [str(w.message) for w in caught if issubclass(w.category, CheckpointWarning)]
    for w in caught:
        if not issubclass(w.category, CheckpointWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    architecture = _architecture(checkpoint)

    if to == "rosinality":
        sections, not_converted = _to_rosinality(checkpoint, target, architecture, notes)
        if "channels" in architecture.get("generator", {}) or "channels" in architecture.get("discriminator", {}):
            notes.append(
                "custom channel widths: rosinality's code builds only its table's widths and needs an "
                "edited channels table to load this file; atu reads it back exactly"
            )
    else:
        sections = list(checkpoint.state_dicts)
        save(
            target,
            kind=checkpoint.kind,
            config={**checkpoint.config, **architecture},
            state_dicts=checkpoint.state_dicts,
            metadata=checkpoint.metadata,
        )
        not_converted = list(checkpoint.extras)
    return Conversion(
        source=source,
        target=target,
        source_format=_describe_format(checkpoint),
        target_format="atu (safetensors + JSON)" if to == "atu" else "rosinality layout (torch zip)",
        sections=sections,
        architecture=architecture,
        ignored=list(checkpoint.ignored),
        not_converted=not_converted,
        notes=notes,
    )


def _to_rosinality(
    checkpoint: Checkpoint, target: Path, architecture: dict[str, Any], notes: list[str]
) -> tuple[list[str], list[str]]:
    """Writes what rosinality's train.py reads when it resumes (`--ckpt`: g, d, g_ema, g_optim,
    d_optim) whenever the checkpoint holds a generator and a discriminator: the file's own when it
    has them, else g from g_ema and fresh Adam states with train.py's settings, each said in `notes`."""
    state_dicts = dict(checkpoint.state_dicts)
    sections = [s for s in MODEL_SECTIONS if s in state_dicts]
    if not sections:
        raise CheckpointError(
            f"{checkpoint.path}: nothing to write in rosinality's layout: it has no g, g_ema "
            f"or d (sections: {', '.join(checkpoint.sections) or 'none'})"
        )
    optimizers = {k: checkpoint.extras[k] for k in _ROSINALITY_OPTIMIZERS if k in checkpoint.extras}
    resumable = "d" in state_dicts and ("g" in state_dicts or "g_ema" in state_dicts)
    if resumable and "g" not in state_dicts:
        state_dicts["g"] = state_dicts["g_ema"]
        notes.append("g written as a copy of g_ema (this file holds no separate training generator)")
    if resumable and set(optimizers) != set(_ROSINALITY_OPTIMIZERS):
        args = checkpoint.metadata.get("args") or {}
        optimizers = {
            "g_optim": fresh_adam_state(state_dicts["g"], args, "g_reg_every", 4),
            "d_optim": fresh_adam_state(state_dicts["d"], args, "d_reg_every", 16),
        }
        notes.append(
            "g_optim and d_optim are fresh Adam states with train.py's settings (atu's own optimiser "
            "states are not carried over): rosinality's train.py --ckpt resumes from this file, its "
            "Adam moments starting anew"
        )
    elif not resumable:
        notes.append(
            "rosinality's train.py cannot resume from this file (it needs a generator and a "
            "discriminator); its generate.py reads g_ema"
        )
    sections = [s for s in MODEL_SECTIONS if s in state_dicts]
    save_rosinality(
        target,
        **{s: state_dicts[s] for s in sections},
        **optimizers,
        args=checkpoint.metadata.get("args"),
        config={**checkpoint.config, **architecture},
        metadata=checkpoint.metadata,
        kind=checkpoint.kind,
    )
    not_converted = [s for s in checkpoint.sections if s not in sections]
    not_converted += [k for k in checkpoint.extras if k not in optimizers]
    return sections, not_converted


def fresh_adam_state(state_dict: dict, args: dict, reg_every_key: str, reg_every_default: int) -> dict:
    """The state_dict of rosinality's train.py Adam, before any step, over the parameters of
    `state_dict` (every entry but the noise and blur-kernel buffers, in order): lr and betas scaled
    by the lazy-regularisation ratio as train.py sets them."""
    reg_every = args.get(reg_every_key, reg_every_default) if isinstance(args, dict) else reg_every_default
    ratio = reg_every / (reg_every + 1)
    lr = args.get("lr", 0.002) if isinstance(args, dict) else 0.002
    count = sum(1 for name in state_dict if not (name.startswith("noises.") or name.endswith(".kernel")))
    return {
        "state": {},
        "param_groups": [
            {
                "lr": lr * ratio,
                "betas": (0**ratio, 0.99**ratio),
                "eps": 1e-8,
                "weight_decay": 0,
                "amsgrad": False,
                "maximize": False,
                "foreach": None,
                "capturable": False,
                "differentiable": False,
                "fused": None,
                "params": list(range(count)),
            }
        ],
    }


def _architecture(checkpoint: Checkpoint) -> dict[str, Any]:
    """The generator/discriminator kwargs behind the model sections (stored, or read from the weights)."""
    if checkpoint.kind != "stylegan2":
        return {}
    architecture = {}
    generators = [s for s in GENERATOR_SECTIONS if s in checkpoint.state_dicts]
    if generators:
        architecture["generator"] = checkpoint.generator_config(generators[0])
    discriminators = [s for s in DISCRIMINATOR_SECTIONS if s in checkpoint.state_dicts]
    if discriminators:
        architecture["discriminator"] = checkpoint.discriminator_config(discriminators[0])
    return architecture


def _target_from_extension(target: Path) -> str:
    to = TARGET_BY_EXTENSION.get(target.suffix.lower())
    if to is None:
        raise ConvertError(
            f"cannot tell the output format from {target.name!r}; name it .safetensors (atu) "
            f"or .pt (rosinality), or pass --to {{{','.join(TARGETS)}}}"
        )
    return to


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _describe_format(checkpoint: Checkpoint) -> str:
    names = {"atu": "atu", "rosinality": "rosinality layout", "state_dict": "bare state dict"}
    return f"{names.get(checkpoint.format, checkpoint.format)} ({checkpoint.file_format})"


def describe_model(config: dict[str, Any]) -> str:
    """One line: size, latent, depth of the mapping network, widths."""
    parts = [f"size {config['size']}"]
    if "style_dim" in config:
        parts += [f"style_dim {config['style_dim']}", f"n_mlp {config['n_mlp']}"]
    if "channels" in config:
        widths = " ".join(f"{r}:{c}" for r, c in sorted(config["channels"].items(), key=lambda rc: int(rc[0])))
        parts.append(f"channels {widths} (custom widths)")
    else:
        parts.append(f"channel_multiplier {config['channel_multiplier']}")
    return ", ".join(parts)


def report(conversion: Conversion) -> str:
    lines = [
        f"atu convert: {conversion.source} -> {conversion.target}",
        f"  from: {conversion.source_format}",
        f"  to:   {conversion.target_format}",
        f"  sections: {', '.join(conversion.sections)}",
    ]
    for role, config in conversion.architecture.items():
        lines.append(f"  {role}: {describe_model(config)}")
    if conversion.ignored:
        shown = ", ".join(conversion.ignored[:4]) + (", ..." if len(conversion.ignored) > 4 else "")
        lines.append(f"  ignored: {len(conversion.ignored)} entries that are not model weights ({shown})")
    if conversion.not_converted:
        lines.append(f"  not converted: {', '.join(conversion.not_converted)}")
    lines += [f"  note: {note}" for note in conversion.notes]
    return "\n".join(lines)
