"""Does a different stage 1 change what stage 2 removes? Reads `atu run` / `atu demo` study folders
(class 8) that differ only in their `adapt` section and prints, for each, what stage 1 made and what
the study measured:

  purity   the share of 8s among N_PURITY samples of each adapted model θ_N^j (the pre-trained
           model draws 6.65% on these latents), by the demo's classifier
  moved    ||θ_N^j − θ_G|| over all parameters, the EWC-anchored ones (the StyledConvs by default)
           and the others (atu.stages.adapt.displacement, what `atu adapt` records)
  |u|      ||θ_G − mean_j θ_N^j||, the direction extrapolation and the repulsion push along
  el2, extrapolation s = 1: 8s in the PUL bank, PUL and FID from the study's metrics.json

  python bench/experiments/stage1_levers.py demo=/tmp/d48/demo k5=runs/k5 ... [--seed 0] [--out FILE.json]

Results: bench/results/experiments/cpu-2core-epyc-stage1-levers.json
(cpu-2core-epyc-stage2-limits.md, "Stage 1's knobs").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from stage2_limits import flat  # bench/experiments/ is on sys.path when run as a script

from atu import assets
from atu import checkpoint as ckpt
from atu.classifiers import load_classifier, predict
from atu.eval.pul import count_undesired
from atu.stages.adapt import displacement
from atu.stages.fisher import anchored_names
from atu.stages.inputs import adapted_model_files, load_pretrained

UNDESIRED = 8
N_PURITY, PURITY_SEED = 2_000, 7


def describe(folder: Path, seed: int, theta_g, classifier) -> dict:
    study = json.loads((folder / "config.json").read_text())
    adapt = study.get("config", study)["adapt"]
    feature = folder / f"no{UNDESIRED}"
    adapted = [ckpt.load(f).generator().eval() for f in adapted_model_files(feature / f"seed_{seed}" / "adapt")]
    anchor = {name: p.detach() for name, p in theta_g.named_parameters()}
    anchored = anchored_names(theta_g, adapt["fisher_layers"])
    moved = [{group: round(v, 4) for group, v in displacement(model, anchor, anchored).items()} for model in adapted]
    purity = [
        round(
            100
            * count_undesired(model, lambda x: predict(classifier, x) == UNDESIRED, n=N_PURITY, seed=PURITY_SEED)
            / N_PURITY,
            1,
        )
        for model in adapted
    ]
    u = flat(theta_g) - torch.stack([flat(model) for model in adapted]).mean(0)
    metrics = json.loads((feature / "metrics.json").read_text())["methods"]

    def row(method: str) -> dict:
        run = next(s for s in metrics[method]["seeds"] if s["seed"] == seed)
        return {"undesired": run["n_undesired"], "pul": round(run["pul"], 1), "fid": round(run["fid"], 1)}

    return {
        "adapt": {key: adapt[key] for key in ("k", "steps", "lam", "fisher_layers")},
        "purity_percent": purity,
        "moved_from_theta_g": moved,
        "u_norm": round(u.norm().item(), 1),
        "el2": row("el2"),
        "extrapolation_s1": row("extrapolation s=1"),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("studies", nargs="+", metavar="NAME=FOLDER")
    p.add_argument("--seed", type=int, default=0, help="the study seed to read (default 0)")
    p.add_argument("--out", help="also write the rows to this JSON file")
    a = p.parse_args()
    torch.set_num_threads(1)
    theta_g, _ = load_pretrained(assets.path(assets.SHIPPED["digits"].generator))
    classifier = load_classifier(assets.path(assets.SHIPPED["digits"].classifier)).eval()
    rows = {}
    for spec in a.studies:
        name, _, folder = spec.partition("=")
        rows[name] = describe(Path(folder), a.seed, theta_g, classifier)
        print(name, json.dumps(rows[name]))
    if a.out:
        Path(a.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
