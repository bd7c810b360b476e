"""Whole StyleGAN2 models on atu_ext's ops against the same models on the plain-PyTorch reference
ops (what a user of a pure-PyTorch StyleGAN2 port runs), at 32×32, batch 16:
  G fwd+bwd    generator forward from z and backward of a scalar loss (images/s)
  D fwd+bwd    discriminator forward and backward of a scalar loss, gradient w.r.t. its weights
  train step   one full StyleGAN2 iteration (D step, G step, lazy R1 every 16 and path length
               every 4, EMA): rounds are a multiple of 16 so every round set includes both
Models: "narrow32" is a narrow digits model (32 channels, style 128, 8 mapping layers; the shipped
one until it was widened to 48 channels); "G32" is the paper's MNIST configuration (rosinality's
widths, 512 channels, style 128); "G256" rosinality's 256×256 configuration (style 512, batch 8),
timed on GPUs only (a CPU step takes minutes).
Run: pytest bench/test_bench_models.py --benchmark-json=bench/results/<machine>-models.json
     python bench/summarize_cases.py bench/results/<machine>-models.json > ....md
"""

import pytest
import torch

from atu.gan.losses import g_nonsaturating_loss
from atu.gan.trainer import StyleGAN2Trainer, TrainConfig
from atu.models import Discriminator, Generator, narrow_channels, use_ops
from bench_common import bench_device, record_case

# name -> (resolution, style_dim, channels (None: rosinality's), batch)
ARCHS = {"narrow32": (32, 128, narrow_channels(32, 32), 16), "G32": (32, 128, None, 16), "G256": (256, 512, None, 8)}
GPU_ONLY = {"G256"}
METHODS = ("atu_ext", "reference")  # the record's labels; atu_ext's ops modes "compiled", "reference"
OPS_MODE = {"atu_ext": "compiled", "reference": "reference"}


class Models:
    def __init__(self, arch, device):
        torch.manual_seed(0)
        size, style_dim, ch, batch = ARCHS[arch]
        self.G = Generator(size, style_dim=style_dim, n_mlp=8, channels=ch).to(device)
        self.D = Discriminator(size, channels=ch).to(device)
        g = torch.Generator().manual_seed(1)
        self.z = torch.randn(batch, style_dim, generator=g).to(device)
        self.real = torch.randn(batch, 3, size, size, generator=g).to(device)
        self.trainer = StyleGAN2Trainer(self.G, self.D, TrainConfig(batch_size=batch), seed=0)
        self.device = device

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def g_forward_backward(self):
        self.G.zero_grad(set_to_none=True)
        img, _ = self.G([self.z])
        img.square().mean().backward()
        self.sync()

    def d_forward_backward(self):
        self.D.zero_grad(set_to_none=True)
        g_nonsaturating_loss(self.D(self.real)).backward()
        self.sync()

    def train_step(self):
        self.trainer.train_step(self.real)
        self.sync()


_CACHE = {}


def _models(arch):
    key = (arch, bench_device())
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = Models(arch, bench_device())
    return _CACHE[key]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("what", ["G fwd+bwd", "D fwd+bwd", "train step"])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_models(benchmark, arch, what, method):
    if benchmark.disabled and arch != "narrow32":
        pytest.skip("full-width models are only timed in benchmark runs (tests/models/test_models.py checks them)")
    if arch in GPU_ONLY and bench_device() != "cuda":
        pytest.skip(f"{arch} is timed on GPUs only")
    m = _models(arch)
    fn = {"G fwd+bwd": m.g_forward_backward, "D fwd+bwd": m.d_forward_backward, "train step": m.train_step}[what]
    size, _, _, batch = ARCHS[arch]
    record_case(
        benchmark,
        op="StyleGAN2 models",
        case=f"{arch} {what}",
        method=method,
        baseline="reference",
        shape=[batch, 3, size, size],
        images=batch,
    )
    with use_ops(OPS_MODE[method]):
        if not benchmark.disabled:
            fn()  # warm-up; a --benchmark-disable run calls fn once, in pedantic
        rounds = 16 if what == "train step" else 5
        benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
