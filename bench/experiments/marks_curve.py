"""How many samples must a user mark? The demo run with only the first N negatives marked
(`atu demo --negatives N`), for several N and the whole bank, and each method's PUL (the lower of
both judges'), FID ratio and recall ratio as a function of N.

    python bench/experiments/marks_curve.py run OUT --class 8 --negatives 10 25 50 100 200 \\
        --seeds 0 --methods el2 redact@redact=0.3       (add --all for the whole bank's negatives)
    python bench/experiments/marks_curve.py summarize OUT

`run` starts one demo per N in OUT/nN (and OUT/all), resuming a folder that holds an interrupted
one, skipping a finished one; pass the same --seeds and --methods to every call. `summarize` reads
every OUT/*/<feature>/metrics.json and writes what a study's report holds for a curve
(atu/study/marks.py): OUT/marks.json, OUT/marks.md (a table per method) and the charts
OUT/marks_<class or feature>_{pul,fid,recall}.png (x: the negatives marked; the whole bank's count
for OUT/all). `atu demo --negatives 10 25 50 all` makes the same curve in one study.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from atu.study.marks import marks_curves, write_marks
from atu.util.atomic import write_text


def run(args) -> None:
    target = ["--feature", args.feature] if args.feature else ["--class", str(args.undesired_class)]
    runs = [(f"n{n}", ["--negatives", str(n)]) for n in args.negatives] + ([("all", [])] if args.all else [])
    for name, negatives in runs:
        out = Path(args.out) / name
        if any(out.glob("*/metrics.json")) and (out / "report.md").is_file():
            print(f"{out}: done", flush=True)
            continue
        command = ["atu", "demo", *target, *negatives, "--seeds", *map(str, args.seeds)]
        command += ["--methods", *args.methods, "--no-progress", "--out", str(out)]
        command += ["--resume"] if (out / "config.json").is_file() else []
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True)


def summarize(args) -> None:
    root = Path(args.out)
    metrics = [json.loads(path.read_text()) for path in sorted(root.glob("*/*/metrics.json"))]
    if not metrics:
        sys.exit(f"{root}: no finished run (*/FEATURE/metrics.json)")
    lines = write_marks(root, marks_curves(metrics))
    if not lines:
        sys.exit(f"{root}: the runs mark one count of negatives; a curve needs two")
    write_text(root / "marks.md", "\n".join(lines))
    print(f"{root}/marks.md, marks.json, marks_*.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("out")
    what = r.add_mutually_exclusive_group(required=True)
    what.add_argument("--class", dest="undesired_class", type=int)
    what.add_argument("--feature")
    r.add_argument("--negatives", type=int, nargs="+", required=True)
    r.add_argument("--all", action="store_true", help="also the whole bank's negatives (OUT/all)")
    r.add_argument("--seeds", type=int, nargs="+", default=[0])
    r.add_argument("--methods", nargs="+", default=["el2"])
    s = sub.add_parser("summarize")
    s.add_argument("out")
    args = parser.parse_args()
    run(args) if args.command == "run" else summarize(args)


if __name__ == "__main__":
    main()
