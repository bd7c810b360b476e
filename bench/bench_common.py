"""Shared problem sets of the benchmarks: the real StyleGAN2 generator shape lists.

(A module of its own, not conftest.py: `pytest tests bench` loads two conftest modules, and
`from conftest import ...` would get whichever came first.)"""

import math

import torch

from atu import layouts


def _tiny(shapes, budget=300_000):
    """The 32×32 generator's tensors in layout order, each kept while the total stays under
    `budget`: ~0.3M values in ~60 tensors, a toy model where per-call overheads dominate."""
    kept, total = [], 0
    for s in shapes:
        if total + math.prod(s) <= budget:
            kept.append(s)
            total += math.prod(s)
    return kept


# name -> shapes
SHAPE_SETS = {
    "G256": layouts.parameter_shapes("G256"),
    "G32": layouts.parameter_shapes("G32"),
}
SHAPE_SETS["tiny"] = _tiny(SHAPE_SETS["G32"])


def bench_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def record_case(benchmark, **info) -> None:
    """Names the benchmark's group after info["case"] and records `info` with the device, torch
    version and thread count."""
    benchmark.group = info["case"]
    benchmark.extra_info.update(
        info, device=info.get("device", bench_device()), torch=torch.__version__, threads=torch.get_num_threads()
    )


def time_forward_backward(benchmark, forward, leaves, dy, rounds, **info):
    """Time `forward()` and its backward from `dy`, the gradients of `leaves` cleared each round, with
    `info` recorded (record_case; the baseline is the op's plain-PyTorch reference unless `info` names
    another); returns forward's last output."""

    def step():
        for t in leaves:
            t.grad = None
        y = forward()
        y.backward(dy)
        if dy.device.type == "cuda":
            torch.cuda.synchronize()
        return y

    record_case(benchmark, **{"baseline": "reference", "device": str(dy.device), **info})
    return benchmark.pedantic(step, rounds=rounds, warmup_rounds=1, iterations=1)


class Problem:
    """θ (leaf tensors requiring grad), one adapted reference θ_N and a Fisher diagonal."""

    def __init__(self, shapes, device):
        g = torch.Generator().manual_seed(0)
        self.shapes = shapes
        self.numel = sum(math.prod(s) for s in shapes)
        self.params = [(0.02 * torch.randn(*s, generator=g)).to(device).requires_grad_() for s in shapes]
        self.ref = [(p.detach() + 1e-3 * torch.randn(*p.shape, generator=g).to(device)) for p in self.params]
        self.ref2 = [(p.detach() + 1e-3 * torch.randn(*p.shape, generator=g).to(device)) for p in self.params]
        self.fisher = [torch.rand(*p.shape, generator=g).to(device) for p in self.params]
        self.device = device

    def zero_grads(self):
        for p in self.params:
            p.grad = None

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()
