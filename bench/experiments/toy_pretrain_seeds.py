"""How reliably the MoG toy's pre-training covers all 8 modes: the smallest mode share and the
quality over many seeds, for the shipped schedule or a variant, and under a perturbation of the
initial weights by one float32 rounding (what another CPU's SIMD path does to a run).

    python bench/experiments/toy_pretrain_seeds.py --seeds 0-9 [--steps 2000 --lr 2e-3 --r1 0.1 --batch 256]
    python bench/experiments/toy_pretrain_seeds.py --seeds 0-9 --perturb      # + a 1-ulp nudge of θ at init

Prints one JSON line per seed and a summary line; records go to bench/results/ by hand.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import torch

from atu.toy import metrics as M
from atu.toy.config import MogConfig
from atu.toy.data import mode_centres, sample_mixture
from atu.toy.demo import EVAL_SEED_OFFSET
from atu.toy.models import Discriminator, Generator, generate
from atu.toy.training import train_gan


def seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=seeds, default=seeds("0-9"))
    p.add_argument("--steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--r1", type=float)
    p.add_argument("--batch", type=int)
    p.add_argument("--perturb", action="store_true", help="nudge every initial weight by one float32 ulp")
    args = p.parse_args()
    torch.set_num_threads(1)
    base = MogConfig()
    sched = replace(
        base.pretrain,
        **{
            k: v
            for k, v in (("steps", args.steps), ("lr", args.lr), ("r1", args.r1), ("batch", args.batch))
            if v is not None
        },
    )
    centres = mode_centres()
    mins, qualities = [], []
    for seed in args.seeds:
        started = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            G, D = Generator(base.z_dim, base.hidden), Discriminator(base.hidden)
        if args.perturb:
            with torch.no_grad():
                for t in list(G.parameters()) + list(D.parameters()):
                    t.copy_(torch.nextafter(t, torch.full_like(t, float("inf"))))
        train_gan(G, D, lambda n, gen: sample_mixture(n, gen, base.std, centres), sched, seed)
        shares = M.mode_shares(generate(G, base.n_eval, seed + EVAL_SEED_OFFSET), centres, base.radius)
        mins.append(min(shares))
        qualities.append(M.quality(shares, tuple(range(8))))
        print(
            json.dumps(
                {
                    "seed": seed,
                    "min_share": round(min(shares), 4),
                    "quality": round(qualities[-1], 4),
                    "shares": [round(s, 4) for s in shares],
                    "seconds": round(time.perf_counter() - started, 1),
                }
            ),
            flush=True,
        )
    print(
        json.dumps(
            {
                "schedule": vars(sched),
                "perturb": args.perturb,
                "seeds": len(mins),
                "min_share_min": round(min(mins), 4),
                "min_share_median": round(statistics.median(mins), 4),
                "below_5pct": sum(m < 0.05 for m in mins),
                "quality_median": round(statistics.median(qualities), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
