"""One training step of each stage at 256 px (rosinality's FFHQ architecture: style 512, 8 mapping
layers, channel multiplier 2; batch 2), and at 1024 px (config-f) where there is a GPU, on atu's
models against rosinality's own model code, the generator most Adapt-then-Unlearn users hold, and
on atu's models in bf16 and fp16 (NVlabs' mixed precision; fp16 only on a GPU) against float32:
  stage 1 step   a discriminator step and a generator step (logistic losses, Adam) with stage 1's
                 EWC gradient added to G's before its Adam step
  stage 2 step   the same with stage 2's EL2 repulsion from two adapted generators
Methods: "atu_ext" (atu's models and penalties on atu_ext's kernels), "reference" (atu's models on
the plain-PyTorch reference ops, the penalties per tensor), "rosinality" (rosinality's model.py on
its CPU paths, the penalties per tensor as the Adapt-then-Unlearn authors' code computes them, by
autograd). The step itself is the same code for all three; the lazy R1 and path-length passes are
left out (they run every 16th and 4th step and would make rounds unequal).

rosinality's code is not part of atu: name a checkout of rosinality/stylegan2-pytorch in
ATU_ROSINALITY_SRC (its model.py and op/; the CUDA kernels its op/ compiles at import are not built
on a CPU, where its CPU paths run instead). Without it only atu's methods run. A CPU step at 256 px
takes seconds, so these run only with ATU_BENCH_FULL_SIZE=1 (bench/gpu_session.sh sets it; on a GPU
each record also holds the step's peak GPU memory):

    ATU_BENCH_FULL_SIZE=1 ATU_ROSINALITY_SRC=/path/to/stylegan2-pytorch \\
        pytest bench/test_bench_rosinality.py --benchmark-json=bench/results/<machine>-rosinality.json
    python bench/summarize_cases.py bench/results/<machine>-rosinality.json
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

import atu_ext
from atu.models import Discriminator, Generator, use_ops
from atu.models.precision import Precision
from bench_common import bench_device, record_case

SIZE, STYLE, N_MLP, MULTIPLIER, BATCH = 256, 512, 8, 2, 2
# 1024 px is config-f (NVlabs' FFHQ model, the same multiplier): a CPU step takes most of a minute,
# so it runs where there is a GPU, or with ATU_BENCH_1024=1
SIZES = [
    256,
    pytest.param(
        1024,
        marks=pytest.mark.skipif(
            not torch.cuda.is_available() and os.environ.get("ATU_BENCH_1024") != "1",
            reason="1024-px steps on a CPU take most of a minute each: set ATU_BENCH_1024=1",
        ),
    ),
]
METHODS = ("atu_ext", "reference", "rosinality")
LAM, GAMMA, ALPHA = 5e8 / 2, 10.0, 2.0  # the authors' EWC λ/2 and EL2 settings (per-tensor mean distance)

pytestmark = pytest.mark.skipif(
    os.environ.get("ATU_BENCH_FULL_SIZE") != "1", reason="256-px steps take seconds each: set ATU_BENCH_FULL_SIZE=1"
)


def _rosinality_module():
    src = os.environ.get("ATU_ROSINALITY_SRC")
    if not src:
        pytest.skip("set ATU_ROSINALITY_SRC to a checkout of rosinality/stylegan2-pytorch")
    from torch.utils import cpp_extension

    sys.path.insert(0, src)
    try:
        if torch.cuda.is_available():  # its op/ compiles its CUDA kernels (nvcc and ninja needed)
            return importlib.import_module("model")
        # op/ builds its CUDA kernels when imported; its CPU paths never call them
        with mock.patch.object(cpp_extension, "load", lambda *args, **kwargs: types.SimpleNamespace()):
            return importlib.import_module("model")
    finally:
        sys.path.remove(src)


def _models(method: str, device: str, size: int = SIZE):
    """G, D with the same weights for every method (atu's models have rosinality's layout)."""
    torch.manual_seed(0)
    G, D = Generator(size, STYLE, N_MLP, MULTIPLIER), Discriminator(size, MULTIPLIER)
    if method == "rosinality":
        model = _rosinality_module()
        theirs_g, theirs_d = model.Generator(size, STYLE, N_MLP, MULTIPLIER), model.Discriminator(size, MULTIPLIER)
        theirs_g.load_state_dict(G.state_dict(), strict=False)
        theirs_d.load_state_dict(D.state_dict())
        G, D = theirs_g, theirs_d
    return G.to(device), D.to(device)


def _per_tensor_ewc(params, anchor, fisher):
    """The authors' EWC: (λ/2)·Σ F (θ − θ_G)², differentiated by autograd, tensor by tensor."""

    def add_grad():
        loss = sum((f * (p - a).square()).sum() for p, a, f in zip(params, anchor, fisher))
        grads = torch.autograd.grad(LAM * loss, params)
        for p, g in zip(params, grads):
            p.grad += g

    return add_grad


def _per_tensor_el2(params, references):
    """EL2 as atu_ext.Repulsion defines it, γ·exp(−α·d) with d the mean over the references of the
    sum over tensors of mean((θ − θ_N)²) (the authors' per-tensor mean), by autograd tensor by tensor."""

    def add_grad():
        d = sum(sum((p - r).square().mean() for p, r in zip(params, ref)) for ref in references) / len(references)
        loss = torch.exp(-ALPHA * d)
        grads = torch.autograd.grad(GAMMA * loss, params)
        for p, g in zip(params, grads):
            p.grad += g

    return add_grad


class Step:
    """One D step and one G step with the stage's penalty gradient, on one method's models."""

    def __init__(self, method: str, stage: str, device: str, size: int = SIZE):
        self.G, self.D = _models(method, device, size)
        params = list(self.G.parameters())
        g = torch.Generator().manual_seed(1)
        near = lambda: [p.detach() + 1e-3 * torch.randn(p.shape, generator=g).to(device) for p in params]  # noqa: E731
        if stage == "stage 1":
            anchor, fisher = near(), [torch.rand(p.shape, generator=g).to(device) for p in params]
            self.penalty = (
                atu_ext.EWC(params, anchor, fisher, lam=LAM).add_grad_
                if method == "atu_ext"
                else _per_tensor_ewc(params, anchor, fisher)
            )
        else:
            references = [near(), near()]
            self.penalty = (
                atu_ext.Repulsion(params, references, alpha=ALPHA, reduction="tensor_mean").add_grad_
                if method == "atu_ext"
                else _per_tensor_el2(params, references)
            )
            if method == "atu_ext":
                self.penalty = lambda r=self.penalty: r(GAMMA)
        self.g_opt = torch.optim.Adam(self.G.parameters(), lr=2e-3, betas=(0.0, 0.99))
        self.d_opt = torch.optim.Adam(self.D.parameters(), lr=2e-3, betas=(0.0, 0.99))
        self.z = torch.randn(BATCH, STYLE, generator=g).to(device)
        self.real = torch.randn(BATCH, 3, size, size, generator=g).to(device)
        self.device = device

    def __call__(self):
        G, D = self.G, self.D
        G.requires_grad_(False)
        D.requires_grad_(True)
        fake, _ = G([self.z])
        d_loss = F.softplus(D(fake)).mean() + F.softplus(-D(self.real)).mean()
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        G.requires_grad_(True)
        D.requires_grad_(False)
        fake, _ = G([self.z])
        g_loss = F.softplus(-D(fake)).mean()
        self.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        self.penalty()
        self.g_opt.step()
        if self.device == "cuda":
            torch.cuda.synchronize()


def test_rosinality_s_generator_with_atu_s_weights_draws_atu_s_images():
    """What the timings compare is one function: the same weights, latent and noise give the same image."""
    ours, _ = _models("atu_ext", "cpu")
    theirs, _ = _models("rosinality", "cpu")
    g = torch.Generator().manual_seed(3)
    z = torch.randn(1, STYLE, generator=g)
    noise = [torch.randn(1, 1, r, r, generator=g) for r in ours.noise_resolutions()]
    with torch.no_grad():
        torch.testing.assert_close(theirs([z], noise=noise)[0], ours([z], noise=noise)[0], rtol=0, atol=1e-4)


def _time(benchmark, step: Step, size: int, stage: str, method: str, baseline: str) -> None:
    """Records one stage step's case (named after its size and stage) and times 3 rounds after a warm-up;
    on a GPU also its peak memory."""
    record_case(
        benchmark,
        op="StyleGAN2 stage steps",
        case=f"G{size} {stage} step",
        method=method,
        baseline=baseline,
        shape=[BATCH, 3, size, size],
        images=BATCH,
    )
    with use_ops("reference" if method == "reference" else "compiled"):
        step()  # warm-up
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=0)
    if torch.cuda.is_available():
        benchmark.extra_info["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stage", ["stage 1", "stage 2"])
@pytest.mark.parametrize("size", SIZES)
def test_stage_step(benchmark, size, stage, method):
    _time(benchmark, Step(method, stage, bench_device(), size), size, stage, method, baseline="rosinality")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("stage", ["stage 1", "stage 2"])
@pytest.mark.parametrize("size", SIZES)
def test_stage_step_in_reduced_precision(benchmark, size, stage, precision):
    """atu's step with NVlabs' mixed precision (the 4 highest resolutions in `precision`, clamped at
    256) against the same step in float32 (test_stage_step's "atu_ext" records)."""
    if precision == "fp16" and bench_device() == "cpu":
        pytest.skip("float16 convolutions have no fast CPU kernels (docs/scaling.md, Precision): a GPU dtype")
    step = Step("atu_ext", stage, bench_device(), size)
    step.G.set_precision(Precision(precision))
    step.D.set_precision(Precision(precision))
    _time(benchmark, step, size, stage, f"atu_ext {precision}", baseline="atu_ext")
