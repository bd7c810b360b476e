"""An independent functional re-statement of rosinality/stylegan2-pytorch's forward passes, over a
plain state dict, in that implementation's own formulation: grouped conv2d / conv_transpose2d on
the batch folded into channels, blur with the stored kernel buffers (through the reference
upfirdn2d), leaky ReLU written out. The test oracle for atu.models: it shares no code with them."""

import math

import torch
import torch.nn.functional as F

from atu_ext.reference import upfirdn2d

SQRT2 = math.sqrt(2.0)


def _lrelu(x, bias):
    shape = [1, -1] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), 0.2) * SQRT2


def _equal_linear(sd, prefix, x, lr_mul=1.0, activate=False):
    w, b = sd[prefix + ".weight"], sd[prefix + ".bias"]
    y = x @ (w * (lr_mul / math.sqrt(w.shape[1]))).t()
    return _lrelu(y, b * lr_mul) if activate else y + b * lr_mul


def _blur(x, kernel, pad0, pad1, up=1):
    return upfirdn2d(x, kernel, up=up, padding=[pad0, pad1, pad0, pad1])


def _modulated_conv(sd, prefix, x, w_latent, demodulate=True, upsample=False):
    weight = sd[prefix + ".weight"]  # [1, O, I, k, k]
    _, out_ch, in_ch, k, _ = weight.shape
    b, _, h, wd = x.shape
    style = _equal_linear(sd, prefix + ".modulation", w_latent).view(b, 1, in_ch, 1, 1)
    wgt = weight / math.sqrt(in_ch * k * k) * style
    if demodulate:
        wgt = wgt * torch.rsqrt(wgt.pow(2).sum([2, 3, 4]) + 1e-8).view(b, out_ch, 1, 1, 1)
    x = x.reshape(1, b * in_ch, h, wd)
    if upsample:
        wgt = wgt.transpose(1, 2).reshape(b * in_ch, out_ch, k, k)
        y = F.conv_transpose2d(x, wgt, padding=0, stride=2, groups=b)
        y = y.view(b, out_ch, *y.shape[2:])
        p = 4 - 2 - (k - 1)
        return _blur(y, sd[prefix + ".blur.kernel"], (p + 1) // 2 + 1, p // 2 + 1)
    y = F.conv2d(x, wgt.reshape(b * out_ch, in_ch, k, k), padding=k // 2, groups=b)
    return y.view(b, out_ch, *y.shape[2:])


def _styled_conv(sd, prefix, x, w_latent, noise, upsample=False):
    y = _modulated_conv(sd, prefix + ".conv", x, w_latent, upsample=upsample)
    y = y + sd[prefix + ".noise.weight"] * noise
    return _lrelu(y, sd[prefix + ".activate.bias"])


def _to_rgb(sd, prefix, x, w_latent, skip=None):
    y = _modulated_conv(sd, prefix + ".conv", x, w_latent, demodulate=False) + sd[prefix + ".bias"]
    if skip is not None:
        y = y + _blur(skip, sd[prefix + ".upsample.kernel"], 2, 1, up=2)
    return y


def generator(sd, z_or_w, noise, *, input_is_latent=False, n_mlp=8, lr_mlp=0.01):
    """Image of rosinality's Generator for latents [N, n_latent, style_dim] (or z [N, style_dim])."""
    n_convs = sum(1 for key in sd if key.startswith("convs.") and key.endswith(".noise.weight"))
    n_latent = n_convs + 2
    if input_is_latent:
        w = z_or_w
    else:
        x = z_or_w * torch.rsqrt(z_or_w.pow(2).mean(1, keepdim=True) + 1e-8)
        for i in range(1, n_mlp + 1):
            x = _equal_linear(sd, f"style.{i}", x, lr_mul=lr_mlp, activate=True)
        w = x
    if w.ndim == 2:
        w = w[:, None, :].repeat(1, n_latent, 1)
    out = sd["input.input"].repeat(w.shape[0], 1, 1, 1)
    out = _styled_conv(sd, "conv1", out, w[:, 0], noise[0])
    skip = _to_rgb(sd, "to_rgb1", out, w[:, 1])
    for j in range(n_convs // 2):
        out = _styled_conv(sd, f"convs.{2 * j}", out, w[:, 1 + 2 * j], noise[1 + 2 * j], upsample=True)
        out = _styled_conv(sd, f"convs.{2 * j + 1}", out, w[:, 2 + 2 * j], noise[2 + 2 * j])
        skip = _to_rgb(sd, f"to_rgbs.{j}", out, w[:, 3 + 2 * j], skip)
    return skip


def _conv_layer(sd, prefix, x, downsample=False, activate=True):
    idx = 0
    if downsample:
        k = sd[f"{prefix}.1.weight"].shape[-1]
        p = 4 - 2 + (k - 1)
        x = _blur(x, sd[f"{prefix}.0.kernel"], (p + 1) // 2, p // 2)
        idx = 1
    w = sd[f"{prefix}.{idx}.weight"]
    k = w.shape[-1]
    scale = 1 / math.sqrt(w.shape[1] * k * k)
    x = F.conv2d(x, w * scale, stride=2 if downsample else 1, padding=0 if downsample else k // 2)
    return _lrelu(x, sd[f"{prefix}.{idx + 1}.bias"]) if activate else x


def discriminator(sd, image):
    n_blocks = sum(1 for key in sd if key.startswith("convs.") and key.endswith(".conv1.0.weight"))
    out = _conv_layer(sd, "convs.0", image)
    for i in range(1, n_blocks + 1):
        y = _conv_layer(sd, f"convs.{i}.conv1", out)
        y = _conv_layer(sd, f"convs.{i}.conv2", y, downsample=True)
        s = _conv_layer(sd, f"convs.{i}.skip", out, downsample=True, activate=False)
        out = (y + s) / SQRT2
    b, c, h, w = out.shape
    group = min(b, 4)
    std = out.view(group, -1, 1, c, h, w)
    std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
    out = torch.cat([out, std.repeat(group, 1, h, w)], 1)
    out = _conv_layer(sd, "final_conv", out).view(b, -1)
    out = _equal_linear(sd, "final_linear.0", out, activate=True)
    return _equal_linear(sd, "final_linear.1", out)
