"""The paper's three repulsions on MNIST (its Table 1: IL2, NL2 and EL2 on classes 1, 4 and 8): the
demo's study with IL2 and NL2 in two forms beside the EL2 runs a study already holds:
- as the paper runs them (variants "il2@gamma=G", "nl2@gamma=G"): the repulsion added to the loss Adam minimises,
  the authors' per-tensor mean distance, γ from the paper's range (A.1.3: γ_a ∈ {0.1, 1, 10}; atu's
  γ is 2γ_a/k² for IL2 and γ_a·k²/2 for NL2 at k = 2, study/methods.py);
- with atu's decoupled step (the demo's il2 and nl2, their γ in study/demo.py).

    python bench/experiments/losses.py OUT --class 1 4 8 --seeds 0 [--gammas 1] [--resume]

OUT holds one study (atu run's folder): a report per class and the summary.
"""

from __future__ import annotations

import argparse

from atu.study import from_dict, run_study
from atu.study.demo import demo_config
from atu.study.methods import AUTHORS_IL2_GAMMA, AUTHORS_NL2_GAMMA

PAPER_FORM = {"decoupled": False, "reduction": "tensor_mean"}


def losses_config(classes: list[int], seeds: list[int], gammas: list[float]) -> dict:
    """The demo's study of `classes` with il2 and nl2 (atu's step) and their paper forms at each γ_a."""
    variants = {}
    for g in gammas:
        variants[f"il2@gamma={AUTHORS_IL2_GAMMA * g:g}"] = {**PAPER_FORM}
        variants[f"nl2@gamma={AUTHORS_NL2_GAMMA * g:g}"] = {**PAPER_FORM}
    cfg = demo_config(classes, ["il2", "nl2", *variants], seeds)
    cfg["unlearn"]["methods"] = {**cfg["unlearn"].get("methods", {}), **variants}
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--class", dest="classes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--gammas", type=float, nargs="+", default=[1.0], help="the paper's γ_a (0.1, 1, 10)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    cfg = from_dict(losses_config(args.classes, args.seeds, args.gammas))
    print(run_study(cfg, args.out, resume=args.resume, progress=False, processes=args.processes))


if __name__ == "__main__":
    main()
