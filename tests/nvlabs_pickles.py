"""NVlabs StyleGAN2-ADA network pickles for the tests, written with exactly the structure NVlabs'
persistence gives a snapshot (tests/fixtures/nvlabs/structure.json, read off files made by NVlabs'
own code, is what test_nvlabs_real.py holds this helper to): every network a persistent record whose
state is the module's __dict__ (its attributes as NVlabs' constructors set them, `_parameters`,
`_buffers`, `_modules`, and the constructor's arguments as `_init_args` / `_init_kwargs`), numpy
scalars where NVlabs keeps them, EasyDicts where train.py builds them. And an independent float64
forward of NVlabs' StyleGAN2 generator and discriminator written from their definitions.

The stand-in modules replace NVlabs' torch_utils.persistence and dnnlib while a test writes a pickle;
their reconstruct function execs the pickled source, as NVlabs' does, so a marker file shows
whether anything ran it."""

import collections
import math
import pickle
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

from atu_ext import reference

BLUR = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
FILTER = torch.outer(BLUR, BLUR) / torch.outer(BLUR, BLUR).sum()
SQRT2 = math.sqrt(2)


def install_stand_ins(monkeypatch, marker):
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        module = types.ModuleType("_imported_module")
        exec(meta["module_src"], module.__dict__)  # what NVlabs' loader does with the source
        return module.__dict__[meta["class_name"]]

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"  # how pickle names it
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    dnnlib_util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    dnnlib_util.EasyDict = EasyDict
    for name, module in {
        "torch_utils": types.ModuleType("torch_utils"),
        "torch_utils.persistence": persistence,
        "dnnlib": types.ModuleType("dnnlib"),
        "dnnlib.util": dnnlib_util,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(marker=marker, reconstruct=_reconstruct_persistent_obj, EasyDict=EasyDict)


def remove_stand_ins():
    for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"):
        sys.modules.pop(name, None)


class Persistent:
    """Pickles as NVlabs' persistent classes do: a reconstruct call with the object's record."""

    def __init__(self, env, class_name, state):
        source = f"open({str(env.marker)!r}, 'w').write('ran')\nclass {class_name}: pass\n"
        self.reconstruct = env.reconstruct
        self.meta = dict(type="class", version=6, module_src=source, class_name=class_name, state=state)

    def __reduce__(self):
        return self.reconstruct, (self.meta,)


def network(env, class_name, params=None, buffers=None, modules=None, args=(), kwargs=None, **attributes):
    """A persistent record as NVlabs' persistence pickles one: the module's __dict__ as its state."""
    state = {
        "training": False,
        "_parameters": collections.OrderedDict(params or {}),
        "_buffers": collections.OrderedDict(buffers or {}),
        "_non_persistent_buffers_set": set(),
        "_modules": collections.OrderedDict(modules or {}),
        **attributes,
        "_init_args": tuple(args),
        "_init_kwargs": dict(kwargs or {}),
    }
    return Persistent(env, class_name, state)


# ---- an NVlabs StyleGAN2 generator, as tensors and as records --------------------------------------


def random_generator_tensors(size, w_dim, n_mlp, channels, seed):
    """NVlabs' parameter names and shapes for Generator(z_dim=w_dim, c_dim=0, img_resolution=size)."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    t = {}
    for i in range(n_mlp):
        t[f"mapping.fc{i}.weight"] = randn(w_dim, w_dim, scale=100.0)  # N(0,1)/lr_mul, lr_mul 0.01
        t[f"mapping.fc{i}.bias"] = randn(w_dim, scale=0.5)
    t["mapping.w_avg"] = randn(w_dim)
    res_list = [2**i for i in range(2, size.bit_length())]
    t["synthesis.b4.const"] = randn(channels[4], 4, 4)
    in_ch = channels[4]
    for res in res_list:
        ch = channels[res]
        layers = ["conv1"] if res == 4 else ["conv0", "conv1"]
        for layer in layers:
            cin = in_ch if layer == "conv0" else ch
            t[f"synthesis.b{res}.{layer}.affine.weight"] = randn(cin, w_dim)
            t[f"synthesis.b{res}.{layer}.affine.bias"] = 1 + randn(cin, scale=0.1)
            t[f"synthesis.b{res}.{layer}.weight"] = randn(ch, cin, 3, 3)
            t[f"synthesis.b{res}.{layer}.noise_strength"] = randn(1, scale=0.1).reshape(())
            t[f"synthesis.b{res}.{layer}.bias"] = randn(ch, scale=0.1)
            t[f"synthesis.b{res}.{layer}.noise_const"] = randn(res, res)
            t[f"synthesis.b{res}.{layer}.resample_filter"] = FILTER.clone()
        t[f"synthesis.b{res}.torgb.affine.weight"] = randn(ch, w_dim)
        t[f"synthesis.b{res}.torgb.affine.bias"] = 1 + randn(ch, scale=0.1)
        t[f"synthesis.b{res}.torgb.weight"] = randn(3, ch, 1, 1)
        t[f"synthesis.b{res}.torgb.bias"] = randn(3, scale=0.1)
        t[f"synthesis.b{res}.resample_filter"] = FILTER.clone()
        in_ch = ch
    return {k: v.float() for k, v in t.items()}


def _fc_record(env, t, prefix, in_features, args, lr_multiplier=1, activation="linear", kwargs=None):
    """FullyConnectedLayer: weight_gain a numpy float64 (lr_multiplier / np.sqrt(in_features)), as NVlabs'."""
    return network(
        env,
        "FullyConnectedLayer",
        {"weight": _param(t, f"{prefix}.weight"), "bias": _param(t, f"{prefix}.bias")},
        args=args,
        kwargs=kwargs if kwargs is not None else {},
        activation=activation,
        weight_gain=lr_multiplier / np.sqrt(in_features),
        bias_gain=lr_multiplier,
    )


def _param(t, name):
    return torch.nn.Parameter(t[name].clone(), requires_grad=False)


def generator_record(
    env,
    t,
    size,
    w_dim,
    n_mlp,
    architecture="skip",
    c_dim=0,
    conv_clamp=256,
    num_fp16_res=4,
    channel_base=None,
    channel_max=512,
):
    """NVlabs' Generator(z_dim=w_dim, w_dim=w_dim, c_dim, img_resolution=size, img_channels=3,
    mapping_kwargs=EasyDict(num_layers=n_mlp), synthesis_kwargs=EasyDict(channel_base, channel_max,
    num_fp16_res, conv_clamp)) as train.py and training_loop.py construct it; the widths are the
    tensors' (channel_base, when given, is only what the constructor records)."""
    res_list = [2**i for i in range(2, size.bit_length())]
    channels = {res: int(t[f"synthesis.b{res}.conv1.weight"].shape[0]) for res in res_list}
    channel_base = channel_base if channel_base is not None else channels[4] * 4
    fp16_resolution = max(2 ** (size.bit_length() - num_fp16_res), 8)  # NVlabs' rule
    num_ws = 2 * len(res_list)
    blocks = {}
    for res in res_list:
        b = f"synthesis.b{res}"
        in_ch, ch = (channels[res // 2] if res > 4 else 0), channels[res]
        use_fp16 = res >= fp16_resolution
        layers = {}
        for layer in ["conv1"] if res == 4 else ["conv0", "conv1"]:
            p, cin = f"{b}.{layer}", (in_ch if layer == "conv0" else ch)
            kwargs = {"w_dim": w_dim, "resolution": res}
            if layer == "conv0":
                kwargs.update(up=2, resample_filter=[1, 3, 3, 1])
            kwargs.update(conv_clamp=conv_clamp, channels_last=False)
            layers[layer] = network(
                env,
                "SynthesisLayer",
                {
                    "weight": _param(t, f"{p}.weight"),
                    "noise_strength": _param(t, f"{p}.noise_strength"),
                    "bias": _param(t, f"{p}.bias"),
                },
                {"resample_filter": t[f"{p}.resample_filter"].clone(), "noise_const": t[f"{p}.noise_const"].clone()},
                {"affine": _fc_record(env, t, f"{p}.affine", w_dim, (w_dim, cin), kwargs={"bias_init": 1})},
                args=(cin, ch),
                kwargs=kwargs,
                resolution=res,
                up=2 if layer == "conv0" else 1,
                use_noise=True,
                activation="lrelu",
                conv_clamp=conv_clamp,
                padding=1,
                act_gain=SQRT2,
            )
        layers["torgb"] = network(
            env,
            "ToRGBLayer",
            {"weight": _param(t, f"{b}.torgb.weight"), "bias": _param(t, f"{b}.torgb.bias")},
            modules={"affine": _fc_record(env, t, f"{b}.torgb.affine", w_dim, (w_dim, ch), kwargs={"bias_init": 1})},
            args=(ch, 3),
            kwargs={"w_dim": w_dim, "conv_clamp": conv_clamp, "channels_last": False},
            conv_clamp=conv_clamp,
            weight_gain=1 / np.sqrt(ch),
        )
        params = {"const": _param(t, f"{b}.const")} if res == 4 else {}
        blocks[f"b{res}"] = network(
            env,
            "SynthesisBlock",
            params,
            {"resample_filter": t[f"{b}.resample_filter"].clone()},
            layers,
            args=(in_ch, ch),
            kwargs={
                "w_dim": w_dim,
                "resolution": res,
                "img_channels": 3,
                "is_last": res == size,
                "use_fp16": use_fp16,
                "conv_clamp": conv_clamp,
            },
            in_channels=in_ch,
            w_dim=w_dim,
            resolution=res,
            img_channels=3,
            is_last=res == size,
            architecture=architecture,
            use_fp16=use_fp16,
            channels_last=False,
            num_conv=len(layers) - 1,
            num_torgb=1,
        )
    synthesis_kwargs = env.EasyDict(
        channel_base=channel_base, channel_max=channel_max, num_fp16_res=num_fp16_res, conv_clamp=conv_clamp
    )
    synthesis = network(
        env,
        "SynthesisNetwork",
        modules=blocks,
        kwargs={"w_dim": w_dim, "img_resolution": size, "img_channels": 3, **synthesis_kwargs},
        w_dim=w_dim,
        img_resolution=size,
        img_resolution_log2=size.bit_length() - 1,
        img_channels=3,
        block_resolutions=res_list,
        num_ws=num_ws,
    )
    mapping_kwargs = {"z_dim": w_dim, "c_dim": c_dim, "w_dim": w_dim, "num_ws": num_ws, "num_layers": n_mlp}
    mapping = network(
        env,
        "MappingNetwork",
        buffers={"w_avg": t["mapping.w_avg"].clone()},
        modules={
            f"fc{i}": _fc_record(
                env,
                t,
                f"mapping.fc{i}",
                w_dim,
                (w_dim, w_dim),
                lr_multiplier=0.01,
                activation="lrelu",
                kwargs={"activation": "lrelu", "lr_multiplier": 0.01},
            )
            for i in range(n_mlp)
        },
        kwargs=mapping_kwargs,
        **mapping_kwargs,
        w_avg_beta=0.995,
    )
    # NVlabs' Generator keeps these init arguments as attributes (and num_ws, which it derives)
    attributes = {"z_dim": w_dim, "c_dim": c_dim, "w_dim": w_dim, "img_resolution": size, "img_channels": 3}
    kwargs = {**attributes, "mapping_kwargs": env.EasyDict(num_layers=n_mlp), "synthesis_kwargs": synthesis_kwargs}
    modules = {"synthesis": synthesis, "mapping": mapping}
    return network(env, "Generator", modules=modules, kwargs=kwargs, **attributes, num_ws=num_ws)


def augment_pipe_record(env):
    """The AugmentPipe a StyleGAN2-ADA snapshot carries beside the networks (atu reads none of it)."""
    return network(
        env,
        "AugmentPipe",
        buffers={"p": torch.tensor(0.2), "Hz_geom": torch.zeros(12), "Hz_fbank": torch.zeros(4, 12)},
        kwargs={"xflip": 1, "rotate90": 1, "xint": 1},
        xflip=1.0,
        rotate90=1.0,
        xint=1.0,
        xint_max=0.125,
    )


def snapshot(env, G=None, D=None, G_ema=None, resolution=None, augment=True):
    """A snapshot dict in training_loop.py's order: training_set_kwargs, G, D, G_ema, augment_pipe."""
    top = {
        "training_set_kwargs": {
            "class_name": "training.dataset.ImageFolderDataset",
            "path": "/data/images.zip",
            "use_labels": False,
            "max_size": 1000,
            "xflip": False,
            "resolution": resolution,
        }
    }
    for key, value in (("G", G), ("D", D), ("G_ema", G_ema)):
        if value is not None:
            top[key] = value
    if augment:
        top["augment_pipe"] = augment_pipe_record(env)
    return top


def write_pickle(path, top):
    with open(path, "wb") as fh:
        pickle.dump(top, fh, protocol=4)


# ---- the independent forward ---------------------------------------------------------------------


def _lrelu(x, b):
    return F.leaky_relu(x + b.reshape(1, -1, *([1] * (x.ndim - 2))), 0.2) * math.sqrt(2)


def _fc(x, t, prefix, lr_mul):
    w = t[f"{prefix}.weight"].double()
    return x @ (w * (lr_mul / math.sqrt(w.shape[1]))).t() + t[f"{prefix}.bias"].double() * lr_mul


def _modconv(x, weight, styles, demodulate, up):
    w = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        w = w * torch.rsqrt(w.square().sum(dim=[2, 3, 4]) + 1e-8)[:, :, None, None, None]
    out = []
    for n in range(x.shape[0]):
        xn = x[n : n + 1]
        if up == 2:  # zero insertion, padding [3, 2] w.r.t. the upsampled image, FIR (gain 4), then a
            # valid *convolution* (NVlabs' SynthesisLayer: flip_weight = (up == 1), so False here)
            xn = reference.upfirdn2d(xn, FILTER, up=2, padding=[3, 2, 3, 2], gain=4.0)
            out.append(F.conv2d(xn, w[n].flip([2, 3])))
        else:
            out.append(F.conv2d(xn, w[n], padding=w.shape[-1] // 2))
    return torch.cat(out)


def nvlabs_generator_forward(t, z, size, n_mlp):
    """G(z) of NVlabs' StyleGAN2 generator (truncation 1, one w for every layer, constant noise)."""
    t = {k: v.double() for k, v in t.items()}
    x = z.double() * torch.rsqrt(z.double().square().mean(dim=1, keepdim=True) + 1e-8)
    for i in range(n_mlp):
        x = F.leaky_relu(_fc(x, t, f"mapping.fc{i}", 0.01), 0.2) * math.sqrt(2)
    w = x

    def layer(h, p, up):
        h = _modconv(h, t[f"{p}.weight"], _fc(w, t, f"{p}.affine", 1), True, up)
        h = h + t[f"{p}.noise_const"] * t[f"{p}.noise_strength"]
        return _lrelu(h, t[f"{p}.bias"])

    def torgb(h, p):
        styles = _fc(w, t, f"{p}.affine", 1) / math.sqrt(t[f"{p}.weight"].shape[1])
        return _modconv(h, t[f"{p}.weight"], styles, False, 1) + t[f"{p}.bias"].reshape(1, -1, 1, 1)

    h = t["synthesis.b4.const"][None].repeat(z.shape[0], 1, 1, 1)
    h = layer(h, "synthesis.b4.conv1", 1)
    img = torgb(h, "synthesis.b4.torgb")
    for res in [2**i for i in range(3, size.bit_length())]:
        h = layer(h, f"synthesis.b{res}.conv0", 2)
        h = layer(h, f"synthesis.b{res}.conv1", 1)
        img = reference.upfirdn2d(img, FILTER, up=2, padding=[2, 1, 2, 1], gain=4.0) + torgb(
            h, f"synthesis.b{res}.torgb"
        )
    return img


# ---- an NVlabs 'resnet' discriminator --------------------------------------------------------------


def random_discriminator_tensors(size, channels, seed):
    """NVlabs' names and shapes for Discriminator(c_dim=0, img_resolution=size, architecture='resnet')."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    t = {
        f"b{size}.fromrgb.weight": randn(channels[size], 3, 1, 1),
        f"b{size}.fromrgb.bias": randn(channels[size], scale=0.1),
    }
    for res in [2**i for i in range(size.bit_length() - 1, 2, -1)]:
        tmp, out = channels[res], channels[res // 2]
        t[f"b{res}.conv0.weight"], t[f"b{res}.conv0.bias"] = randn(tmp, tmp, 3, 3), randn(tmp, scale=0.1)
        t[f"b{res}.conv1.weight"], t[f"b{res}.conv1.bias"] = randn(out, tmp, 3, 3), randn(out, scale=0.1)
        t[f"b{res}.skip.weight"] = randn(out, tmp, 1, 1)
        for layer in ("fromrgb", "conv0", "conv1", "skip"):
            t[f"b{res}.{layer}.resample_filter"] = FILTER.clone()
        t[f"b{res}.resample_filter"] = FILTER.clone()
    c4 = channels[4]
    t["b4.conv.weight"], t["b4.conv.bias"] = randn(c4, c4 + 1, 3, 3), randn(c4, scale=0.1)
    t["b4.conv.resample_filter"] = FILTER.clone()
    t["b4.fc.weight"], t["b4.fc.bias"] = randn(c4, c4 * 16), randn(c4, scale=0.1)
    t["b4.out.weight"], t["b4.out.bias"] = randn(1, c4), randn(1, scale=0.1)
    return {k: v.float() for k, v in t.items() if "fromrgb" not in k or k.startswith(f"b{size}.")}


def discriminator_record(
    env,
    t,
    size,
    architecture="resnet",
    group_size=4,
    c_dim=0,
    conv_clamp=256,
    num_fp16_res=4,
    channel_base=None,
    channel_max=512,
):
    """NVlabs' Discriminator(c_dim, img_resolution=size, img_channels=3, architecture, channel_base,
    channel_max, num_fp16_res, conv_clamp, block_kwargs={}, mapping_kwargs={},
    epilogue_kwargs={mbstd_group_size}) as train.py constructs it."""

    def conv(prefix, cin, cout, kernel, activation="lrelu", down=1, bias=True, clamp=conv_clamp):
        kwargs = {"kernel_size": kernel}
        kwargs.update({"bias": False} if not bias else {"activation": activation})
        if down > 1:
            kwargs.update(down=down, trainable=True, resample_filter=[1, 3, 3, 1])
        else:
            kwargs.update(trainable=True)
        if clamp is not None or bias:
            kwargs["conv_clamp"] = clamp
        kwargs["channels_last"] = False
        params = {"weight": _param(t, f"{prefix}.weight")}
        attributes = {"bias": None} if not bias else {}
        if bias:
            params["bias"] = _param(t, f"{prefix}.bias")
        return network(
            env,
            "Conv2dLayer",
            params,
            {"resample_filter": t[f"{prefix}.resample_filter"].clone()},
            args=(cin, cout),
            kwargs=kwargs,
            activation=activation if bias else "linear",
            up=1,
            down=down,
            conv_clamp=clamp if bias else None,
            padding=kernel // 2,
            weight_gain=1 / np.sqrt(cin * kernel**2),
            act_gain=SQRT2 if bias else 1,
            **attributes,
        )

    res_list = [2**i for i in range(size.bit_length() - 1, 2, -1)]
    channels = {res: int(t[f"b{res}.conv0.weight"].shape[0]) for res in res_list}
    channels[4] = int(t["b4.conv.weight"].shape[0])
    fp16_resolution = max(2 ** (size.bit_length() - num_fp16_res), 8)  # NVlabs' rule
    modules, layer_idx = {}, 0
    for res in res_list:
        b, tmp, out = f"b{res}", channels[res], channels[res // 2]
        in_ch = 0 if res == size else tmp
        layers = {}
        if res == size:
            layers["fromrgb"] = conv(f"{b}.fromrgb", 3, tmp, 1)
        layers.update(
            conv0=conv(f"{b}.conv0", tmp, tmp, 3),
            conv1=conv(f"{b}.conv1", tmp, out, 3, down=2),
            skip=conv(f"{b}.skip", tmp, out, 1, activation="linear", down=2, bias=False, clamp=None),
        )
        use_fp16 = res >= fp16_resolution
        num_layers = len(layers)
        modules[b] = network(
            env,
            "DiscriminatorBlock",
            buffers={"resample_filter": t[f"{b}.resample_filter"].clone()},
            modules=layers,
            args=(in_ch, tmp, out),
            kwargs={
                "resolution": res,
                "first_layer_idx": layer_idx,
                "use_fp16": use_fp16,
                "img_channels": 3,
                "architecture": architecture,
                "conv_clamp": conv_clamp,
            },
            in_channels=in_ch,
            resolution=res,
            img_channels=3,
            first_layer_idx=layer_idx,
            architecture=architecture,
            use_fp16=use_fp16,
            channels_last=False,
            num_layers=num_layers,
        )
        layer_idx += num_layers
    c4 = channels[4]
    fc = _fc_record(env, t, "b4.fc", c4 * 16, (c4 * 16, c4), activation="lrelu", kwargs={"activation": "lrelu"})
    head = _fc_record(env, t, "b4.out", c4, (c4, 1), kwargs={})
    conv4 = conv("b4.conv", c4 + 1, c4, 3)
    conv4.meta["state"]["_init_kwargs"] = {"kernel_size": 3, "activation": "lrelu", "conv_clamp": conv_clamp}
    modules["b4"] = network(
        env,
        "DiscriminatorEpilogue",
        modules={
            "mbstd": network(
                env,
                "MinibatchStdLayer",
                kwargs={"group_size": group_size, "num_channels": 1},
                group_size=group_size,
                num_channels=1,
            ),
            "conv": conv4,
            "fc": fc,
            "out": head,
        },
        args=(c4,),
        kwargs={
            "cmap_dim": 0,
            "resolution": 4,
            "mbstd_group_size": group_size,
            "img_channels": 3,
            "architecture": architecture,
            "conv_clamp": conv_clamp,
        },
        in_channels=c4,
        cmap_dim=0,
        resolution=4,
        img_channels=3,
        architecture=architecture,
    )
    channel_base = channel_base if channel_base is not None else channels[4] * 4
    kwargs = {
        "block_kwargs": env.EasyDict(),
        "mapping_kwargs": env.EasyDict(),
        "epilogue_kwargs": env.EasyDict(mbstd_group_size=group_size),
        "channel_base": channel_base,
        "channel_max": channel_max,
        "num_fp16_res": num_fp16_res,
        "conv_clamp": conv_clamp,
        "c_dim": c_dim,
        "img_resolution": size,
        "img_channels": 3,
    }
    if architecture != "resnet":
        kwargs["architecture"] = architecture
    return network(
        env,
        "Discriminator",
        modules=modules,
        kwargs=kwargs,
        c_dim=c_dim,
        img_resolution=size,
        img_resolution_log2=size.bit_length() - 1,
        img_channels=3,
        block_resolutions=res_list,
    )


def _conv(x, t, prefix, act, down=False, gain=1.0):
    w = t[f"{prefix}.weight"]
    w = w / math.sqrt(w[0].numel())
    k = w.shape[-1]
    if down and k == 3:  # blur with padding 2, then a stride-2 valid correlation
        x = F.conv2d(reference.upfirdn2d(x, FILTER, padding=[2, 2, 2, 2]), w, stride=2)
    elif down:  # blur and keep every other sample, then the 1×1 correlation
        x = F.conv2d(reference.upfirdn2d(x, FILTER, down=2, padding=[1, 1, 1, 1]), w)
    else:
        x = F.conv2d(x, w, padding=k // 2)
    b = t.get(f"{prefix}.bias")
    if b is not None:
        x = x + b.reshape(1, -1, 1, 1)
    if act:
        x = F.leaky_relu(x, 0.2) * math.sqrt(2)
    return x * gain


def nvlabs_discriminator_forward(t, img, size, group_size=4):
    t = {k: v.double() for k, v in t.items()}
    x = _conv(img.double(), t, f"b{size}.fromrgb", True)
    for res in [2**i for i in range(size.bit_length() - 1, 2, -1)]:
        y = _conv(x, t, f"b{res}.skip", False, down=True, gain=math.sqrt(0.5))
        x = _conv(x, t, f"b{res}.conv0", True)
        x = y + _conv(x, t, f"b{res}.conv1", True, down=True, gain=math.sqrt(0.5))
    n, c, h, w = x.shape
    G = min(group_size, n)
    y = x.reshape(G, -1, 1, c, h, w)
    y = ((y - y.mean(dim=0)).square().mean(dim=0) + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, 1, 1, 1)
    x = torch.cat([x, y.repeat(G, 1, h, w)], dim=1)
    x = _conv(x, t, "b4.conv", True)
    x = F.leaky_relu(_fc(x.flatten(1), t, "b4.fc", 1), 0.2) * math.sqrt(2)
    return _fc(x, t, "b4.out", 1)
