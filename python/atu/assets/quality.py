"""Measures the shipped digit generators as MODELS.md reports them:

    python -m atu.assets.quality [GENERATOR.safetensors ...] [--n 2000] [--seed 0]

For each generator (default: every shipped `digits32*.safetensors`): FID under the shipped digits
classifier's 128-d features between n seeded samples and the real digits its data held (all 1,797,
or those without its excluded classes), the share of samples the classifier puts in each class, and
as a yardstick the FID between two disjoint halves of the same real digits (FID is biased upwards at
small sample sizes; no generator can be expected to beat that floor by much).
"""
from __future__ import annotations

import argparse
import sys

import torch

from ..checkpoint import load_atu
from ..classifiers import feature_fn, load_classifier, predict
from ..data import load_dataset
from ..eval.fid import fid
from ..eval.quality import class_frequencies, generator_fid
from ..models import Generator
from . import available, path


def measure(generator_file, classifier, *, n: int, seed: int) -> dict:
    ckpt = load_atu(generator_file)
    G = Generator.from_config(ckpt.config["generator"])
    G.load_state_dict(ckpt.state_dicts["g_ema"], strict=True)
    G.eval()
    excluded = ckpt.metadata.get("run", {}).get("exclude_classes", [])
    real = load_dataset("digits", resolution=G.size, exclude_classes=excluded)
    images = real.images()
    halves = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    features = feature_fn(classifier)
    return {
        "file": str(generator_file), "excluded_classes": excluded, "step": ckpt.metadata.get("step"),
        "fid": generator_fid(G, features, images, n=n, seed=seed),
        "real_halves_fid": fid(features, images[halves[: len(images) // 2]], images[halves[len(images) // 2:]]),
        "class_share": class_frequencies(G, lambda x: predict(classifier, x), 10, n=n, seed=seed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atu.assets.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generators", nargs="*")
    parser.add_argument("--classifier", default=None, help="default: the shipped digits classifier")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    files = args.generators or [path(a) for a in available() if a.startswith("digits32")]
    if not files:
        parser.error("no generators given and none shipped")
    classifier = load_classifier(args.classifier or path("digits_classifier.safetensors"))
    print(f"| model | steps | FID (n={args.n}) | real-halves FID | samples per class (%, 0-9) |")
    print("|---|---|---|---|---|")
    for f in files:
        r = measure(f, classifier, n=args.n, seed=args.seed)
        shares = " ".join(f"{100 * s:.0f}" for s in r["class_share"])
        print(f"| {r['file'].rsplit('/', 1)[-1]} | {r['step']} | {r['fid']:.2f} | {r['real_halves_fid']:.2f} | {shares} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
