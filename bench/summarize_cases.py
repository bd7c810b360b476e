"""Markdown summary of a pytest-benchmark JSON file of an op benchmark (one group per case, one
benchmark per method, extra_info with case, method and baseline).

    python bench/summarize_cases.py bench/results/<file>.json [--note "..."] [--target 1.5] > <file>.md

Times are medians; "speed-up" is baseline median / method median, measured in the same run.
"""

from __future__ import annotations

from collections import defaultdict

from summarize import (  # bench/ is on sys.path when run as bench/summarize_cases.py
    header,
    read_results,
    summary_parser,
)


def main() -> int:
    parser = summary_parser()
    parser.add_argument("--target", type=float, default=None, help="speed-up target to mark in the table")
    parser.add_argument("--baseline", help="the method the speed-ups divide (default: the first record's baseline)")
    args = parser.parse_args()
    data = read_results(args.json)
    cases, order = defaultdict(dict), []
    for b in data["benchmarks"]:
        info = b["extra_info"]
        if info["case"] not in cases:
            order.append(info["case"])
        cases[info["case"]][info["method"]] = b
    methods = list(dict.fromkeys(b["extra_info"]["method"] for b in data["benchmarks"]))
    baseline = args.baseline or data["benchmarks"][0]["extra_info"]["baseline"]
    out = header(f"{data['benchmarks'][0]['extra_info']['op']} benchmarks", args.json, data, args.note)
    images = data["benchmarks"][0]["extra_info"].get("images")
    what = "per call" if images else "of forward+backward"
    out += [
        f"- median wall time in ms {what}; speed-up = {baseline} / method"
        + (f"; images/s = {images} / median" if images else ""),
        "",
    ]
    headings = ["case", "shape", *(f"{m} ms" for m in methods), *(f"speed-up {m}" for m in methods if m != baseline)]
    out += ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    for case in order:
        row = cases[case]
        shape = next(iter(row.values()))["extra_info"].get("shape", "")
        med = {m: row[m]["stats"]["median"] for m in methods if m in row}
        cells = [
            (f"{med[m] * 1e3:.1f}" + (f" ({images / med[m]:.1f} img/s)" if images else "")) if m in med else ""
            for m in methods
        ]
        ratios = []
        for m in methods:
            if m == baseline:
                continue
            if m in med and baseline in med:
                r = med[baseline] / med[m]
                mark = "" if args.target is None else (" ✓" if r >= args.target else " ✗")
                ratios.append(f"{r:.2f}×{mark}")
            else:
                ratios.append("")
        out.append(f"| {case} | {'×'.join(map(str, shape))} | " + " | ".join(cells + ratios) + " |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
