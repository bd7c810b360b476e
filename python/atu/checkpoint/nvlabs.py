"""NVlabs StyleGAN2-ADA networks mapped onto atu's rosinality-layout models.

The two implementations compute the same functions with the same parameter conventions (weights
stored as N(0, 1)/lr_mul and scaled at run time, biases scaled by lr_mul, affine biases initialised
to 1, noise added after demodulation and before bias + leaky ReLU · √2, ToRGB's 1/√fan_in applied
to its styles rather than its weight), so the tensors copy over reshaped:

  mapping.fc{i}.{weight,bias}              style.{i+1}.{weight,bias}
  synthesis.b4.const [C,4,4]               input.input [1,C,4,4]
  synthesis.b{r}.conv{0,1}.weight          convs.{k}.conv.weight (conv1 at 4×4) [1,O,I,3,3]
           .affine.{weight,bias}           ....conv.modulation.{weight,bias}
           .noise_strength, .bias          ....noise.weight [1], ....activate.bias
           .noise_const [r,r]              noises.noise_{j} [1,1,r,r]
  synthesis.b{r}.torgb.weight/.bias        to_rgb(s).conv.weight [1,3,C,1,1], .bias [1,3,1,1]

No kernel is turned: NVlabs' upsampling layers run with flip_weight = (up == 1), i.e. they convolve
the zero-upsampled input with the kernel (a transposed convolution), as rosinality's conv_transpose2d
does; its other layers correlate, as conv2d does.

The architecture is read from what NVlabs' constructors store on each network (`self.w_dim`,
`self.up`, `self.architecture`, ...; persistence.py pickles them with the module), falling back to
the constructor's keywords (`_init_kwargs`), and checked against the tensors. What has no
counterpart is refused, naming why: conditional generators (c_dim > 0), other synthesis
architectures than 'skip', StyleGAN3's synthesis network, a z_dim other than w_dim, hidden mapping
widths other than w_dim, other activations than leaky ReLU, other resampling filters than
[1, 3, 3, 1]. NVlabs' conv_clamp (±256 after every layer in its official configs) and fp16 layers
have no counterpart: atu runs float32 unclamped, as NVlabs' own forward does with force_fp32=True
whenever no activation exceeds the clamp; both are recorded in the metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..models import Discriminator, Generator
from .core import Checkpoint
from .errors import CheckpointError
from .metadata import plain_metadata
from .nvlabs_pickle import PersistentRecord, read_network_pickle, state_dict_of

_BLUR = (1.0, 3.0, 3.0, 1.0)


def _child(record: PersistentRecord, name: str, where: str) -> PersistentRecord:
    child = record.submodules().get(name)
    if not isinstance(child, PersistentRecord):
        raise CheckpointError(f"{where}: no {name} network")
    return child


def _block(parent: PersistentRecord, res: int, architecture: str, what: str, where: str) -> PersistentRecord:
    """Block b{res} of a synthesis network or discriminator, checked to have rosinality's architecture."""
    block = _child(parent, f"b{res}", where)
    found = block.attribute("architecture", str, architecture)
    if found != architecture:
        raise CheckpointError(
            f"{where}: the {found[:40]!r} {what} architecture; atu's StyleGAN2 (rosinality's) "
            f"{what} is {architecture!r} only"
        )
    return block


def _tensor(tensors: dict[str, torch.Tensor], name: str, where: str) -> torch.Tensor:
    if name not in tensors:
        raise CheckpointError(f"{where}: no tensor {name}")
    return tensors[name]


def _check_filter(tensor: torch.Tensor, where: str) -> None:
    taps = torch.tensor(_BLUR, dtype=torch.float64)
    expected = torch.outer(taps, taps) / torch.outer(taps, taps).sum()
    if tuple(tensor.shape) != (4, 4) or not torch.allclose(tensor.double(), expected, atol=1e-7):
        raise CheckpointError(
            f"{where}: a resampling filter other than [1, 3, 3, 1] (shape {tuple(tensor.shape)}); "
            "atu's models use that one only"
        )


def _check_activation(record: PersistentRecord, expected: str, where: str) -> None:
    activation = record.attribute("activation", str, expected)
    if activation != expected:
        raise CheckpointError(
            f"{where}: a {activation!r} activation where StyleGAN2 has {expected!r}; atu's models have no other"
        )


def _no_label(record: PersistentRecord, where: str, what: str) -> None:
    c_dim = record.attribute("c_dim", int, 0)
    if c_dim:
        raise CheckpointError(f"{where}: a conditional {what} (c_dim {c_dim}): atu's StyleGAN2 takes no class label")
    channels = record.attribute("img_channels", int, 3)
    if channels != 3:
        raise CheckpointError(f"{where}: {channels} image channels; atu's StyleGAN2 works on RGB images")


def _mapping(mapping: PersistentRecord, tensors: dict[str, torch.Tensor], where: str) -> tuple[int, int, float]:
    """(w_dim, n_mlp, lr_mul) of a MappingNetwork, checked against its layers."""
    z_dim, w_dim = mapping.attribute("z_dim", int), mapping.attribute("w_dim", int)
    if z_dim != w_dim:
        raise CheckpointError(f"{where}: z_dim {z_dim} differs from w_dim {w_dim}; atu's StyleGAN2 has one style_dim")
    if mapping.attribute("c_dim", int, 0) or "embed" in mapping.submodules():
        raise CheckpointError(f"{where}: a mapping network with a label embedding (c_dim > 0); atu's takes no label")
    fcs = sorted(int(name[2:]) for name in mapping.submodules() if name.startswith("fc") and name[2:].isdigit())
    if not fcs or fcs != list(range(len(fcs))):
        raise CheckpointError(f"{where}: mapping layers {fcs} are not fc0, fc1, ...")
    gains = set()
    for i in fcs:
        fc = _child(mapping, f"fc{i}", where)
        _check_activation(fc, "lrelu", f"{where} mapping.fc{i}")
        gains.add(float(fc.attribute("bias_gain", (int, float), 0.01)))
        shape = tuple(_tensor(tensors, f"mapping.fc{i}.weight", where).shape)
        if shape != (w_dim, w_dim):
            raise CheckpointError(
                f"{where}: mapping.fc{i} is {shape[0]}×{shape[1] if len(shape) > 1 else '?'}; "
                f"atu's mapping network is {w_dim}×{w_dim} throughout"
            )
    if len(gains) != 1:
        raise CheckpointError(f"{where}: mapping layers with different learning-rate multipliers {sorted(gains)}")
    return w_dim, len(fcs), gains.pop()


def generator_from_record(record: Any, where: str) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict]:
    """(atu Generator config, its state dict, notes for the metadata) for an NVlabs Generator record."""
    if not isinstance(record, PersistentRecord):
        raise CheckpointError(f"{where}: a {type(record).__name__}, not a network")
    if record.class_name != "Generator":
        raise CheckpointError(f"{where}: a {record.class_name[:60]}, not a Generator")
    _no_label(record, where, "generator")
    mapping = _child(record, "mapping", where)
    synthesis = _child(record, "synthesis", where)
    if "b4" not in synthesis.submodules():
        raise CheckpointError(
            f"{where}: its synthesis network has no 4×4 block (a StyleGAN3 'r'/'t' generator?); "
            "only StyleGAN2's synthesis maps onto atu's models"
        )
    tensors = state_dict_of(record)
    w_dim, n_mlp, lr_mul = _mapping(mapping, tensors, where)
    names = list(synthesis.submodules())
    if not all(name.startswith("b") and name[1:].isdigit() for name in names):
        raise CheckpointError(f"{where}: synthesis blocks {names[:8]} are not named b4, b8, ...")
    blocks = sorted(int(name[1:]) for name in names)
    size = blocks[-1]
    if blocks != [2**i for i in range(2, size.bit_length())]:
        raise CheckpointError(f"{where}: synthesis blocks {blocks[:12]} are not 4, 8, ..., {size}")
    channels, clamps, fp16 = {}, set(), []
    for res in blocks:
        block = _block(synthesis, res, "skip", "synthesis", where)
        if block.attribute("use_fp16", bool, False):
            fp16.append(res)
        channels[res] = int(_tensor(tensors, f"synthesis.b{res}.conv1.weight", where).shape[0])
        for layer, up in (("conv0", 2), ("conv1", 1)):
            if res == 4 and layer == "conv0":
                continue
            module = _child(block, layer, where)
            if module.attribute("up", int, 1) != up:
                raise CheckpointError(
                    f"{where}: b{res}.{layer} upsamples by {module.attribute('up', int, 1)}; "
                    f"StyleGAN2's {layer} upsamples by {up}"
                )
            _check_activation(module, "lrelu", f"{where} b{res}.{layer}")
            clamps.add(module.attribute("conv_clamp", (int, float, type(None)), None))
            _check_filter(
                _tensor(tensors, f"synthesis.b{res}.{layer}.resample_filter", where), f"{where} b{res}.{layer}"
            )
        clamps.add(_child(block, "torgb", where).attribute("conv_clamp", (int, float, type(None)), None))

    out: dict[str, torch.Tensor] = {}
    for i in range(n_mlp):
        out[f"style.{i + 1}.weight"] = tensors[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = _tensor(tensors, f"mapping.fc{i}.bias", where)
    out["input.input"] = _tensor(tensors, "synthesis.b4.const", where).unsqueeze(0)

    def styled(dst: str, src: str, res: int) -> torch.Tensor:
        out[f"{dst}.conv.weight"] = _tensor(tensors, f"{src}.weight", where).unsqueeze(0)
        out[f"{dst}.conv.modulation.weight"] = _tensor(tensors, f"{src}.affine.weight", where)
        out[f"{dst}.conv.modulation.bias"] = _tensor(tensors, f"{src}.affine.bias", where)
        out[f"{dst}.activate.bias"] = _tensor(tensors, f"{src}.bias", where)
        # A layer built with use_noise=False has neither: it adds no noise, as a zero strength does.
        strength = tensors.get(f"{src}.noise_strength", torch.zeros(()))
        if strength.numel() != 1:
            raise CheckpointError(f"{where}: {src}.noise_strength has {strength.numel()} values; it is one number")
        out[f"{dst}.noise.weight"] = strength.reshape(1)
        return tensors.get(f"{src}.noise_const", torch.zeros(res, res))

    def to_rgb(dst: str, src: str) -> None:
        out[f"{dst}.conv.weight"] = _tensor(tensors, f"{src}.weight", where).unsqueeze(0)
        out[f"{dst}.conv.modulation.weight"] = _tensor(tensors, f"{src}.affine.weight", where)
        out[f"{dst}.conv.modulation.bias"] = _tensor(tensors, f"{src}.affine.bias", where)
        out[f"{dst}.bias"] = _tensor(tensors, f"{src}.bias", where).reshape(1, -1, 1, 1)

    noise = [styled("conv1", "synthesis.b4.conv1", 4)]
    to_rgb("to_rgb1", "synthesis.b4.torgb")
    for k, res in enumerate(blocks[1:]):
        noise.append(styled(f"convs.{2 * k}", f"synthesis.b{res}.conv0", res))
        noise.append(styled(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", res))
        to_rgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")
    for j, n in enumerate(noise):
        out[f"noises.noise_{j}"] = n.reshape(1, 1, *n.shape)

    config = {
        "size": size,
        "style_dim": w_dim,
        "n_mlp": n_mlp,
        "channel_multiplier": 2,
        "blur_kernel": list(_BLUR),
        "lr_mlp": lr_mul,
        "channels": {str(r): c for r, c in channels.items()},
    }
    # The blur kernels are buffers of atu's modules, derived from blur_kernel: take them from a
    # freshly built generator (the filters were checked to be the same [1, 3, 3, 1]).

    for name, buffer in Generator.from_config(config).state_dict().items():
        if name.endswith(".kernel"):
            out[name] = buffer
    # Own copies: a snapshot's G and G_ema (or two layers) may share tensors, which safetensors
    # refuses to write and which training one section would silently change in the other.
    out = {name: tensor.detach().clone().contiguous() for name, tensor in out.items()}
    clamps.discard(None)
    notes = {
        "nvlabs_class": record.class_name,
        "w_avg": "mapping.w_avg (truncation centre) not kept",
        "dropped_conv_clamp": sorted(float(c) for c in clamps) or None,
        "fp16_resolutions": fp16 or None,
    }
    return config, out, notes


def discriminator_from_record(record: Any, where: str) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict]:
    """(atu Discriminator config, its state dict, notes) for an NVlabs 'resnet' Discriminator record:

      b{top}.fromrgb                    convs.0 (1×1 ConvLayer)
      b{r}.conv0 / .conv1 / .skip       convs.{k}.conv1 / .conv2 (3×3, down 2) / .skip (1×1, down 2)
      b4.conv / .fc / .out              final_conv / final_linear.0 / final_linear.1
    Both downsample by blurring then correlating with stride 2, so no kernel is turned."""
    if not isinstance(record, PersistentRecord):
        raise CheckpointError(f"{where}: a {type(record).__name__}, not a network")
    if record.class_name != "Discriminator":
        raise CheckpointError(f"{where}: a {record.class_name[:60]}, not a Discriminator")
    _no_label(record, where, "discriminator")
    children = record.submodules()
    blocks = sorted((int(name[1:]) for name in children if name.startswith("b") and name[1:].isdigit()), reverse=True)
    if not blocks or blocks != [2**i for i in range(blocks[0].bit_length() - 1, 1, -1)]:
        raise CheckpointError(f"{where}: discriminator blocks {blocks[:12]} are not N, ..., 8, 4")
    size = blocks[0]
    tensors = state_dict_of(record)
    channels, clamps, fp16 = {}, set(), []
    for res in blocks[:-1]:
        block = _block(record, res, "resnet", "discriminator", where)
        if block.attribute("use_fp16", bool, False):
            fp16.append(res)
        channels[res] = int(_tensor(tensors, f"b{res}.conv0.weight", where).shape[0])
        for layer in ("conv1", "skip"):
            _check_filter(_tensor(tensors, f"b{res}.{layer}.resample_filter", where), f"{where} b{res}.{layer}")
        for name, child in block.submodules().items():
            if child is not None:
                _check_activation(child, "linear" if name == "skip" else "lrelu", f"{where} b{res}.{name}")
                clamps.add(child.attribute("conv_clamp", (int, float, type(None)), None))
    epilogue = _child(record, "b4", where)
    if epilogue.attribute("cmap_dim", int, 0):
        raise CheckpointError(
            f"{where}: a projection discriminator (cmap_dim {epilogue.attribute('cmap_dim', int)}); atu's has one logit"
        )
    mbstd = epilogue.submodules().get("mbstd")
    if not isinstance(mbstd, PersistentRecord) or mbstd.attribute("num_channels", int, 1) != 1:
        raise CheckpointError(f"{where}: a minibatch-stddev layer other than one channel (or none); atu's has one")
    group = mbstd.attribute("group_size", int, 4)
    if group < 1:
        raise CheckpointError(f"{where}: minibatch-stddev group size {group}; atu needs a fixed positive one")
    channels[4] = int(_tensor(tensors, "b4.conv.weight", where).shape[0])
    if tuple(_tensor(tensors, "b4.out.weight", where).shape)[0] != 1:
        raise CheckpointError(
            f"{where}: its output has {tensors['b4.out.weight'].shape[0]} values (a projection "
            "discriminator?); atu's has one logit"
        )

    def take(name: str) -> torch.Tensor:
        return _tensor(tensors, name, where)

    out = {"convs.0.0.weight": take(f"b{size}.fromrgb.weight"), "convs.0.1.bias": take(f"b{size}.fromrgb.bias")}
    for k, res in enumerate(blocks[:-1], start=1):
        b = f"b{res}"
        out.update(
            {
                f"convs.{k}.conv1.0.weight": take(f"{b}.conv0.weight"),
                f"convs.{k}.conv1.1.bias": take(f"{b}.conv0.bias"),
                f"convs.{k}.conv2.1.weight": take(f"{b}.conv1.weight"),
                f"convs.{k}.conv2.2.bias": take(f"{b}.conv1.bias"),
                f"convs.{k}.skip.1.weight": take(f"{b}.skip.weight"),
            }
        )
    out.update(
        {
            "final_conv.0.weight": take("b4.conv.weight"),
            "final_conv.1.bias": take("b4.conv.bias"),
            "final_linear.0.weight": take("b4.fc.weight"),
            "final_linear.0.bias": take("b4.fc.bias"),
            "final_linear.1.weight": take("b4.out.weight"),
            "final_linear.1.bias": take("b4.out.bias"),
        }
    )
    config = {
        "size": size,
        "channel_multiplier": 2,
        "blur_kernel": list(_BLUR),
        "channels": {str(r): c for r, c in sorted(channels.items())},
    }
    if group != 4:
        config["stddev_group"] = group

    for name, buffer in Discriminator.from_config(config).state_dict().items():
        if name.endswith(".kernel"):
            out[name] = buffer
    out = {name: tensor.detach().clone().contiguous() for name, tensor in out.items()}
    clamps.discard(None)
    return (
        config,
        out,
        {
            "nvlabs_class": record.class_name,
            "dropped_conv_clamp": sorted(float(c) for c in clamps) or None,
            "fp16_resolutions": fp16 or None,
        },
    )


def checkpoint_from_pickle(path: str | Path) -> Checkpoint:
    """An NVlabs network pickle as a Checkpoint: G_ema -> "g_ema", G -> "g", D -> "d".

    Every way a file can fail to be such a snapshot is a CheckpointError naming the file: the checks
    above name what they found; a tensor of a shape no StyleGAN2 has is named here."""
    path = Path(path)
    top = read_network_pickle(path)
    try:
        return _checkpoint(path, top)
    except CheckpointError as err:
        message = str(err)
        raise CheckpointError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    except (RuntimeError, ValueError, IndexError, TypeError) as err:  # a reshape of a tensor of the wrong shape
        raise CheckpointError(
            f"{path}: not a StyleGAN2 network this reader maps ({type(err).__name__}: {str(err)[:200]})"
        ) from None


def _checkpoint(path: Path, top: dict) -> Checkpoint:
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
        raise CheckpointError(
            f"{path}: an NVlabs network pickle without G_ema or G (holds {sorted(str(k)[:40] for k in top)[:10]})"
        )
    if top.get("D") is not None:
        config["discriminator"], sections["d"], metadata["networks"]["d"] = discriminator_from_record(
            top["D"], f"{path} [D]"
        )
    training = top.get("training_set_kwargs")
    if isinstance(training, dict):
        metadata["training_set_kwargs"] = plain_metadata(training, "training_set_kwargs")
    for key in ("G_ema", "G", "D"):
        if isinstance(top.get(key), PersistentRecord):  # the constructor's arguments, as the file has them
            metadata.setdefault("init_arguments", {})[key] = plain_metadata(
                top[key].init_arguments(), f"{key}'s constructor arguments"
            )
    return Checkpoint(
        path=path,
        format="nvlabs",
        kind="stylegan2",
        config=config,
        state_dicts=sections,
        metadata=metadata,
        file_format="pickle",
    )
