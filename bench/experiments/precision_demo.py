"""The demo's study (class 8, seed 0 by default) with stage 1 and stage 2 trained in mixed precision
(NVlabs' split: the 4 highest resolutions in bf16 or fp16, activations clamped at 256, float32
weights and optimiser), and the same study in float32 to set beside it:

    python bench/experiments/precision_demo.py OUT_BF16 --precision bf16 [--class 8] [--seeds 0] [--methods el2 ...]
    python bench/experiments/precision_demo.py OUT_FP32 --precision fp32 [the same options]

The evaluation (PUL, FID, precision/recall) runs every model in float32, as for any saved model.
"""

from __future__ import annotations

import argparse

from atu.study import from_dict, run_study
from atu.study.demo import demo_config


def precision_config(classes: list[int], methods: list[str], seeds: list[int], precision: str) -> dict:
    """The demo's study of `classes` with both training stages in `precision`."""
    cfg = demo_config(classes, methods, seeds)
    for stage in ("adapt", "unlearn"):
        cfg[stage]["train"] = {**cfg[stage].get("train", {}), "precision": precision}
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], required=True)
    parser.add_argument("--class", dest="classes", type=int, nargs="+", default=[8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=["el2", "el2_paper"])
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    cfg = from_dict(precision_config(args.classes, args.methods, args.seeds, args.precision))
    print(run_study(cfg, args.out, resume=args.resume, progress=False, processes=args.processes))


if __name__ == "__main__":
    main()
