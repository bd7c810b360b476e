"""Markdown summary of a pytest-benchmark JSON file of bench/test_bench_penalties.py.

    python bench/summarize.py bench/results/<machine>.json [--note "..."] > bench/results/<machine>.md

Times are medians. Ratios compare methods measured in the same run: "B0 / fused" is how many
times faster the fused path is than baseline B0; "fused / floor" how far it is from the
memory-traffic floor.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

ORDER = ["fused", "B0", "B1", "B2", "floor", "floor-3r2w", "copy"]
# Targets of the penalty issue (30.0M values): fused at least this many times faster than the
# baseline, and at most 1.5x the floor (CPU); on a GPU at least 80% of copy bandwidth and 10x B0.
CPU_TARGETS = {"B0": 5.0, "B1": 1.8}


def load(path):
    data = read_results(path)
    return data, grouped(data, lambda info: (info["penalty"], info["numel"], info["tensors"], info["device"]))


def grouped(data: dict, key) -> dict:
    """{key(extra_info): {method: benchmark}}: the methods measured on one case side by side."""
    groups = defaultdict(dict)
    for b in data["benchmarks"]:
        groups[key(b["extra_info"])][b["extra_info"]["method"]] = b
    return groups


def summary_parser() -> argparse.ArgumentParser:
    """The arguments every summary script takes: the pytest-benchmark JSON file and a free-text note."""
    parser = argparse.ArgumentParser()
    parser.add_argument("json")
    parser.add_argument("--note", default="", help="free text: device, torch version, conditions")
    return parser


def read_results(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def parsed_results() -> tuple[argparse.Namespace, dict]:
    """(the summary's arguments, the results file they name): how every summary script starts."""
    args = summary_parser().parse_args()
    return args, read_results(args.json)


def machine_line(data) -> str:
    m = data.get("machine_info", {})
    cpu = m.get("cpu", {})
    parts = [
        cpu.get("brand_raw", m.get("processor", "?")),
        f"{cpu.get('count', '?')} logical CPUs",
        f"python {m.get('python_version', '?')}",
    ]
    return ", ".join(str(p) for p in parts)


def header(title: str, path: str, data: dict, note: str | None) -> list[str]:
    """A summary's first lines: its title with the results file's name, the machine, the date, the note."""
    lines = [
        f"# {title}: {path.split('/')[-1]}",
        "",
        f"- machine: {machine_line(data)}",
        f"- date: {data.get('datetime', '?')}",
    ]
    return lines + ([f"- {note}"] if note else [])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("json")
    parser.add_argument("--note", default="", help="free text: torch version, device name, conditions")
    args = parser.parse_args()
    data, groups = load(args.json)
    out = header("Penalty benchmarks", args.json, data, args.note)
    out += [
        "- what: value of γ·L and its gradient into every p.grad (grads start as None), "
        "median wall time; ratios are within this run",
        "",
    ]
    for (penalty, numel, tensors, device), methods in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        fused = methods.get("fused")
        out += [
            f"## {penalty}, {numel / 1e6:.1f}M values, {tensors} tensors, {device}",
            "",
            "| method | median ms | min ms | vs fused (median) | effective GB/s (median) |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in ORDER:
            if name not in methods:
                continue
            b = methods[name]
            med = b["stats"]["median"]
            ratio = "" if fused is None or name == "fused" else f"{med / fused['stats']['median']:.2f}×"
            gbps = b["extra_info"]["min_bytes"] / med / 1e9
            out.append(f"| {name} | {med * 1e3:.3f} | {b['stats']['min'] * 1e3:.3f} | {ratio} | {gbps:.1f} |")
        if fused is not None:
            f_med = fused["stats"]["median"]
            checks = []
            for base, target in CPU_TARGETS.items():
                if base in methods:
                    r = methods[base]["stats"]["median"] / f_med
                    checks.append(f"{base}/fused = {r:.2f} (target ≥ {target})")
            if "floor" in methods:
                r = f_med / methods["floor"]["stats"]["median"]
                checks.append(f"fused/floor = {r:.2f} (target ≤ 1.5)")
            if "floor-3r2w" in methods:
                r = f_med / methods["floor-3r2w"]["stats"]["median"]
                checks.append(f"fused/floor-3r2w = {r:.2f} (target ≤ 1.1)")
            if "copy" in methods:
                copy_bw = methods["copy"]["extra_info"]["min_bytes"] / methods["copy"]["stats"]["median"]
                fused_bw = fused["extra_info"]["min_bytes"] / f_med
                checks.append(f"fused bandwidth = {100 * fused_bw / copy_bw:.0f}% of copy (GPU target ≥ 80%)")
            out += ["", "Ratios: " + "; ".join(checks)]
        out.append("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
