"""rosinality/stylegan2-pytorch's checkpoint layout, which Adapt-then-Unlearn's authors use.

Their train.py saves torch.save({"g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p"});
files met in practice hold any subset (g_ema alone is common), and the authors' stage-1 code adds
EWC statistics ("<param>_mean", "<param>_fisher") to the state dicts. Also read here: a bare
generator or discriminator state dict, and a state dict saved from a DataParallel/DDP wrapper
("module." before every name).

What we write back adds one key that their code never reads, "atu": our JSON header (architecture,
metadata), so that a round trip through this layout loses nothing.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .architecture import (
    infer_discriminator_config,
    infer_generator_config,
    is_discriminator_state_dict,
    is_generator_state_dict,
)
from .atu_format import HEADER_KEY, check_digest, header_json, parse_header
from .core import DISCRIMINATOR_SECTIONS, GENERATOR_SECTIONS, MODEL_SECTIONS, Checkpoint
from .digest import flat, tensors_sha256
from .errors import CheckpointError
from .metadata import plain_metadata
from .torch_file import save_torch_file

ARGS_KEY = "args"
# EWC statistics that the authors' stage 1 stores beside each weight: not part of any model.
_STAGE1_STATISTIC = re.compile(r".+_(mean|fisher)")
_WRAPPER_PREFIX = "module."


def from_torch_object(path: Path, obj: Any, *, file_format: str) -> Checkpoint:
    """A Checkpoint from what torch.load returned (or a flat safetensors file's tensors)."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"{path}: holds a {type(obj).__name__}; expected a dict of state dicts "
            f"(rosinality's layout) or a state dict"
        )
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _from_bare_state_dict(path, dict(obj), file_format)
    present = [s for s in MODEL_SECTIONS if s in obj]
    if not present:
        raise CheckpointError(
            f"{path}: none of the sections {', '.join(MODEL_SECTIONS)}; the file holds {_list(list(obj))}"
        )
    header = _atu_header(path, obj.get(HEADER_KEY))
    state_dicts, ignored = _model_state_dicts(path, {s: obj[s] for s in present})
    if header:
        check_digest(path, header, flat(state_dicts))
    args = obj.get(ARGS_KEY)
    if header:  # ours: it already records the arguments that were given when it was written
        metadata = dict(header["metadata"])
    else:
        metadata = (
            {ARGS_KEY: plain_metadata(vars(args), f"{path}: args")} if isinstance(args, argparse.Namespace) else {}
        )
    config = header["config"] if header else _infer_config(path, state_dicts, _hint_from(args))
    extras = {k: v for k, v in obj.items() if k not in MODEL_SECTIONS and k not in (ARGS_KEY, HEADER_KEY)}
    return Checkpoint(
        path=path,
        format="rosinality",
        kind=header["kind"] if header else "stylegan2",
        config=config,
        state_dicts=state_dicts,
        metadata=metadata,
        ignored=ignored,
        extras=extras,
        file_format=file_format,
    )


def save_rosinality(
    path: str | os.PathLike,
    *,
    g=None,
    g_ema=None,
    d=None,
    args: argparse.Namespace | Mapping[str, Any] | None = None,
    g_optim: Mapping | None = None,
    d_optim: Mapping | None = None,
    config: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    kind: str = "stylegan2",
) -> Path:
    """Writes a checkpoint that rosinality's (and the authors') code loads, atomically.

    g, g_ema, d: modules or state dicts (any subset, at least one). args: the training arguments
    to store (default: size, latent, n_mlp, channel_multiplier from the architecture). config:
    the architecture (default: the modules' .config(), else inferred from the tensors)."""
    modules = {"g": g, "d": d, "g_ema": g_ema}
    sections = {name: _state_dict_to_save(name, m) for name, m in modules.items() if m is not None}
    if not sections:
        raise ValueError("save_rosinality needs at least one of g, g_ema, d")
    if config is None:
        config = _config_of(modules, sections, Path(path))
    metadata = dict(metadata or {})
    if args is None:
        args = _args_from_config(config)
    else:
        if isinstance(args, Mapping):
            args = argparse.Namespace(**args)
        elif not isinstance(args, argparse.Namespace):
            raise TypeError(f"args must be an argparse.Namespace or a dict, got {type(args).__name__}")
        metadata.setdefault(ARGS_KEY, plain_metadata(vars(args), "args"))
    header = header_json(
        kind=kind,
        config=dict(config),
        metadata=metadata,
        sections=list(sections),
        tensors_sha256=tensors_sha256(flat(sections)),
    )
    payload: dict[str, Any] = dict(sections)
    payload.update({k: v for k, v in (("g_optim", g_optim), ("d_optim", d_optim)) if v is not None})
    payload[ARGS_KEY] = args
    payload[HEADER_KEY] = header
    return save_torch_file(path, payload)


# ---- reading --------------------------------------------------------------------------------------


def _from_bare_state_dict(path: Path, state_dict: dict[str, torch.Tensor], file_format: str) -> Checkpoint:
    names = _strip_wrapper_prefix(state_dict)
    if is_generator_state_dict(names):
        section = "g_ema"  # a lone generator is almost always the EMA copy used for sampling
    elif is_discriminator_state_dict(names):
        section = "d"
    else:
        raise CheckpointError(
            f"{path}: a state dict that is neither a StyleGAN2 generator nor discriminator "
            f"in rosinality's layout (its entries: {_list(list(state_dict))})"
        )
    state_dicts, ignored = _model_state_dicts(path, {section: state_dict})
    return Checkpoint(
        path=path,
        format="state_dict",
        kind="stylegan2",
        config=_infer_config(path, state_dicts, {}),
        state_dicts=state_dicts,
        ignored=ignored,
        file_format=file_format,
    )


def _model_state_dicts(path: Path, raw: Mapping[str, Any]) -> tuple[dict[str, dict[str, torch.Tensor]], list[str]]:
    """Validated state dicts without the stage-1 statistics, and the "section/name" of those dropped."""
    state_dicts, ignored = {}, []
    for section, state_dict in raw.items():
        if not isinstance(state_dict, Mapping):
            raise CheckpointError(f"{path}: section {section!r} holds a {type(state_dict).__name__}, not a state dict")
        for name, value in state_dict.items():
            if not isinstance(name, str):
                raise CheckpointError(
                    f"{path}: section {section!r} has a key {str(name)[:40]!r} of type "
                    f"{type(name).__name__}; state dict keys are names"
                )
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{path}: {section}/{name} is a {type(value).__name__}, not a tensor")
        state_dict = _strip_wrapper_prefix(state_dict)
        state_dicts[section] = {k: t for k, t in state_dict.items() if not _STAGE1_STATISTIC.fullmatch(k)}
        ignored += [f"{section}/{k}" for k in state_dict if _STAGE1_STATISTIC.fullmatch(k)]
    return _unshared(state_dicts), ignored


def _unshared(state_dicts: dict[str, dict[str, torch.Tensor]]) -> dict[str, dict[str, torch.Tensor]]:
    """Every tensor with memory of its own. A file saved with g_ema = g (a run at step 0, or a
    generator saved twice) holds one storage under two names; kept shared, training one section would
    change the other, and safetensors refuses to write it."""
    seen: set[int] = set()
    out = {}
    for section, state_dict in state_dicts.items():
        out[section] = {}
        for name, tensor in state_dict.items():
            storage = tensor.untyped_storage().data_ptr() if tensor.numel() else None
            out[section][name] = tensor.clone() if storage in seen else tensor
            if storage is not None:
                seen.add(storage)
    return out


def _strip_wrapper_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if state_dict and all(k.startswith(_WRAPPER_PREFIX) for k in state_dict):
        return {k[len(_WRAPPER_PREFIX) :]: t for k, t in state_dict.items()}
    return dict(state_dict)


def _infer_config(
    path: Path, state_dicts: Mapping[str, Mapping[str, torch.Tensor]], hint: Mapping[str, Any]
) -> dict[str, Any]:
    config: dict[str, Any] = {}
    generators = [s for s in GENERATOR_SECTIONS if s in state_dicts]
    if generators:  # g and g_ema share one architecture; the loader checks the other against it
        config["generator"] = infer_generator_config(
            state_dicts[generators[0]], hint=hint, where=f"{path} [{generators[0]}]"
        )
    discriminators = [s for s in DISCRIMINATOR_SECTIONS if s in state_dicts]
    if discriminators:
        config["discriminator"] = infer_discriminator_config(
            state_dicts[discriminators[0]], hint=hint, where=f"{path} [{discriminators[0]}]"
        )
    return config


def _hint_from(args: Any) -> dict[str, Any]:
    """What rosinality's training arguments say about the architecture (train.py's names)."""
    if not isinstance(args, argparse.Namespace):
        return {}
    names = {"size": "size", "latent": "style_dim", "n_mlp": "n_mlp", "channel_multiplier": "channel_multiplier"}
    return {ours: getattr(args, theirs) for theirs, ours in names.items() if hasattr(args, theirs)}


def _atu_header(path: Path, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CheckpointError(
            f"{path}: the {HEADER_KEY!r} entry is a {type(value).__name__}; expected atu's JSON header"
        )
    return parse_header(path, value)


def _list(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "") if names else "nothing"


# ---- writing --------------------------------------------------------------------------------------


def _state_dict_to_save(name: str, module_or_state_dict: Any) -> dict[str, torch.Tensor]:
    if isinstance(module_or_state_dict, torch.nn.Module):
        state_dict = module_or_state_dict.state_dict()
    elif isinstance(module_or_state_dict, Mapping):
        state_dict = module_or_state_dict
    else:
        raise TypeError(f"{name} must be a module or a state dict, got {type(module_or_state_dict).__name__}")
    for key, t in state_dict.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}[{key!r}] is {type(t).__name__}, not a tensor")
    return {k: t.detach().to("cpu") for k, t in state_dict.items()}


def _config_of(modules: Mapping[str, Any], sections: Mapping[str, dict[str, torch.Tensor]], path: Path) -> dict:
    """Each model's architecture: its .config() where a module was given, else read from its tensors."""
    config: dict[str, Any] = {}
    for role, names in (("generator", GENERATOR_SECTIONS), ("discriminator", DISCRIMINATOR_SECTIONS)):
        module = next((modules[n] for n in names if isinstance(modules.get(n), torch.nn.Module)), None)
        if module is not None and hasattr(module, "config"):
            config[role] = module.config()
    without_config = {
        name: state_dict
        for name, state_dict in sections.items()
        if not (name in GENERATOR_SECTIONS and "generator" in config)
        and not (name in DISCRIMINATOR_SECTIONS and "discriminator" in config)
    }
    return {**_infer_config(path, without_config, {}), **config}


def _args_from_config(config: Mapping[str, Any]) -> argparse.Namespace:
    """The arguments rosinality's train.py / generate.py take to build these models."""
    g, d = config.get("generator", {}), config.get("discriminator", {})
    args = {"size": g.get("size", d.get("size"))}
    if g:
        args.update(latent=g["style_dim"], n_mlp=g["n_mlp"])
    args["channel_multiplier"] = g.get("channel_multiplier", d.get("channel_multiplier"))
    return argparse.Namespace(**args)
