"""`atu evaluate`: the paper's metrics for the pre-trained generator and any number of others.

- PUL (percent, atu.eval.pul) on a fixed latent bank (default 15,000 seeds), judged by the classifier;
- FID against the real data without the undesired samples, in the classifier's penultimate feature
  space (works offline; the standard Inception network is a later option);
- Ret-FID: FID against samples of a generator retrained without the feature; reported as missing
  (null), never estimated another way, when no retrained model is given.
Written to metrics.json (atomically) as {"class", "pretrained": {...}, "methods": {name: {...}}}.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from . import checkpoint as ckpt
from .atomic import write_text
from .classifiers import feature_fn, load_classifier, predict
from .eval.fid import extract_features, feature_statistics, frechet_distance
from .eval.pul import count_undesired, percentage_unlearned
from .provenance import file_record, provenance


def _stats(features, images, batch_size=256):
    return feature_statistics(extract_features(features, images, batch_size))


def evaluate(pretrained, methods: dict, classifier, undesired_class: int, real_images: torch.Tensor, *,
             retrained=None, n_bank: int = 15_000, n_fid: int = 5_000, seed: int = 0) -> dict:
    """Metrics of `pretrained` and every generator in `methods` (name -> generator)."""
    features = feature_fn(classifier)
    classify = lambda x: predict(classifier, x)                                  # noqa: E731
    real_stats = _stats(features, real_images)
    retrained_stats = _stats(features, retrained.sample(n_fid, seed=seed + 1)) if retrained is not None else None

    def measure(G) -> dict:
        fake = _stats(features, G.sample(n_fid, seed=seed + 1))
        return {"n_undesired": count_undesired(G, classify, undesired_class, n=n_bank, seed=seed),
                "fid": frechet_distance(*fake, *real_stats),
                "ret_fid": frechet_distance(*fake, *retrained_stats) if retrained_stats is not None else None}

    base = measure(pretrained)
    result = {"class": undesired_class, "n_bank": n_bank, "n_fid": n_fid, "seed": seed, "pretrained": base,
              "methods": {}}
    for name, G in methods.items():
        m = measure(G)
        # undefined when the pre-trained model made no undesired sample: reported as missing, not 0
        m["pul"] = percentage_unlearned(base["n_undesired"], m["n_undesired"]) if base["n_undesired"] else None
        result["methods"][name] = m
    return result


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="PUL, FID and Ret-FID of generators against the pre-trained one",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gen", required=True, help="the pre-trained checkpoint")
    p.add_argument("--model", action="append", default=[], metavar="NAME=FILE", help="a generator to judge (repeat)")
    p.add_argument("--classifier", required=True)
    p.add_argument("--class", dest="undesired_class", type=int, required=True, help="the undesired class")
    p.add_argument("--data", default="digits", help="real data (the undesired class is left out)")
    p.add_argument("--retrained", help="generator retrained without the class (Ret-FID); missing if not given")
    p.add_argument("--n-bank", type=int, default=15_000)
    p.add_argument("--n-fid", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="metrics.json to write")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from .data import load_dataset

    out = Path(args.out)
    if out.exists() and not args.force:
        raise SystemExit(f"atu evaluate: {out} exists; pass --force to overwrite")
    if args.n_bank < 1 or args.n_fid < 2:
        raise SystemExit(f"atu evaluate: --n-bank must be >= 1 and --n-fid >= 2")
    models = {}
    for item in args.model:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise SystemExit(f"atu evaluate: --model {item!r}: expected NAME=FILE")
        if name in models:
            raise SystemExit(f"atu evaluate: --model name {name!r} given twice")
        models[name] = file
    loaded = {name: ckpt.load(f).generator().eval() for name, f in models.items()}   # bad files fail here
    pretrained = ckpt.load(args.gen).generator().eval()
    retrained = ckpt.load(args.retrained).generator().eval() if args.retrained else None
    classifier = load_classifier(args.classifier)
    n_classes = int(classifier.config()["num_classes"])
    if not 0 <= args.undesired_class < n_classes:
        raise SystemExit(f"atu evaluate: --class {args.undesired_class}: the classifier knows classes 0..{n_classes - 1}")
    for name, G in [("--gen", pretrained), *loaded.items()] + ([("--retrained", retrained)] if retrained else []):
        if G.size != pretrained.size:
            raise SystemExit(f"atu evaluate: {name} makes {G.size} px images, --gen {pretrained.size} px")
    real = load_dataset(args.data, resolution=pretrained.size, exclude_classes=[args.undesired_class]).images()
    metrics = evaluate(pretrained, loaded, classifier, args.undesired_class, real, retrained=retrained,
                       n_bank=args.n_bank, n_fid=args.n_fid, seed=args.seed)
    metrics["inputs"] = {"gen": file_record(args.gen), "classifier": file_record(args.classifier),
                         "retrained": file_record(args.retrained) if args.retrained else None,
                         "models": {n: file_record(f) for n, f in models.items()}, "data": args.data}
    metrics["provenance"] = provenance()
    write_text(out, json.dumps(metrics, indent=2))
    for name, m in [("pretrained", metrics["pretrained"]), *metrics["methods"].items()]:
        ret = "missing" if m["ret_fid"] is None else f"{m['ret_fid']:.2f}"
        pul = "" if "pul" not in m else "PUL undefined  " if m["pul"] is None else f"PUL {m['pul']:.1f}%  "
        print(f"{name:>12}: {pul}undesired {m['n_undesired']}/{args.n_bank}  FID {m['fid']:.2f}  Ret-FID {ret}")
    print(f"atu evaluate: {out}")
    return 0
