"""Measures generators as MODELS.md reports them:

    python -m atu.assets.quality [GENERATOR.safetensors ...] [--n 2000] [--seed 0]
    python -m atu.assets.quality --curve RUN [--json F --plot F.png]

For each generator (default: every shipped generator): FID in the judge's feature space (the shipped
classifier of the data it was trained on: digits or MNIST) between n seeded samples and the real
images its data held (all of them, or those without its excluded classes), the share of samples the
judge puts in each class, and as a yardstick the FID between two disjoint halves of the same real
images (FID is biased upwards at small sample sizes; no generator can be expected to beat that floor
by much). `--curve RUN` measures every snapshot a pretraining run kept (RUN/snapshots/model_<step>)
and draws FID against the step: where it stops improving is where training can stop.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

from ..checkpoint import load_atu
from ..classifiers import feature_fn, load_classifier, predict
from ..data import load_dataset, parse_spec
from ..eval.fid import fid
from ..eval.quality import class_frequencies, generator_fid
from ..models import Generator
from ..util.plots import line_chart
from . import available, path

JUDGES = {"digits": "digits_classifier.safetensors", "mnist": "mnist_classifier.safetensors"}
SHIPPED_PREFIXES = ("digits32", "mnist32")


def training_data(metadata: dict) -> tuple[str, list[int], str | None]:
    """The data spec, excluded classes and excluded measured feature a generator was trained on, from
    its run record."""
    run = metadata.get("run", {})
    return run.get("data", "digits"), list(run.get("exclude_classes", [])), run.get("exclude_feature")


def measure(generator_file, *, n: int, seed: int, classifier=None, real_cache: dict | None = None) -> dict:
    ckpt = load_atu(generator_file)
    G = Generator.from_config(ckpt.config["generator"])
    G.load_state_dict(ckpt.state_dicts["g_ema"], strict=True)
    G.eval()
    data, excluded, feature = training_data(ckpt.metadata)
    kind, _ = parse_spec(data)
    if classifier is None:
        classifier = load_classifier(path(JUDGES[kind]))
    key = (data, tuple(excluded), feature, G.size)
    cache = real_cache if real_cache is not None else {}
    if key not in cache:
        cache[key] = load_dataset(data, resolution=G.size, exclude_classes=excluded, exclude_feature=feature).images()
    images = cache[key]
    halves = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    features = feature_fn(classifier)
    return {
        "file": str(generator_file),
        "data": data,
        "excluded_classes": excluded,
        **({"excluded_feature": feature} if feature else {}),
        "step": ckpt.metadata.get("step"),
        "fid": generator_fid(G, features, images, n=n, seed=seed),
        "real_halves_fid": fid(features, images[halves[: len(images) // 2]], images[halves[len(images) // 2 :]]),
        "class_share": class_frequencies(G, lambda x: predict(classifier, x), 10, n=n, seed=seed),
    }


def snapshots(run: Path) -> list[Path]:
    """RUN/snapshots/model_<step>.safetensors in step order."""
    found = [
        (int(m.group(1)), p)
        for p in (run / "snapshots").glob("model_*.safetensors")
        if (m := re.fullmatch(r"model_(\d+)\.safetensors", p.name))
    ]
    if not found:
        raise FileNotFoundError(
            f"{run}: no snapshots/model_<step>.safetensors (scripts/build_shipped_models.sh keeps them)"
        )
    return [p for _, p in sorted(found)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m atu.assets.quality", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("generators", nargs="*")
    parser.add_argument("--curve", type=Path, help="a pretraining run folder: measure each of its snapshots")
    parser.add_argument("--classifier", default=None, help="default: the shipped judge of the generator's data")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--plot", type=Path, help="--curve: draw FID against the step into this PNG")
    args = parser.parse_args(argv)
    try:
        files = (
            snapshots(args.curve)
            if args.curve
            else (args.generators or [path(a) for a in available() if a.startswith(SHIPPED_PREFIXES)])
        )
    except FileNotFoundError as err:
        parser.error(str(err))
    if not files:
        parser.error("no generators given and none shipped")
    classifier = load_classifier(args.classifier) if args.classifier else None
    cache: dict = {}
    rows = []
    print(f"| model | steps | FID (n={args.n}) | real-halves FID | samples per class (%, 0-9) |")
    print("|---|---|---|---|---|")
    for f in files:
        r = measure(f, classifier=classifier, n=args.n, seed=args.seed, real_cache=cache)
        rows.append(r)
        shares = " ".join(f"{100 * s:.0f}" for s in r["class_share"])
        print(
            f"| {Path(r['file']).name} | {r['step']} | {r['fid']:.2f} | {r['real_halves_fid']:.2f} | {shares} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "seed": args.seed, "rows": rows}, indent=1) + "\n")
    if args.plot and args.curve:
        line_chart(
            {
                "FID": ([r["step"] for r in rows], [r["fid"] for r in rows]),
                "real-halves FID": ([r["step"] for r in rows], [r["real_halves_fid"] for r in rows]),
            },
            args.plot,
            title=f"{args.curve.name}: FID (judge features, n={args.n}) against the step",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
