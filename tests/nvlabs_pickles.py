"""NVlabs-structured network pickles for the tests, and an independent float64 forward of NVlabs'
StyleGAN2 generator written from its definition (mapping, modulated convolutions with the
upsampling done as zero insertion + FIR filter + valid correlation, constant noise, skip ToRGBs).

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


def install_stand_ins(monkeypatch, marker):
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        module = types.ModuleType("_imported_module")
        exec(meta["module_src"], module.__dict__)       # what NVlabs' loader does with the source
        return module.__dict__[meta["class_name"]]
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"     # how pickle names it
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    dnnlib_util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    dnnlib_util.EasyDict = EasyDict
    for name, module in {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
                         "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": dnnlib_util}.items():
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


def network(env, class_name, params=None, buffers=None, modules=None, kwargs=None, **attributes):
    state = {"training": False, "_parameters": collections.OrderedDict(params or {}),
             "_buffers": collections.OrderedDict(buffers or {}), "_non_persistent_buffers_set": set(),
             "_modules": collections.OrderedDict(modules or {}), "init_kwargs": env.EasyDict(kwargs or {}),
             **attributes}
    return Persistent(env, class_name, state)


# ---- an NVlabs StyleGAN2 generator, as tensors and as records --------------------------------------

def random_generator_tensors(size, w_dim, n_mlp, channels, seed):
    """NVlabs' parameter names and shapes for Generator(z_dim=w_dim, c_dim=0, img_resolution=size)."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale
    t = {}
    for i in range(n_mlp):
        t[f"mapping.fc{i}.weight"] = randn(w_dim, w_dim, scale=100.0)          # N(0,1)/lr_mul, lr_mul 0.01
        t[f"mapping.fc{i}.bias"] = randn(w_dim, scale=0.5)
    t["mapping.w_avg"] = randn(w_dim)
    res_list = [2 ** i for i in range(2, size.bit_length())]
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


def generator_record(env, t, size, w_dim, n_mlp, architecture="skip", c_dim=0, conv_clamp=256):
    def P(name):
        return torch.nn.Parameter(t[name].clone())

    def fc(prefix, lr_mul, bias_init, activation):
        return network(env, "FullyConnectedLayer", {"weight": P(f"{prefix}.weight"), "bias": P(f"{prefix}.bias")},
                       activation=activation, weight_gain=lr_mul / np.sqrt(t[f"{prefix}.weight"].shape[1]),
                       bias_gain=lr_mul)
    mapping = network(env, "MappingNetwork", buffers={"w_avg": t["mapping.w_avg"].clone()},
                      modules={f"fc{i}": fc(f"mapping.fc{i}", 0.01, 0, "lrelu") for i in range(n_mlp)},
                      kwargs={"z_dim": w_dim, "c_dim": c_dim, "w_dim": w_dim, "num_ws": 2 * size.bit_length() - 4},
                      z_dim=w_dim, w_dim=w_dim)
    blocks = {}
    for res in [2 ** i for i in range(2, size.bit_length())]:
        b = f"synthesis.b{res}"
        modules = {}
        for layer in (["conv1"] if res == 4 else ["conv0", "conv1"]):
            p = f"{b}.{layer}"
            modules[layer] = network(
                env, "SynthesisLayer",
                {"weight": P(f"{p}.weight"), "noise_strength": P(f"{p}.noise_strength"), "bias": P(f"{p}.bias")},
                {"resample_filter": t[f"{p}.resample_filter"].clone(), "noise_const": t[f"{p}.noise_const"].clone()},
                {"affine": fc(f"{p}.affine", 1, 1, "linear")}, up=1 if layer == "conv1" else 2, conv_clamp=conv_clamp)
        modules["torgb"] = network(env, "ToRGBLayer", {"weight": P(f"{b}.torgb.weight"), "bias": P(f"{b}.torgb.bias")},
                                   modules={"affine": fc(f"{b}.torgb.affine", 1, 1, "linear")},
                                   weight_gain=1 / np.sqrt(t[f"{b}.torgb.weight"].shape[1]), conv_clamp=conv_clamp)
        params = {"const": P(f"{b}.const")} if res == 4 else {}
        blocks[f"b{res}"] = network(env, "SynthesisBlock", params, {"resample_filter": t[f"{b}.resample_filter"].clone()},
                                    modules, architecture=architecture, resolution=res)
    synthesis = network(env, "SynthesisNetwork", modules=blocks, kwargs={"w_dim": w_dim, "img_resolution": size})
    return network(env, "Generator", modules={"mapping": mapping, "synthesis": synthesis},
                   kwargs={"z_dim": w_dim, "c_dim": c_dim, "w_dim": w_dim, "img_resolution": size, "img_channels": 3})


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
        xn = x[n:n + 1]
        if up == 2:       # zero insertion, padding [3, 2] w.r.t. the upsampled image, FIR (gain 4), valid
            xn = reference.upfirdn2d(xn, FILTER, up=2, padding=[3, 2, 3, 2], gain=4.0)
            out.append(F.conv2d(xn, w[n]))
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
    for res in [2 ** i for i in range(3, size.bit_length())]:
        h = layer(h, f"synthesis.b{res}.conv0", 2)
        h = layer(h, f"synthesis.b{res}.conv1", 1)
        img = reference.upfirdn2d(img, FILTER, up=2, padding=[2, 1, 2, 1], gain=4.0) + torgb(h, f"synthesis.b{res}.torgb")
    return img


# ---- an NVlabs 'resnet' discriminator --------------------------------------------------------------

def random_discriminator_tensors(size, channels, seed):
    """NVlabs' names and shapes for Discriminator(c_dim=0, img_resolution=size, architecture='resnet')."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale
    t = {f"b{size}.fromrgb.weight": randn(channels[size], 3, 1, 1), f"b{size}.fromrgb.bias": randn(channels[size], scale=0.1)}
    for res in [2 ** i for i in range(size.bit_length() - 1, 2, -1)]:
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


def discriminator_record(env, t, size, architecture="resnet", group_size=4, c_dim=0):
    def P(name):
        return torch.nn.Parameter(t[name].clone())

    def conv(prefix, bias=True, **attrs):
        params = {"weight": P(f"{prefix}.weight")}
        if bias:
            params["bias"] = P(f"{prefix}.bias")
        buffers = {"resample_filter": t[f"{prefix}.resample_filter"].clone()} if f"{prefix}.resample_filter" in t else {}
        return network(env, "Conv2dLayer", params, buffers, conv_clamp=256, **attrs)
    modules = {}
    for res in [2 ** i for i in range(size.bit_length() - 1, 2, -1)]:
        b = f"b{res}"
        layers = {"conv0": conv(f"{b}.conv0"), "conv1": conv(f"{b}.conv1", down=2), "skip": conv(f"{b}.skip", bias=False, down=2)}
        if res == size:
            layers["fromrgb"] = conv(f"{b}.fromrgb")
        modules[b] = network(env, "DiscriminatorBlock", buffers={"resample_filter": t[f"{b}.resample_filter"].clone()},
                             modules=layers, architecture=architecture, resolution=res)
    fc = lambda p: network(env, "FullyConnectedLayer", {"weight": P(f"{p}.weight"), "bias": P(f"{p}.bias")},  # noqa: E731
                           bias_gain=1)
    modules["b4"] = network(env, "DiscriminatorEpilogue", modules={
        "mbstd": network(env, "MinibatchStdLayer", group_size=group_size, num_channels=1),
        "conv": conv("b4.conv"), "fc": fc("b4.fc"), "out": fc("b4.out")}, architecture="resnet", cmap_dim=0)
    return network(env, "Discriminator", modules=modules,
                   kwargs={"c_dim": c_dim, "img_resolution": size, "img_channels": 3, "architecture": architecture})


def _conv(x, t, prefix, act, down=False, gain=1.0):
    w = t[f"{prefix}.weight"]
    w = w / math.sqrt(w[0].numel())
    k = w.shape[-1]
    if down and k == 3:     # blur with padding 2, then a stride-2 valid correlation
        x = F.conv2d(reference.upfirdn2d(x, FILTER, padding=[2, 2, 2, 2]), w, stride=2)
    elif down:              # blur and keep every other sample, then the 1×1 correlation
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
    for res in [2 ** i for i in range(size.bit_length() - 1, 2, -1)]:
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
