"""Markdown summary of a pytest-benchmark JSON file of an op benchmark (bench/test_bench_<op>.py).

    python bench/summarize_ops.py bench/results/<machine>-<op>.json [--note "..."] [--target 1.5] \
        > bench/results/<machine>-<op>.md

Works for any benchmark whose extra_info has: op, method ("fused" and "reference"), shape, numel,
device, min_bytes (the bytes the fused path must move) and models (the model configurations the
shape belongs to). Per shape: median and min times and reference/fused (how many times faster the
fused op is). Per model: the sums of the medians over its shapes, i.e. one pass over every layer.
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict

from summarize import grouped, header, read_results  # bench/ is on sys.path when run as bench/summarize_ops.py

ORDER = ["fused", "reference"]


def load(path):
    data = read_results(path)
    return data, grouped(data, lambda info: (info["op"], tuple(info["shape"]), info["device"]))


def speedup(methods) -> float | None:
    if "fused" in methods and "reference" in methods:
        return methods["reference"]["stats"]["median"] / methods["fused"]["stats"]["median"]
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("json")
    parser.add_argument("--note", default="", help="free text: torch version, device, conditions")
    parser.add_argument("--target", type=float, default=None, help="reference/fused target to check")
    parser.add_argument("--target-model", default=None, help="model whose shapes the target applies to")
    args = parser.parse_args()
    data, groups = load(args.json)
    ops = sorted({op for op, _, _ in groups})
    out = header(f"Op benchmarks ({', '.join(ops)})", args.json, data, args.note)
    out += [
        "- times: median and min wall time of one call (forward + backward where the benchmark "
        "says so); reference/fused = how many times faster the fused op is (medians)",
        "",
    ]

    per_model = defaultdict(lambda: defaultdict(float))
    for op in ops:
        out += [
            f"## {op}",
            "",
            "| shape | device | fused median ms | fused min ms | reference median ms "
            "| reference min ms | reference / fused | fused GB/s |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for (g_op, shape, device), methods in sorted(groups.items(), key=lambda kv: (math.prod(kv[0][1]), kv[0])):
            if g_op != op:
                continue
            cells = []
            for name in ORDER:
                b = methods.get(name)
                cells += (
                    ["", ""] if b is None else [f"{b['stats']['median'] * 1e3:.2f}", f"{b['stats']['min'] * 1e3:.2f}"]
                )
            r = speedup(methods)
            fused = methods.get("fused")
            gbps = "" if fused is None else f"{fused['extra_info']['min_bytes'] / fused['stats']['median'] / 1e9:.1f}"
            out.append(
                f"| {list(shape)} | {device} | {' | '.join(cells)} | {'' if r is None else f'{r:.2f}×'} | {gbps} |"
            )
            for b in methods.values():
                for model in b["extra_info"].get("models", []):
                    per_model[(op, model, device)][b["extra_info"]["method"]] += b["stats"]["median"]
        out.append("")

    if per_model:
        out += [
            "## Whole models (sum of the medians over the model's shapes)",
            "",
            "| op | model | device | fused ms | reference ms | reference / fused |",
            "|---|---|---|---:|---:|---:|",
        ]
        for (op, model, device), sums in sorted(per_model.items()):
            f, r = sums.get("fused"), sums.get("reference")
            ratio = f"{r / f:.2f}×" if f and r else ""
            out.append(
                f"| {op} | {model} | {device} | {f * 1e3 if f else 0:.1f} | {r * 1e3 if r else 0:.1f} | {ratio} |"
            )
        out.append("")

    if args.target is not None:
        checks = []
        for (_op, shape, _device), methods in sorted(groups.items()):
            models = next(iter(methods.values()))["extra_info"].get("models", [])
            if args.target_model and args.target_model not in models:
                continue
            r = speedup(methods)
            if r is not None:
                checks.append(f"{list(shape)}: {r:.2f}× {'ok' if r >= args.target else 'BELOW'}")
        scope = f" on {args.target_model} shapes" if args.target_model else ""
        out += [f"Target: reference/fused ≥ {args.target}{scope}: " + "; ".join(checks), ""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
