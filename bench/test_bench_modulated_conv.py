"""modulated_conv2d forward+backward (w.r.t. x, weight and styles) on StyleGAN2 generator layers
(batch 16, channel_multiplier 2), against plain-PyTorch formulations.

  atu         atu_ext.modulated_conv2d (fused modulation op, grouped ATen conv, atu upfirdn2d)
  grouped     the same grouped-convolution algorithm written in plain PyTorch (as rosinality's
              ModulatedConv2d does it), with the reference upfirdn2d
  reference   atu_ext.reference.modulated_conv2d: one sample at a time

The convolutions dominate and are ATen's in all three, so large speed-ups are not expected; this
measures that the fused parts cost nothing extra. 32×32 layers and the 256×256 ToRGB layer only:
the 256×256 3×3 layers take tens of seconds a round on a 2-core CPU.
Run: pytest bench/test_bench_modulated_conv.py --benchmark-json=bench/results/<machine>-modconv.json
"""

import math

import pytest
import torch
import torch.nn.functional as F

import atu_ext
from atu_ext import reference
from bench_common import bench_device, time_forward_backward

BATCH = 16
BLUR2D = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64

# (name, in channels, out channels, kernel, input H=W, up, demodulate)
LAYERS = [
    ("G32 conv_up r=32", 512, 512, 3, 16, 2, True),
    ("G32 conv r=32", 512, 512, 3, 32, 1, True),
    ("G32 torgb r=32", 512, 3, 1, 32, 1, False),
    ("G256 torgb r=256", 128, 3, 1, 256, 1, False),
]
METHODS = ["atu", "grouped", "reference"]


def grouped(x, weight, styles, demodulate=True, up=1, resample_filter=BLUR2D):
    n, i, h, w = x.shape
    o, _, k, _ = weight.shape
    wm = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        wm = wm * torch.rsqrt(wm.pow(2).sum([2, 3, 4]) + 1e-8)[:, :, None, None, None]
    if up == 2:
        wt = wm.transpose(1, 2).reshape(n * i, o, k, k)
        y = F.conv_transpose2d(x.reshape(1, n * i, h, w), wt, stride=2, groups=n)
        y = y.reshape(n, o, *y.shape[2:])
        p = (resample_filter.shape[0] - 2) - (k - 1)
        pad0, pad1 = (p + 1) // 2 + 1, p // 2 + 1
        return reference.upfirdn2d(y, resample_filter, padding=[pad0, pad1, pad0, pad1], gain=4.0)
    y = F.conv2d(x.reshape(1, n * i, h, w), wm.reshape(n * o, i, k, k), padding=k // 2, groups=n)
    return y.reshape(n, o, *y.shape[2:])


def _atu(x, weight, styles, demodulate, up):
    return atu_ext.modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, resample_filter=BLUR2D)


def _reference(x, weight, styles, demodulate, up):
    return reference.modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, resample_filter=BLUR2D)


def _grouped(x, weight, styles, demodulate, up):
    return grouped(x, weight, styles, demodulate=demodulate, up=up)


IMPLS = {"atu": _atu, "grouped": _grouped, "reference": _reference}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("layer", LAYERS, ids=[layer[0].replace(" ", "_") for layer in LAYERS])
def test_modulated_conv_forward_backward(benchmark, layer, method):
    name, cin, cout, k, hw, up, demod = layer
    g = torch.Generator().manual_seed(0)
    dev = bench_device()
    x = torch.randn(BATCH, cin, hw, hw, generator=g).to(dev).requires_grad_()
    weight = (torch.randn(cout, cin, k, k, generator=g) / math.sqrt(cin * k * k)).to(dev).requires_grad_()
    styles = (1 + 0.2 * torch.randn(BATCH, cin, generator=g)).to(dev).requires_grad_()
    out_hw = hw * up
    dy = torch.randn(BATCH, cout, out_hw, out_hw, generator=g).to(dev)
    impl = IMPLS[method]
    info = dict(op="modulated_conv2d", case=name, method=method, shape=[BATCH, cin, hw, hw], out_channels=cout)
    forward = lambda: impl(x, weight, styles, demod, up)  # noqa: E731
    y = time_forward_backward(benchmark, forward, (x, weight, styles), dy, 3, kernel=k, up=up, **info)
    assert y.shape == dy.shape
