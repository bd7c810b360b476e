"""Training steps of both Adapt-then-Unlearn stages, and the share of a step spent in the penalty.

One StyleGAN2 iteration (D step, G step, lazy R1 every 16 and path length every 4, EMA; batch 16)
with the stage's parameter-space penalty added to G's gradient after the adversarial backward:
  stage 1   + EWC (λ/2)·Σ F (θ − θ_G)² over the StyledConv layers (the authors' choice)
  stage 2   + γ·EL2 repulsion exp(−α d) from k = 2 adapted models, d over all G's tensors
Penalty implementations, measured in the same run:
  atu_ext      atu's stages: atu_ext.EWC / atu_ext.Repulsion, constants prepared once, gradient
               written straight into .grad (one fused pass)
  python_loop  what a user would otherwise write: the penalty as a Python sum over tensors
               (atu_ext.reference), autograd, backward — the baseline
  no_penalty   the same step without any penalty: the floor, γ = 0 / λ = 0
and the penalty alone ("penalty only" cases: value + gradient into .grad, no training step).
Models: "demo48" is the demo's configuration (the shipped digits model, 48 channels, 347k generator
values); "demo64" the same at 64 channels (the wider candidate for the shipped MNIST model);
"narrow32" the 32-channel digits model the demo shipped before it (243k); "G32" the paper's
full-width 32×32 MNIST configuration (512 channels, 17.4M generator values).
Run: pytest bench/test_bench_stages.py --benchmark-json=bench/results/<machine>-stages.json
     python bench/summarize_stages.py bench/results/<machine>-stages.json > ....md
"""

import pytest
import torch

import atu_ext
from atu.gan.trainer import StyleGAN2Trainer, TrainConfig
from atu.models import Discriminator, Generator, narrow_channels
from atu.stages.adapt import EWCGradient
from atu.stages.fisher import anchored_names
from atu.stages.unlearn import RepulsionGradient
from atu_ext import reference
from bench_common import bench_device, record_case

BATCH = 16
ARCHS = {
    "demo48": narrow_channels(32, 48),
    "demo64": narrow_channels(32, 64),
    "narrow32": narrow_channels(32, 32),
    "G32": None,
}
FULL_WIDTH = "G32"
STAGES = ("stage1", "stage2")
METHODS = ("atu_ext", "python_loop", "no_penalty")
LAM, ALPHA, GAMMA, K = 5e8, 2.0, 10.0, 2


def _perturbed(params, scale, seed):
    g = torch.Generator().manual_seed(seed)
    return [(p.detach().cpu() + scale * torch.randn(p.shape, generator=g)).to(p.device) for p in params]


class PythonLoopEWC:
    """(λ/2)·Σ F (θ − θ_G)² written with autograd over the tensors, backward into .grad."""

    def __init__(self, params, anchor, fisher, lam):
        self.params, self.anchor, self.fisher, self.lam = params, anchor, fisher, lam

    def __call__(self, G):
        loss = reference.ewc_penalty(self.params, self.anchor, self.fisher, lam=self.lam / 2)
        loss.backward()
        return {"ewc": float(loss)}


class PythonLoopRepulsion:
    """γ·exp(−α d), d the authors' tensor-mean distance to each θ_N averaged over them, autograd."""

    def __init__(self, params, references, alpha, gamma):
        self.params, self.references, self.alpha, self.gamma = params, references, alpha, gamma

    def __call__(self, G):
        loss = reference.repulsion_el2(self.params, self.references, alpha=self.alpha, reduction="tensor_mean")
        (self.gamma * loss).backward()
        return {"repulsion": float(loss)}


class Stage:
    """A generator/discriminator pair at `arch` with the stage's penalty in each implementation."""

    def __init__(self, arch, stage, device):
        torch.manual_seed(0)
        ch = ARCHS[arch]
        self.G = Generator(32, style_dim=128, n_mlp=8, channels=ch).to(device)
        self.D = Discriminator(32, channels=ch).to(device)
        self.real = torch.randn(BATCH, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
        self.device = device
        params = list(self.G.parameters())
        if stage == "stage1":
            names = anchored_names(self.G, "conv")
            named = dict(self.G.named_parameters())
            anchor = {n: p.detach().clone() for n, p in named.items()}
            fisher = {n: torch.rand_like(p) * 1e-6 for n, p in named.items()}
            subset = [named[n] for n in names]
            self.hooks = {
                "atu_ext": EWCGradient(self.G, anchor, fisher, LAM, names),
                "python_loop": PythonLoopEWC(subset, [anchor[n] for n in names], [fisher[n] for n in names], LAM),
                "no_penalty": None,
            }
        else:
            refs = [_perturbed(params, 1e-2, seed) for seed in range(K)]
            rep = atu_ext.Repulsion(params, refs, kind="el2", alpha=ALPHA, reduction="tensor_mean")
            self.hooks = {
                "atu_ext": RepulsionGradient(rep, GAMMA),
                "python_loop": PythonLoopRepulsion(params, refs, ALPHA, GAMMA),
                "no_penalty": None,
            }
        self.trainers = {}

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def train_step(self, method):
        if method not in self.trainers:
            self.trainers[method] = StyleGAN2Trainer(
                self.G, self.D, TrainConfig(batch_size=BATCH), seed=0, g_grad_hook=self.hooks[method]
            )
        self.trainers[method].train_step(self.real)
        self.sync()

    def penalty_only(self, method):
        for p in self.G.parameters():
            p.grad = torch.zeros_like(p)
        self.hooks[method](self.G)
        self.sync()


_CACHE = {}


def _stage(arch, stage):
    key = (arch, stage, bench_device())
    if key not in _CACHE:
        _CACHE.clear()  # one full-width model set alive at a time
        _CACHE[key] = Stage(arch, stage, bench_device())
    return _CACHE[key]


def _run(benchmark, arch, stage, method, what, fn, rounds):
    if benchmark.disabled and arch == FULL_WIDTH:
        pytest.skip("full-width models are only timed in benchmark runs")
    record_case(
        benchmark,
        op="Adapt-then-Unlearn stages",
        case=f"{arch} {stage} {what}",
        method=method,
        baseline="python_loop",
        shape=[BATCH, 3, 32, 32],
        images=BATCH,
        arch=arch,
        stage=stage,
        what=what,
    )
    if not benchmark.disabled:
        fn()  # warm-up (optimizer state, first-call allocations)
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_train_step(benchmark, arch, stage, method):
    s = _stage(arch, stage)
    # 16 rounds include one lazy R1 and four path-length steps; full width: 6 (the median is a plain step)
    _run(
        benchmark,
        arch,
        stage,
        method,
        "train step",
        lambda: s.train_step(method),
        rounds=6 if arch == FULL_WIDTH else 16,
    )


@pytest.mark.parametrize("method", ["atu_ext", "python_loop"])
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_penalty_only(benchmark, arch, stage, method):
    s = _stage(arch, stage)
    _run(benchmark, arch, stage, method, "penalty only", lambda: s.penalty_only(method), rounds=10)
