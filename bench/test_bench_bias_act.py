"""Forward + backward of the fused bias + activation against the plain-PyTorch reference.

What StyleGAN2 does after every convolution: y = bias_act(x, b, act="lrelu") (gain √2), then
y.backward(dy), giving x.grad and b.grad. Shapes: the activations of a StyleGAN2 generator at
batch 16 with channel_multiplier 2 (512 channels up to 64×64, 256 at 128×128, 128 at 256×256),
one benchmark per resolution; the 32×32 model has the first four, the 256×256 model all seven.
  fused      atu_ext.bias_act (one pass forward, one pass for the gradient, a sum for b's)
  reference  atu_ext.reference.bias_act (add, leaky_relu, mul as separate autograd ops)
Run: pytest bench/test_bench_bias_act.py --benchmark-json=bench/results/<machine>-bias_act.json
     python bench/summarize_ops.py bench/results/<machine>-bias_act.json > ....md
"""

import math

import pytest
import torch

import atu_ext
from atu_ext import reference
from bench_common import bench_device

BATCH = 16
# resolution -> channels (rosinality's StyleGAN2, channel_multiplier 2)
CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}
MODELS = {"G32": [4, 8, 16, 32], "G256": [4, 8, 16, 32, 64, 128, 256]}
METHODS = {"fused": atu_ext.bias_act, "reference": reference.bias_act}


class Case:
    def __init__(self, resolution, device):
        g = torch.Generator().manual_seed(resolution)
        self.shape = (BATCH, CHANNELS[resolution], resolution, resolution)
        self.x = torch.randn(*self.shape, generator=g).to(device).requires_grad_()
        self.b = (0.1 * torch.randn(self.shape[1], generator=g)).to(device).requires_grad_()
        self.dy = torch.randn(*self.shape, generator=g).to(device)
        self.device = device

    def forward_backward(self, fn):
        self.x.grad = self.b.grad = None
        y = fn(self.x, self.b, act="lrelu")
        y.backward(self.dy)
        if self.device == "cuda":
            torch.cuda.synchronize()


_CACHE = {}


def _case(resolution):
    key = (resolution, bench_device())
    if key not in _CACHE:
        _CACHE.clear()  # the 256×256 activations are 0.5 GB each: keep one case alive
        _CACHE[key] = Case(resolution, bench_device())
    return _CACHE[key]


def _rounds(numel):
    return max(5, min(50, int(2e8 // numel)))


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("resolution", sorted(CHANNELS))
def test_bias_act_lrelu_forward_backward(benchmark, resolution, method):
    case = _case(resolution)
    fn = METHODS[method]
    numel = math.prod(case.shape)
    benchmark.group = f"bias_act lrelu fwd+bwd {case.shape}"
    benchmark.extra_info.update(
        op="bias_act",
        method=method,
        shape=list(case.shape),
        numel=numel,
        device=case.device,
        models=[m for m, res in MODELS.items() if resolution in res],
        # read x, write y; read dy and x, write dx; read dx for db: the passes a fused path needs
        min_bytes=5 * numel * case.x.element_size(),
    )
    benchmark.pedantic(case.forward_backward, args=(fn,), rounds=_rounds(numel), warmup_rounds=1, iterations=1)
    # Same numbers as the reference (the benchmark would be meaningless otherwise).
    grads = (case.x.grad.clone(), case.b.grad.clone())
    case.forward_backward(reference.bias_act)
    torch.testing.assert_close(grads[0], case.x.grad)
    torch.testing.assert_close(grads[1], case.b.grad, rtol=1e-4, atol=1e-3)
