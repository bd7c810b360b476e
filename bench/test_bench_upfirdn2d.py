"""upfirdn2d forward+backward on the layer shapes of a 32×32 and a 256×256 StyleGAN2 (batch 16,
channel_multiplier 2: 512 channels up to 64×64, 256 at 128×128, 128 at 256×256), as rosinality's
generator and discriminator call it, against the plain-PyTorch reference.

  atu             atu_ext.upfirdn2d with the 2-D filter rosinality uses (make_kernel([1,3,3,1]))
  atu_separable   atu_ext.upfirdn2d with the 1-D filter (NVlabs' form; same result, two 1-D passes)
  reference       atu_ext.reference.upfirdn2d: zero insertion + F.pad + depthwise conv2d (oneDNN)

Each round: y = op(x); y.backward(dy) with x a leaf requiring grad (x.grad reset each round).
Run: pytest bench/test_bench_upfirdn2d.py --benchmark-json=bench/results/<machine>-upfirdn2d.json
     python bench/summarize_cases.py bench/results/<machine>-upfirdn2d.json > bench/results/<machine>-upfirdn2d.md
"""

import pytest
import torch

import atu_ext
from atu_ext import reference
from bench_common import bench_device, time_forward_backward

BATCH = 16
BLUR1D = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
BLUR2D = torch.outer(BLUR1D, BLUR1D)


def _channels(res: int) -> int:
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}[res]


def _layers(net: str, size: int):
    """(name, channels, input H=W, up, down, padding, gain) of every distinct upfirdn2d call."""
    out = []
    if net == "G":
        for res in (8, 32) if size == 32 else (8, 64, 128, 256):
            c = _channels(res)
            # StyledConv(upsample=True): blur of the stride-2 transposed 3×3 conv's (2r+1)² output
            out.append((f"G{size} conv_up blur r={res}", c, res + 1, 1, 1, [1, 1, 1, 1], 4.0))
        # ToRGB skip: Upsample of the previous RGB image
        out.append((f"G{size} torgb upsample r={size}", 3, size // 2, 2, 1, [2, 1, 2, 1], 4.0))
    else:
        for res in (32, 16) if size == 32 else (256, 128, 32):
            c = _channels(res)
            # ResBlock: blur before the stride-2 3×3 conv (pad 2,2) and the 1×1 skip (pad 1,1)
            out.append((f"D{size} conv_down blur r={res}", c, res, 1, 1, [2, 2, 2, 2], 1.0))
            out.append((f"D{size} skip_down blur r={res}", c, res, 1, 1, [1, 1, 1, 1], 1.0))
    return out


LAYERS = [layer for size in (32, 256) for net in ("G", "D") for layer in _layers(net, size)]
METHODS = ["atu", "atu_separable", "reference"]


class _State:
    key = None
    value = None


def _problem(layer):
    """x (leaf, requires grad) and dy, kept for all methods of one layer (they are large)."""
    if _State.key != layer:
        name, c, hw, up, down, pad, gain = layer
        g = torch.Generator().manual_seed(0)
        x = torch.randn(BATCH, c, hw, hw, generator=g).to(bench_device()).requires_grad_()
        with torch.no_grad():
            y = reference.upfirdn2d(x[:1], BLUR2D.to(x.device), up=up, down=down, padding=pad, gain=gain)
        dy = torch.randn(BATCH, *y.shape[1:], generator=g).to(x.device)
        _State.key, _State.value = None, None  # free the previous layer's tensors first
        _State.key, _State.value = layer, (x, dy)
    return _State.value


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("layer", LAYERS, ids=[layer[0].replace(" ", "_") for layer in LAYERS])
def test_upfirdn2d_forward_backward(benchmark, layer, method):
    name, c, hw, up, down, pad, gain = layer
    x, dy = _problem(layer)
    op = reference.upfirdn2d if method == "reference" else atu_ext.upfirdn2d
    f = (BLUR1D if method == "atu_separable" else BLUR2D).to(x.device)

    info = dict(op="upfirdn2d", case=name, method=method, shape=[BATCH, c, hw, hw], up=up, down=down, padding=pad)
    y = time_forward_backward(
        benchmark, lambda: op(x, f, up=up, down=down, padding=pad, gain=gain), (x,), dy, 5, **info
    )
    assert y.shape == dy.shape
