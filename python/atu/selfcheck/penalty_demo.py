"""A short demonstration of atu_ext's penalties on a real StyleGAN2-sized parameter set.

    python -m atu.selfcheck.penalty_demo [--layout G256|G32] [--device cpu|cuda] [--k 2] [--repeats 5]

Builds parameters shaped exactly like rosinality's StyleGAN2 generator, k adapted references,
and a Fisher diagonal; prints every penalty next to its float64 value, then times the fused
value+gradient against the per-tensor autograd loop a user would otherwise write.
"""

from __future__ import annotations

import argparse
import math

import torch

import atu_ext
from atu import layouts
from atu.util.timing import median_seconds


def _tensors(shapes, generator, scale, device, offset=None):
    out = []
    for i, s in enumerate(shapes):
        t = scale * torch.randn(*s, generator=generator)
        if offset is not None:
            t += offset[i].detach().cpu()
        out.append(t.to(device))
    return out


def _timed(fn, repeats: int, device: str) -> float:
    """Median wall time in milliseconds (after one warm-up call)."""
    return median_seconds(fn, device, repeats) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", default="G256", choices=["G256", "G32"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--k", type=int, default=2, help="number of adapted references")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("--k must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")

    shapes = layouts.parameter_shapes(args.layout)
    numel = sum(math.prod(s) for s in shapes)
    g = torch.Generator().manual_seed(args.seed)
    params = [p.requires_grad_() for p in _tensors(shapes, g, 0.02, args.device)]
    refs = [_tensors(shapes, g, 1e-3, args.device, offset=params) for _ in range(args.k)]
    fisher = [f.abs() for f in _tensors(shapes, g, 1.0, args.device)]
    print(
        f"atu_ext on {args.device} (CPU loops: {atu_ext._C.cpu_isa()}, CUDA kernels built: "
        f"{atu_ext.built_with_cuda}), torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{args.layout}: {len(shapes)} tensors, {numel / 1e6:.1f}M values, k = {args.k} references\n")

    # float64 oracle of d, straight from the definition
    d64 = sum(float(((p.detach().double() - a.double()) ** 2).sum()) for r in refs for p, a in zip(params, r)) / args.k
    alpha, lam = 1.0 / d64, 5e8 / 2
    e64 = lam * sum(
        float((f.double() * (p.detach().double() - a.double()) ** 2).sum()) for p, a, f in zip(params, refs[0], fisher)
    )
    rows = [
        ("d = ||θ − θ_N||²", atu_ext.sq_dist(params, refs), d64),
        ("IL2  1/d", atu_ext.repulsion_il2(params, refs, reduction="sum"), 1.0 / d64),
        ("NL2  −d", atu_ext.repulsion_nl2(params, refs, reduction="sum"), -d64),
        (
            f"EL2  exp(−αd), α={alpha:.3g}",
            atu_ext.repulsion_el2(params, refs, alpha=alpha, reduction="sum"),
            math.exp(-alpha * d64),
        ),
        ("EWC  λ·ΣF(θ−θ_G)², λ=2.5e8", atu_ext.ewc_penalty(params, refs[0], fisher, lam=lam), e64),
    ]
    print(f"{'penalty':34s} {'fused (float32)':>18s} {'float64 oracle':>18s} {'rel. error':>11s}")
    for name, value, exact in rows:
        v = float(value.detach())
        print(f"{name:34s} {v:18.9g} {exact:18.9g} {abs(v - exact) / abs(exact):11.2e}")

    rep = atu_ext.Repulsion(params, refs, kind="el2", alpha=alpha, reduction="sum")
    ewc = atu_ext.EWC(params, refs[0], fisher, lam=lam)

    def zero():
        for p in params:
            p.grad = None

    def fused_el2():
        zero()
        rep.add_grad_(scale=10.0)

    def loop_el2():
        zero()
        d = sum((p - a).pow(2).sum() for r in refs for p, a in zip(params, r)) / args.k
        (10.0 * torch.exp(-alpha * d)).backward()

    def fused_ewc():
        zero()
        ewc.add_grad_()

    def loop_ewc():
        zero()
        (lam * sum((f * (p - a).pow(2)).sum() for p, a, f in zip(params, refs[0], fisher))).backward()

    print(f"\nvalue + gradient into .grad, median of {args.repeats} (ms):")
    print(f"{'':10s} {'fused':>9s} {'loop+autograd':>14s} {'speed-up':>9s}")
    for name, fused, loop in (("EL2", fused_el2, loop_el2), ("EWC", fused_ewc, loop_ewc)):
        tf, tl = _timed(fused, args.repeats, args.device), _timed(loop, args.repeats, args.device)
        print(f"{name:10s} {tf:9.2f} {tl:14.2f} {tl / tf:8.1f}×")
    print("\nFull benchmarks (B0/B1/B2 baselines, memory floor): pytest bench; results in bench/results/.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
