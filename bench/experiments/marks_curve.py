"""How many samples must a user mark? The demo run with only the first N negatives marked
(`atu demo --negatives N`), for several N and the whole bank, and each method's PUL (the lower of
both judges'), FID ratio and recall ratio as a function of N.

    python bench/experiments/marks_curve.py run OUT --class 8 --negatives 10 25 50 100 200 \\
        --seeds 0 --methods el2 redact@redact=0.3       (add --all for the whole bank's negatives)
    python bench/experiments/marks_curve.py summarize OUT

`run` starts one demo per N in OUT/nN (and OUT/all), resuming a folder that holds an interrupted
one, skipping a finished one; pass the same --seeds and --methods to every call. `summarize` reads
every OUT/*/<feature>/metrics.json and writes OUT/marks.json, OUT/marks.md (a table per method) and
OUT/marks_{pul,fid,recall}.png (x: the negatives marked; the whole bank's count for OUT/all).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from atu.study.tradeoff import judged_pul
from atu.util.plots import line_chart

METRICS = {
    "pul": ("PUL, lower judge (%)", lambda m, pre: judged_pul(m)),
    "fid": ("FID / pre-trained", lambda m, pre: m["fid"] / pre["fid"] if m.get("fid") else None),
    "recall": (
        "recall / pre-trained",
        lambda m, pre: m["recall"] / pre["recall"] if m.get("recall") is not None and pre.get("recall") else None,
    ),
}


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


def _points(root: Path) -> list[dict]:
    """One entry per finished run folder: the negatives marked and every method's metrics."""
    points = []
    for metrics_file in sorted(root.glob("*/*/metrics.json")):
        metrics = json.loads(metrics_file.read_text())
        feedback = metrics["feedback"]
        n = feedback["negatives"]["n"] if "negatives" in feedback else feedback["undesired"]
        pre = metrics["pretrained"]
        methods = {
            name: {key: value(m, pre) for key, (_, value) in METRICS.items()} | {"recall_std": m.get("recall_std")}
            for name, m in metrics["methods"].items()
        }
        points.append({"run": metrics_file.parent.parent.name, "negatives": n, "methods": methods})
    return sorted(points, key=lambda p: p["negatives"])


def summarize(args) -> None:
    root = Path(args.out)
    points = _points(root)
    if not points:
        sys.exit(f"{root}: no finished run (*/FEATURE/metrics.json)")
    names = list(dict.fromkeys(name for p in points for name in p["methods"]))
    (root / "marks.json").write_text(json.dumps({"points": points}, indent=2))
    lines = ["# Negatives marked against quality", ""]
    for name in names:
        lines += [f"## {name}", "", "| negatives | " + " | ".join(t for t, _ in METRICS.values()) + " |"]
        lines.append("|---:|" + "---:|" * len(METRICS))
        for p in points:
            m = p["methods"].get(name)
            if m is not None:
                cells = ["–" if m[k] is None else f"{m[k]:.3g}" for k in METRICS]
                lines.append(f"| {p['negatives']} | " + " | ".join(cells) + " |")
        lines.append("")
    (root / "marks.md").write_text("\n".join(lines))
    for key, (title, _) in METRICS.items():
        series = {
            name: (
                [p["negatives"] for p in points if p["methods"].get(name, {}).get(key) is not None],
                [p["methods"][name][key] for p in points if p["methods"].get(name, {}).get(key) is not None],
            )
            for name in names
        }
        line_chart(series, root / f"marks_{key}.png", title=title, x_label="negatives marked")
    print(f"{root}/marks.md, marks.json, marks_{{{','.join(METRICS)}}}.png")


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
