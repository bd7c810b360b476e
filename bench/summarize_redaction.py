"""Markdown summary of a pytest-benchmark JSON file of bench/test_bench_redaction.py.

    python bench/summarize_redaction.py bench/results/<machine>-redaction.json [--note "..."] > <file>.md

Per method: iterations per second (1 / median step), the step time as a ratio to EL2's and to the
adversarial-only floor, and what redaction adds over that floor in units of one D forward/backward
on a batch (the issue's bound: at most 1), all measured in the same run.
"""

from __future__ import annotations

from summarize import header, parsed_results  # bench/ is on sys.path when run as bench/summarize_redaction.py


def main() -> int:
    args, data = parsed_results()
    median = {b["extra_info"]["method"]: b["stats"]["median"] for b in data["benchmarks"]}
    el2, floor, d_pass = median.get("el2"), median.get("adv_only"), median.get("d_forward_backward")
    out = header("Stage-2 methods, step time", args.json, data, args.note)
    out += [
        "- demo configuration (48 channels, 32 px, batch 16); medians of 16 steps; "
        f"one D forward/backward on a batch: {d_pass * 1e3:.1f} ms"
        if d_pass
        else "",
        "",
        "| method | it/s | step ÷ el2 | step ÷ adv_only | added over adv_only, in D forward/backward passes |",
        "|---|---:|---:|---:|---:|",
    ]
    for method in ("el2", "adv_only", "redact", "redact_labeller", "el2+redact"):
        t = median.get(method)
        if t is None:
            continue
        added = f"{(t - floor) / d_pass:.2f}" if floor and d_pass and method != "adv_only" else "–"
        out.append(f"| {method} | {1 / t:.2f} | {t / el2:.2f}× | {t / floor:.2f}× | {added} |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
