"""One feature's metrics over several studies that differ only in their seeds, as one table.

A 3-seed MNIST table takes longer than a session on a 2-core CPU, so it is run as one study per
seed (`atu demo --class 8 --seeds 1 --out runs/c8s1`, ...) and merged here: the studies must have
evaluated the same pre-trained (and retrained) model on the same bank with the same settings — the
pre-trained row of each must be equal — and hold disjoint seeds; each method's per-seed numbers are
then pooled and aggregated exactly as a study over all the seeds does (study/evaluation.aggregate).

    python bench/experiments/merge_seeds.py OUT runs/c8s0/no8/metrics.json runs/c8s1/no8/metrics.json ...
    python bench/experiments/merge_seeds.py OUT A/no8/metrics.json B/no8/metrics.json --methods el2_paper nl2@gamma=20

With --methods only those methods are pooled (and the filter, where a study evaluated it): for studies
that ran other methods on fewer seeds, such as a sweep on seed 0 and its best setting on seeds 1 and 2.

Writes OUT/metrics.json and OUT/report.md (the results table, the paper's table beside it for MNIST
classes 1, 4, 8, the recommendation, the class shares with what moved) and OUT/tradeoff.png. One
study's metrics.json alone is re-aggregated the same way (a study evaluated before a column existed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from atu.study import paper, tradeoff
from atu.study.columns import subject
from atu.study.evaluation import aggregate
from atu.study.report import class_share_section, results_table
from atu.study.shares import moved_classes

# what must agree between the studies for their seeds to be pooled
SHARED = ("class", "n_bank", "n_fid", "seed", "fid_features", "pretrained", "retrained")


def same(a, b) -> bool:
    """Equal, floats up to the rounding a sharded evaluation brings (counts are exact)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1e-12)
    return a == b


def agree(a, b) -> bool:
    """`same` on the measures both hold: a study evaluated before a measure existed (the class shares)
    agrees with a newer one on the rest. The first study named gives the merged row, so name the newest first."""
    if isinstance(a, dict) and isinstance(b, dict):
        common = a.keys() & b.keys()
        return bool(common) and all(same(a[k], b[k]) for k in common)
    return same(a, b)


def merge(studies: list[dict], only: list[str] | None = None) -> dict:
    first = studies[0]
    for other in studies[1:]:
        differ = [k for k in SHARED if not agree(other.get(k), first.get(k))]
        if differ:
            raise SystemExit(f"the studies differ in {differ}: not the same evaluation, cannot pool their seeds")
    methods: dict[str, dict[int, dict]] = {}
    for study in studies:
        for name, m in study["methods"].items():
            if only is not None and name not in only and name != "filter":
                continue
            per_seed = methods.setdefault(name, {})
            for s in m["seeds"]:
                if s["seed"] in per_seed:
                    raise SystemExit(f"{name}: seed {s['seed']} is in two of the studies")
                per_seed[s["seed"]] = s
    if only is not None and (absent := [n for n in only if n not in methods]):
        raise SystemExit(f"{absent}: in none of the studies")
    wanted = len({s["seed"] for m in methods.values() for s in m.values()})
    # the filter is seed-free (evaluated once per study): pooled like the rest, it repeats one number
    incomplete = [n for n, per_seed in methods.items() if len(per_seed) < wanted and n != "filter"]
    if incomplete:
        raise SystemExit(f"{incomplete}: not run for every seed")
    merged = {k: first[k] for k in (*SHARED, "label", "feature", "feedback", "inputs") if k in first}
    merged["methods"] = {n: aggregate(per_seed) for n, per_seed in methods.items()}
    pre, kept = merged["pretrained"], merged["methods"].get("filter", {}).get("class_shares")
    if merged["class"] is None and "class_shares_without_feature" not in pre and kept:
        # evaluated before the shares without the feature were counted: the filter's draws are the
        # pre-trained model's samples without it (on a bank of their own)
        merged["pretrained"] = {**pre, "class_shares_without_feature": kept}
    for m in merged["methods"].values():
        if "class_shares" in m:
            m["moved_classes"] = moved_classes(m, merged["pretrained"], merged["class"], merged["n_bank"])
    merged["merged_from"] = len(studies)
    return merged


def report(metrics: dict, data: str, out: Path) -> str:
    recommended, why = tradeoff.recommendation(metrics)
    plot = tradeoff.write_tradeoff_plot(metrics, data, out / "tradeoff.png")
    seeds = sorted({s["seed"] for m in metrics["methods"].values() for s in m["seeds"]})
    lines = [
        f"# {subject(metrics)}: "
        + (f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), mean ± std" if len(seeds) > 1 else f"seed {seeds[0]}"),
        "",
        results_table(metrics),
        "",
        f"- {why}",
        "",
        *class_share_section(metrics),
    ]
    if paper.comparable(data, metrics["class"]):
        lines += [f"## Beside the paper ({paper.PAPER})", "", paper.comparison_table(metrics), ""]
    if plot:
        lines += [f"![PUL against FID]({plot.name})", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("metrics", nargs="+", type=Path, help="each study's FEATURE/metrics.json")
    p.add_argument("--methods", nargs="+", help="pool only these methods (default: every method of the studies)")
    p.add_argument("--data", default="mnist", help="the studies' data (for the paper's table; default mnist)")
    args = p.parse_args(argv)
    merged = merge([json.loads(path.read_text()) for path in args.metrics], args.methods)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(merged, indent=2))
    (args.out / "report.md").write_text(report(merged, args.data, args.out))
    print(f"wrote {args.out / 'report.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
