"""NVlabs StyleGAN2-ADA networks mapped onto atu's rosinality-layout models.

The two implementations compute the same functions with the same parameter conventions (weights
stored as N(0, 1)/lr_mul and scaled at run time, biases scaled by lr_mul, affine biases initialised
to 1, noise added after demodulation and before bias + leaky ReLU · √2, ToRGB's 1/√fan_in applied
to its styles rather than its weight), so most tensors copy over reshaped:

  mapping.fc{i}.{weight,bias}              style.{i+1}.{weight,bias}
  synthesis.b4.const [C,4,4]               input.input [1,C,4,4]
  synthesis.b{r}.conv{0,1}.weight          convs.{k}.conv.weight (conv1 at 4×4) [1,O,I,3,3],
                                           conv0's (upsampling) turned by 180°
           .affine.{weight,bias}           ....conv.modulation.{weight,bias}
           .noise_strength, .bias          ....noise.weight [1], ....activate.bias
           .noise_const [r,r]              noises.noise_{j} [1,1,r,r]
  synthesis.b{r}.torgb.weight/.bias        to_rgb(s).conv.weight [1,3,C,1,1], .bias [1,3,1,1]

What has no counterpart is refused, naming why: conditional generators (c_dim > 0), other synthesis
architectures than 'skip', StyleGAN3's synthesis network, a z_dim other than w_dim, other resampling
filters than [1, 3, 3, 1]. NVlabs' conv_clamp (±256 after every layer) and fp16 layers have no
counterpart either: atu runs float32 unclamped, which changes nothing unless an activation exceeds
256 (it records the clamp it dropped in the metadata).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .core import Checkpoint
from .errors import CheckpointError
from .nvlabs_pickle import PersistentRecord, read_network_pickle, state_dict_of

_BLUR = (1.0, 3.0, 3.0, 1.0)


def _kwargs(record: PersistentRecord) -> dict[str, Any]:
    return dict(record.state.get("init_kwargs") or {})


def _plain(value: Any, depth: int = 0) -> Any:
    """JSON-able copy of kwargs as read (numbers, strings, nested dicts and lists); anything else by name."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if depth < 8 and isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if depth < 8 and isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    return f"<{type(value).__name__}>"


def _child(record: PersistentRecord, name: str, where: str) -> PersistentRecord:
    child = record.submodules().get(name)
    if not isinstance(child, PersistentRecord):
        raise CheckpointError(f"{where}: no {name} network")
    return child


def _check_filter(tensor: torch.Tensor, where: str) -> None:
    taps = torch.tensor(_BLUR, dtype=torch.float64)
    expected = torch.outer(taps, taps) / torch.outer(taps, taps).sum()
    if tuple(tensor.shape) != (4, 4) or not torch.allclose(tensor.double(), expected, atol=1e-7):
        raise CheckpointError(f"{where}: a resampling filter other than [1, 3, 3, 1] (shape {tuple(tensor.shape)}); "
                              "atu's models use that one only")


def generator_from_record(record: PersistentRecord, where: str) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict]:
    """(atu Generator config, its state dict, notes for the metadata) for an NVlabs Generator record."""
    if record.class_name != "Generator":
        raise CheckpointError(f"{where}: a {record.class_name}, not a Generator")
    kwargs = _kwargs(record)
    if kwargs.get("c_dim", 0):
        raise CheckpointError(f"{where}: a conditional generator (c_dim {kwargs['c_dim']}): atu's StyleGAN2 takes no "
                              "class label, so it cannot run this one")
    if kwargs.get("img_channels", 3) != 3:
        raise CheckpointError(f"{where}: {kwargs['img_channels']} image channels; atu's StyleGAN2 makes RGB images")
    mapping = _child(record, "mapping", where)
    synthesis = _child(record, "synthesis", where)
    if "b4" not in synthesis.submodules():
        raise CheckpointError(f"{where}: its synthesis network has no 4×4 block (a StyleGAN3 'r'/'t' generator?); "
                              "only StyleGAN2's synthesis maps onto atu's models")
    m_kwargs = _kwargs(mapping)
    z_dim, w_dim = m_kwargs.get("z_dim", kwargs.get("z_dim")), m_kwargs.get("w_dim", kwargs.get("w_dim"))
    if z_dim != w_dim:
        raise CheckpointError(f"{where}: z_dim {z_dim} differs from w_dim {w_dim}; atu's StyleGAN2 has one style_dim")

    tensors = state_dict_of(record)
    fcs = sorted(int(name[len("mapping.fc"):].split(".")[0]) for name in tensors
                 if name.startswith("mapping.fc") and name.endswith(".weight"))
    lr_mul = float(_child(mapping, "fc0", where).state.get("bias_gain", 0.01))
    blocks = sorted(int(name[1:]) for name in synthesis.submodules())
    size = blocks[-1]
    if blocks != [2 ** i for i in range(2, size.bit_length())]:
        raise CheckpointError(f"{where}: synthesis blocks {blocks} are not 4, 8, ..., {size}")
    channels, clamps = {}, set()
    for res in blocks:
        block = _child(synthesis, f"b{res}", where)
        if block.state.get("architecture", "skip") != "skip":
            raise CheckpointError(f"{where}: the '{block.state['architecture']}' synthesis architecture; atu's "
                                  "StyleGAN2 (rosinality's) is 'skip' only")
        channels[res] = int(tensors[f"synthesis.b{res}.conv1.weight"].shape[0])
        for layer in ("conv0", "conv1", "torgb"):
            if layer in block.submodules():
                clamps.add(block.submodules()[layer].state.get("conv_clamp"))
                if layer != "torgb":
                    _check_filter(tensors[f"synthesis.b{res}.{layer}.resample_filter"], f"{where} b{res}.{layer}")

    out: dict[str, torch.Tensor] = {}
    for i in fcs:
        out[f"style.{i + 1}.weight"] = tensors[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = tensors[f"mapping.fc{i}.bias"]
    out["input.input"] = tensors["synthesis.b4.const"].unsqueeze(0)

    def styled(dst: str, src: str, upsample: bool = False) -> None:
        weight = tensors[f"{src}.weight"].unsqueeze(0)
        # NVlabs' upsampling layers correlate the zero-upsampled input with the kernel; rosinality's
        # conv_transpose2d convolves it (correlates with the kernel turned by 180°): flip it once here.
        out[f"{dst}.conv.weight"] = weight.flip([3, 4]) if upsample else weight
        out[f"{dst}.conv.modulation.weight"] = tensors[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = tensors[f"{src}.affine.bias"]
        out[f"{dst}.noise.weight"] = tensors[f"{src}.noise_strength"].reshape(1)
        out[f"{dst}.activate.bias"] = tensors[f"{src}.bias"]

    def to_rgb(dst: str, src: str) -> None:
        out[f"{dst}.conv.weight"] = tensors[f"{src}.weight"].unsqueeze(0)
        out[f"{dst}.conv.modulation.weight"] = tensors[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = tensors[f"{src}.affine.bias"]
        out[f"{dst}.bias"] = tensors[f"{src}.bias"].reshape(1, -1, 1, 1)

    styled("conv1", "synthesis.b4.conv1")
    to_rgb("to_rgb1", "synthesis.b4.torgb")
    noise = [tensors["synthesis.b4.conv1.noise_const"]]
    for k, res in enumerate(blocks[1:]):
        styled(f"convs.{2 * k}", f"synthesis.b{res}.conv0", upsample=True)
        styled(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1")
        to_rgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")
        noise += [tensors[f"synthesis.b{res}.conv0.noise_const"], tensors[f"synthesis.b{res}.conv1.noise_const"]]
    for j, n in enumerate(noise):
        out[f"noises.noise_{j}"] = n.reshape(1, 1, *n.shape)

    config = {"size": size, "style_dim": int(w_dim), "n_mlp": len(fcs), "channel_multiplier": 2,
              "blur_kernel": list(_BLUR), "lr_mlp": lr_mul, "channels": {str(r): c for r, c in channels.items()}}
    # The blur kernels are buffers of atu's modules, derived from blur_kernel: take them from a
    # freshly built generator (the filters were checked to be the same [1, 3, 3, 1]).
    from ..models import Generator

    for name, buffer in Generator.from_config(config).state_dict().items():
        if name.endswith(".kernel"):
            out[name] = buffer
    # Own copies: a snapshot's G and G_ema (or two layers) may share tensors, which safetensors
    # refuses to write and which training one section would silently change in the other.
    out = {name: tensor.detach().clone().contiguous() for name, tensor in out.items()}
    clamps.discard(None)
    notes = {"nvlabs_class": record.class_name, "w_avg": "mapping.w_avg (truncation centre) not kept",
             "dropped_conv_clamp": sorted(float(c) for c in clamps) or None}
    return config, out, notes


def discriminator_from_record(record: PersistentRecord, where: str) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict]:
    """(atu Discriminator config, its state dict, notes) for an NVlabs 'resnet' Discriminator record:

      b{top}.fromrgb                    convs.0 (1×1 ConvLayer)
      b{r}.conv0 / .conv1 / .skip       convs.{k}.conv1 / .conv2 (3×3, down 2) / .skip (1×1, down 2)
      b4.conv / .fc / .out              final_conv / final_linear.0 / final_linear.1
    Both downsample by blurring then correlating with stride 2, so no kernel is turned."""
    if record.class_name != "Discriminator":
        raise CheckpointError(f"{where}: a {record.class_name}, not a Discriminator")
    kwargs = _kwargs(record)
    if kwargs.get("c_dim", 0):
        raise CheckpointError(f"{where}: a conditional discriminator (c_dim {kwargs['c_dim']}); atu's takes no label")
    if kwargs.get("img_channels", 3) != 3:
        raise CheckpointError(f"{where}: {kwargs['img_channels']} image channels; atu's StyleGAN2 reads RGB images")
    blocks = sorted((int(name[1:]) for name in record.submodules() if name.startswith("b") and name[1:].isdigit()),
                    reverse=True)
    size = blocks[0]
    if blocks != [2 ** i for i in range(size.bit_length() - 1, 1, -1)]:
        raise CheckpointError(f"{where}: discriminator blocks {blocks} are not {size}, ..., 8, 4")
    tensors = state_dict_of(record)
    channels, clamps = {}, set()
    for res in blocks[:-1]:
        block = _child(record, f"b{res}", where)
        if block.state.get("architecture", "resnet") != "resnet":
            raise CheckpointError(f"{where}: the '{block.state['architecture']}' discriminator architecture; atu's "
                                  "StyleGAN2 discriminator (rosinality's) is 'resnet' only")
        channels[res] = int(tensors[f"b{res}.conv0.weight"].shape[0])
        for layer in ("conv1", "skip"):
            _check_filter(tensors[f"b{res}.{layer}.resample_filter"], f"{where} b{res}.{layer}")
        clamps.update(child.state.get("conv_clamp") for child in block.submodules().values() if child is not None)
    epilogue = _child(record, "b4", where)
    mbstd = epilogue.submodules().get("mbstd")
    if not isinstance(mbstd, PersistentRecord) or mbstd.state.get("num_channels", 1) != 1:
        raise CheckpointError(f"{where}: a minibatch-stddev layer other than one channel (or none); atu's has one")
    group = mbstd.state.get("group_size", 4)
    if not isinstance(group, int) or group < 1:
        raise CheckpointError(f"{where}: minibatch-stddev group size {group!r}; atu needs a fixed positive one")
    channels[4] = int(tensors["b4.conv.weight"].shape[0])
    if tuple(tensors["b4.out.weight"].shape)[0] != 1:
        raise CheckpointError(f"{where}: its output has {tensors['b4.out.weight'].shape[0]} values (a projection "
                              "discriminator?); atu's has one logit")

    out = {"convs.0.0.weight": tensors[f"b{size}.fromrgb.weight"], "convs.0.1.bias": tensors[f"b{size}.fromrgb.bias"]}
    for k, res in enumerate(blocks[:-1], start=1):
        b = f"b{res}"
        out.update({f"convs.{k}.conv1.0.weight": tensors[f"{b}.conv0.weight"], f"convs.{k}.conv1.1.bias": tensors[f"{b}.conv0.bias"],
                    f"convs.{k}.conv2.1.weight": tensors[f"{b}.conv1.weight"], f"convs.{k}.conv2.2.bias": tensors[f"{b}.conv1.bias"],
                    f"convs.{k}.skip.1.weight": tensors[f"{b}.skip.weight"]})
    out.update({"final_conv.0.weight": tensors["b4.conv.weight"], "final_conv.1.bias": tensors["b4.conv.bias"],
                "final_linear.0.weight": tensors["b4.fc.weight"], "final_linear.0.bias": tensors["b4.fc.bias"],
                "final_linear.1.weight": tensors["b4.out.weight"], "final_linear.1.bias": tensors["b4.out.bias"]})
    config = {"size": size, "channel_multiplier": 2, "blur_kernel": list(_BLUR),
              "channels": {str(r): c for r, c in sorted(channels.items())}}
    if group != 4:
        config["stddev_group"] = group
    from ..models import Discriminator

    for name, buffer in Discriminator.from_config(config).state_dict().items():
        if name.endswith(".kernel"):
            out[name] = buffer
    out = {name: tensor.detach().clone().contiguous() for name, tensor in out.items()}
    clamps.discard(None)
    return config, out, {"nvlabs_class": record.class_name, "dropped_conv_clamp": sorted(float(c) for c in clamps) or None}


def checkpoint_from_pickle(path: str | Path) -> Checkpoint:
    """An NVlabs network pickle as a Checkpoint: G_ema -> "g_ema", G -> "g", D -> "d"."""
    path = Path(path)
    top = read_network_pickle(path)
    sections, metadata, config = {}, {"source": "nvlabs_pickle", "networks": {}}, {}
    for key, section in (("G_ema", "g_ema"), ("G", "g")):
        record = top.get(key)
        if record is None:
            continue
        cfg, state, notes = generator_from_record(record, f"{path} [{key}]")
        if config.get("generator", cfg) != cfg:
            raise CheckpointError(f"{path}: G and G_ema have different architectures")
        config["generator"], sections[section] = cfg, state
        metadata["networks"][section] = notes
    if not sections:
        raise CheckpointError(f"{path}: an NVlabs network pickle without G_ema or G (holds {sorted(top)})")
    if top.get("D") is not None:
        config["discriminator"], sections["d"], metadata["networks"]["d"] = discriminator_from_record(
            top["D"], f"{path} [D]")
    training = top.get("training_set_kwargs")
    if isinstance(training, dict):
        metadata["training_set_kwargs"] = _plain(training)
    for key in ("G_ema", "G", "D"):
        if isinstance(top.get(key), PersistentRecord):       # the constructor's arguments, as the file has them
            metadata.setdefault("init_kwargs", {})[key] = _plain(_kwargs(top[key]))
    return Checkpoint(path=path, format="nvlabs", kind="stylegan2", config=config, state_dicts=sections,
                      metadata=metadata, file_format="pickle")
