"""Stage-2 training steps of the redaction family next to EL2's, at the demo's configuration.

One StyleGAN2 iteration (batch 16; lazy R1 every 16, path length every 4, EMA) on the digits demo's
generator shape (48 channels at 32 px, style_dim 128, 8 mapping layers), each method's stage-2 terms:
  el2              the EL2 repulsion added to G's gradient (atu_ext.Repulsion), k = 2 references: the baseline
  adv_only         no stage-2 term: the floor
  redact           D also shown a batch of 16 marked negatives as fakes (one extra D forward/backward)
  redact_labeller  G's fakes relabelled by a LeNet each D step (a classifier forward, no extra D pass)
  el2+redact       EL2 and redact together
The issue's bound: redact adds no more than one D forward/backward on a batch to adv_only's step.
Run: pytest bench/test_bench_redaction.py --benchmark-json=bench/results/<machine>-redaction.json
     python bench/summarize_redaction.py bench/results/<machine>-redaction.json > ....md
"""

import pytest
import torch

import atu_ext
from atu.classifiers import LeNet
from atu.classifiers.judges import ClassJudge
from atu.gan.trainer import StyleGAN2Trainer, TrainConfig
from atu.models import Discriminator, Generator, narrow_channels
from atu.stages.redaction import MarkedFakesAsFakes, NegativesAsFakes
from atu.stages.unlearn import RepulsionGradient
from bench_common import bench_device

BATCH = 16
METHODS = ("el2", "adv_only", "redact", "redact_labeller", "el2+redact")
ALPHA, GAMMA, K, WEIGHT = 2.0, 10.0, 2, 0.1


class Setup:
    def __init__(self, device):
        torch.manual_seed(0)
        ch = narrow_channels(32, 48)
        self.G = Generator(32, style_dim=128, n_mlp=8, channels=ch).to(device)
        self.D = Discriminator(32, channels=ch).to(device)
        self.device = device
        g = torch.Generator().manual_seed(1)
        self.real = torch.randn(BATCH, 3, 32, 32, generator=g).to(device)
        negatives = torch.randn(400, 3, 32, 32, generator=g).to(device)
        params = list(self.G.parameters())
        refs = [
            [(p.detach().cpu() + 1e-2 * torch.randn(p.shape, generator=g)).to(device) for p in params] for _ in range(K)
        ]
        repulsion = RepulsionGradient(
            atu_ext.Repulsion(params, refs, kind="el2", alpha=ALPHA, reduction="tensor_mean"), GAMMA
        )
        labeller = LeNet(num_classes=10, resolution=32).to(device)
        self.hooks = {  # method -> (g_grad_hook, d_loss_hook)
            "el2": (repulsion, None),
            "adv_only": (None, None),
            "redact": (None, NegativesAsFakes(negatives, WEIGHT, seed=0)),
            "redact_labeller": (None, MarkedFakesAsFakes(ClassJudge(labeller, 8), WEIGHT)),
            "el2+redact": (repulsion, NegativesAsFakes(negatives, WEIGHT, seed=0)),
        }
        self.trainers = {}

    def train_step(self, method):
        if method not in self.trainers:
            g_hook, d_hook = self.hooks[method]
            self.trainers[method] = StyleGAN2Trainer(
                self.G, self.D, TrainConfig(batch_size=BATCH), seed=0, g_grad_hook=g_hook, d_loss_hook=d_hook
            )
        self.trainers[method].train_step(self.real)
        if self.device == "cuda":
            torch.cuda.synchronize()

    def d_forward_backward(self):
        """One D forward and backward on a batch: the cost redact is allowed to add."""
        self.D.zero_grad(set_to_none=True)
        self.D(self.real).sum().backward()
        if self.device == "cuda":
            torch.cuda.synchronize()


_SETUP = {}


def _setup():
    device = bench_device()
    if device not in _SETUP:
        _SETUP[device] = Setup(device)
    return _SETUP[device]


def _run(benchmark, method, fn, rounds):
    benchmark.group = "demo48 stage 2 step"
    benchmark.extra_info.update(
        op="stage-2 methods",
        case="demo48 stage 2 step",
        method=method,
        baseline="el2",
        shape=[BATCH, 3, 32, 32],
        images=BATCH,
    )
    if not benchmark.disabled:
        fn()  # warm-up
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("method", METHODS)
def test_stage2_step(benchmark, method):
    s = _setup()
    # 16 rounds hold one lazy R1 and four path-length steps, as a run's steps do
    _run(benchmark, method, lambda: s.train_step(method), rounds=16)


def test_one_d_forward_backward(benchmark):
    s = _setup()
    _run(benchmark, "d_forward_backward", s.d_forward_backward, rounds=16)
