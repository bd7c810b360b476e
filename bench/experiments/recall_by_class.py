"""Where a method's recall goes: precision and recall (k = 3, in the judge's features, as the study
measures them) of each model of a finished study, with the real digits split by class — recall of
class c is the share of the real c's that fall inside the generated samples' manifold — and the
share of the generated samples the judge puts in each class.

    python bench/experiments/recall_by_class.py STUDY/FEATURE --seed 0 [--n 3000] [--out recall.json]

Reads the feature's config (the study folder's config.json), its pre-trained generator and the
models of every stage-2 method of that seed; the real side is the study's (the training digits
without the feature's class), n of them drawn with the evaluation's seed; the fakes are n samples of
each model with the evaluation's seed + 1, as the study's FID takes them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from atu import checkpoint as ckpt
from atu.classifiers import load_classifier, predict
from atu.data import load_dataset
from atu.eval.evaluate import PR_NEIGHBOURS, generator_statistics
from atu.eval.extractors import classifier_extractor
from atu.eval.kid_pr import covered
from atu.gan.run import MODEL_FILE
from atu.study.methods import ATU_METHODS
from atu.study.variants import base_method


def per_class_recall(real: torch.Tensor, labels: torch.Tensor, fake: torch.Tensor, k: int) -> dict:
    """{"precision", "recall", "recall_by_class": {c: %}} of fake against real feature rows."""
    real, fake = real.double(), fake.double()
    inside_fake = covered(fake, real, k)
    precision = covered(real, fake, k).double().mean()
    by_class = {int(c): 100 * float(inside_fake[labels == c].double().mean()) for c in labels.unique()}
    return {
        "precision": 100 * float(precision),
        "recall": 100 * float(inside_fake.double().mean()),
        "by_class": by_class,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("feature_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--out")
    args = parser.parse_args()
    fdir = Path(args.feature_dir)
    config = json.loads((fdir.parent / "config.json").read_text())["config"]
    feature = next(f for f in config["features"] if f["name"] == fdir.name)
    classifier = load_classifier(feature["classifier"]).eval()
    extractor = classifier_extractor(classifier)
    pretrained = ckpt.load(config["generator"]).generator()
    data = load_dataset(config["data"], resolution=pretrained.size, exclude_classes=[feature["undesired"]])
    chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(config["evaluate"]["seed"]))[: args.n]
    real_images = data.images(chosen)
    labels = data.labels[chosen]
    real = torch.cat([extractor.features(real_images[i : i + 256]) for i in range(0, len(chosen), 256)])
    models = {"pretrained": pretrained}
    sdir = fdir / f"seed_{args.seed}"
    for method in config["methods"]:
        if base_method(method) in ATU_METHODS and (sdir / method / MODEL_FILE).is_file():
            models[method] = ckpt.load(sdir / method / MODEL_FILE).generator()
    results = {}
    for name, G in models.items():
        G.eval()
        _, _, rows = generator_statistics(extractor, G, args.n, config["evaluate"]["seed"] + 1, keep_rows=True)
        shares = torch.bincount(
            predict(classifier, G.sample(args.n, seed=config["evaluate"]["seed"] + 1)), minlength=10
        )
        results[name] = per_class_recall(real, labels, rows, PR_NEIGHBOURS) | {
            "class_shares": [100 * float(s) / args.n for s in shares]
        }
        r = results[name]
        print(
            f"{name:>24}: precision {r['precision']:.1f} recall {r['recall']:.1f} | recall by class "
            + " ".join(f"{c}:{v:.0f}" for c, v in r["by_class"].items())
            + " | shares "
            + " ".join(f"{c}:{s:.1f}" for c, s in enumerate(r["class_shares"])),
            flush=True,
        )
    if args.out:
        Path(args.out).write_text(
            json.dumps({"feature_dir": str(fdir), "seed": args.seed, "n": args.n, **results}, indent=2)
        )


if __name__ == "__main__":
    main()
