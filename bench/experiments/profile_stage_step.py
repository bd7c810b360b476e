"""Where a 256-px stage step spends its time: torch's profiler over one step of
bench/test_bench_rosinality.py's Step (after a warm-up step), the ops by their own CPU time.

    python bench/experiments/profile_stage_step.py --stage "stage 1" --method atu_ext [--rows 15]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the benchmark's Step
from atu.models import use_ops  # noqa: E402
from test_bench_rosinality import Step  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="stage 1", choices=["stage 1", "stage 2"])
    parser.add_argument("--method", default="atu_ext", choices=["atu_ext", "reference", "rosinality"])
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args()
    step = Step(args.method, args.stage, "cpu")
    with use_ops("reference" if args.method == "reference" else "compiled"):
        step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
    print(f"# {args.stage} step, {args.method}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=40))


if __name__ == "__main__":
    main()
