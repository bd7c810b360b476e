"""Markdown summary of a pytest-benchmark JSON file of bench/test_bench_stages.py.

    python bench/summarize_stages.py bench/results/<machine>-stages.json [--note "..."] > <file>.md

Per model and stage: training iterations per second with each penalty implementation (medians,
all measured in the same run), the step speed-up of atu_ext over the Python-loop baseline, and the
penalty's share of a step = (penalty alone) / (whole step with that penalty).
"""

from __future__ import annotations

from collections import defaultdict

from summarize import header, parsed_results  # bench/ is on sys.path when run as bench/summarize_stages.py


def main() -> int:
    args, data = parsed_results()
    median = defaultdict(dict)  # (arch, stage) -> {(what, method): seconds}
    for b in data["benchmarks"]:
        info = b["extra_info"]
        median[(info["arch"], info["stage"])][(info["what"], info["method"])] = b["stats"]["median"]
    out = header("Adapt-then-Unlearn stage benchmarks", args.json, data, args.note)
    out += [
        "- it/s = 1 / median time of one training iteration (batch 16: D step, G step, lazy R1 and path "
        "length, EMA); share = penalty alone / step with it",
        "",
        "| model | stage | atu_ext it/s | python_loop it/s | no_penalty it/s | step speed-up vs python_loop "
        "| penalty share atu_ext | penalty share python_loop | penalty alone atu_ext / python_loop ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (arch, stage), m in median.items():
        step = {meth: m.get(("train step", meth)) for meth in ("atu_ext", "python_loop", "no_penalty")}
        alone = {meth: m.get(("penalty only", meth)) for meth in ("atu_ext", "python_loop")}

        def rate(t):
            return f"{1 / t:.2f}" if t else ""

        def share(meth):
            return f"{100 * alone[meth] / step[meth]:.1f}%" if alone[meth] and step[meth] else ""

        speedup = f"{step['python_loop'] / step['atu_ext']:.2f}×" if step["atu_ext"] and step["python_loop"] else ""
        ms = " / ".join(f"{alone[k] * 1e3:.1f}" if alone[k] else "–" for k in ("atu_ext", "python_loop"))
        out.append(
            f"| {arch} | {stage} | {rate(step['atu_ext'])} | {rate(step['python_loop'])} | "
            f"{rate(step['no_penalty'])} | {speedup} | {share('atu_ext')} | {share('python_loop')} | {ms} |"
        )
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
