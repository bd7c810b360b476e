"""The paper's three repulsions on MNIST (its Table 1: IL2, NL2 and EL2 on classes 1, 4 and 8): the
demo's study with IL2 and NL2 in two forms beside the EL2 runs a study already holds:
- as the paper runs them (variants "il2@gamma=G", "nl2@gamma=G"): the repulsion added to the loss Adam minimises,
  the authors' per-tensor mean distance, γ from the paper's range (A.1.3: γ_a ∈ {0.1, 1, 10}; atu's
  γ is 2γ_a/k² for IL2 and γ_a·k²/2 for NL2 at k = 2, study/methods.py);
- with atu's decoupled step (the demo's il2 and nl2, their γ in study/demo.py).

    python bench/experiments/losses.py OUT --class 1 4 8 --seeds 0 [--gammas 1] [--resume]
    python bench/experiments/losses.py OUT --class 8 --seeds 1 2 --losses nl2 --forms paper --gammas 10

(the second: only the paper's NL2 at γ_a = 10, for more seeds of the one setting that competes with EL2;
`--negatives N` marks only the first N undesired samples of the bank, as `atu demo --negatives N`).

OUT holds one study (atu run's folder): a report per class and the summary.
"""

from __future__ import annotations

import argparse

from atu.study import from_dict, run_study
from atu.study.demo import PAPER_NL2, demo_config
from atu.study.methods import AUTHORS_IL2_GAMMA, AUTHORS_NL2_GAMMA

PAPER_FORM = {"decoupled": False, **PAPER_NL2}  # coupled, the authors' distance: as nl2_paper runs
AUTHORS_GAMMA = {"il2": AUTHORS_IL2_GAMMA, "nl2": AUTHORS_NL2_GAMMA}
FORMS = ("paper", "decoupled")


def losses_config(
    classes: list[int],
    seeds: list[int],
    gammas: list[float],
    losses: tuple[str, ...] = tuple(AUTHORS_GAMMA),
    forms: tuple[str, ...] = FORMS,
    negatives: int | None = None,
) -> dict:
    """The demo's study of `classes` with `losses` in atu's decoupled step and/or the paper's form at each γ_a."""
    variants = {}
    if "paper" in forms:
        for g in gammas:
            for loss in losses:
                variants[f"{loss}@gamma={AUTHORS_GAMMA[loss] * g:g}"] = {**PAPER_FORM}
    decoupled = list(losses) if "decoupled" in forms else []
    cfg = demo_config(classes, [*decoupled, *variants], seeds, negatives=negatives)
    cfg["unlearn"]["methods"] = {**cfg["unlearn"].get("methods", {}), **variants}
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--class", dest="classes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--gammas", type=float, nargs="+", default=[1.0], help="the paper's γ_a (0.1, 1, 10)")
    parser.add_argument("--losses", nargs="+", choices=sorted(AUTHORS_GAMMA), default=sorted(AUTHORS_GAMMA))
    parser.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS))
    parser.add_argument("--negatives", type=int, help="mark only the first N undesired samples (default: all)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    cfg = from_dict(
        losses_config(args.classes, args.seeds, args.gammas, tuple(args.losses), tuple(args.forms), args.negatives)
    )
    print(run_study(cfg, args.out, resume=args.resume, progress=False, processes=args.processes))


if __name__ == "__main__":
    main()
