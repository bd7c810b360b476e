"""`atu evaluate`: the paper's metrics for the pre-trained generator and any number of others.

- PUL (percent, atu.eval.pul) on a fixed latent bank (default 15,000 seeds), judged by the classifier,
  and next to it the target feature ratio (percent of the bank's samples the classifier puts in the
  undesired class: Moon, Cho, Kim's metric, comparable across generators without a reference);
- FID against the real data without the undesired samples, in the classifier's penultimate feature
  space by default (works offline), or with --inception FILE in an Inception-v3 TorchScript
  network's (the standard FID features; see atu/eval/extractors.py for the input convention);
  the Fréchet distance in float64;
- Ret-FID: FID against samples of a generator retrained without the feature; reported as missing
  (null), never estimated another way, when no retrained model is given;
- in the same feature space, KID (unbiased, mean ± std over 100 subsets; its scale is the feature
  space's, so compare it between models of one evaluation, or in Inception features) and precision / recall
  (k = 3, percent) of FID's generated samples against a seeded subset of n_fid real images
  (atu/eval/kid_pr.py).
Written to metrics.json (atomically) as {"class", "fid_features", "pretrained": {...},
"methods": {name: {...}}, ...}. Bad input (a missing or unreadable file, an unknown class, a file
that is not a feature network) exits with status 2 and a message naming the option; nothing is
written.

Under torchrun (several processes), the latent bank's and the real images' batches are shared out
over the ranks, the undesired counts and the feature sums (n, Σx, Σxxᵀ in float64) added up, and
rank 0 writes the same PUL and, up to rounding, the same FID as one process; the features KID and
precision/recall need are gathered in sample order, so they too equal one process's.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from . import checkpoint as ckpt
from . import distributed
from .util.atomic import write_text
from .classifiers import load_classifier, predict
from .cli_options import UsageError, add_device_option, named_files, read_input
from .eval.extractors import FeatureExtractor, classifier_extractor, classifier_features_record, load_inception
from .eval.fid import FeatureMoments, frechet_distance
from .eval.kid_pr import kid, precision_recall
from .eval.filtering import FilteredSampler
from .eval.pul import count_undesired_by, percentage_unlearned
from .eval.reference_stats import reference_from_images
from .util.provenance import file_record, provenance

SAMPLE_BATCH = 64        # generator batches (the unit shared out over ranks)
PR_NEIGHBOURS = 3        # Kynkäänniemi et al.'s k for the precision/recall manifolds




def _shard() -> tuple[int, int]:
    return distributed.rank(), distributed.world_size()


def feature_ratio(n_undesired: int, n_bank: int) -> float:
    """The target feature ratio in percent: the share of the bank's samples that show the feature."""
    return 100.0 * n_undesired / n_bank


def generator_statistics(extractor: FeatureExtractor, G, n: int, seed: int, *, keep_rows: bool = False):
    """Feature mean and covariance of n seeded samples of G (this rank's batches, summed over ranks);
    with keep_rows, also every sample's features ([n, D], the same on every rank) for KID and P/R."""
    moments, parts = FeatureMoments(), []
    rank, world = _shard()
    for b, (_, images, _) in enumerate(G.iter_samples(n, seed, batch_size=SAMPLE_BATCH, shard=(rank, world))):
        features = extractor.features(images)
        moments.add(features)
        if keep_rows:
            parts.append(((b * world + rank) * SAMPLE_BATCH, features))
    stats = distributed.sum_moments(moments).statistics()
    return (*stats, distributed.assemble_rows(parts, n)) if keep_rows else stats


def kid_and_precision_recall(real_rows: torch.Tensor | None, fake_rows: torch.Tensor, seed: int) -> dict:
    """KID (mean and std over 100 subsets of up to 1,000) and precision/recall (k = 3, in
    percent) of generated against real features; missing without real rows (a pytorch-fid
    statistics file holds only FID's moments)."""
    if real_rows is None:
        return {"kid": None, "kid_std": None, "precision": None, "recall": None}
    kid_mean, kid_std = kid(real_rows, fake_rows, subsets=100, subset_size=1000, seed=seed)
    out = {"kid": kid_mean, "kid_std": kid_std, "precision": None, "recall": None}
    if min(real_rows.shape[0], fake_rows.shape[0]) > PR_NEIGHBOURS:      # else no k-th neighbour: missing
        precision, recall = precision_recall(real_rows, fake_rows, k=PR_NEIGHBOURS)
        out.update(precision=100 * precision, recall=100 * recall)
    return out


SECOND = "_judge2"       # the suffix of the second judge's n_undesired, feature_ratio and pul


def evaluate(pretrained, methods: dict, classifier, undesired_class: int, real_images: torch.Tensor | None, *,
             retrained=None, n_bank: int = 15_000, n_fid: int = 5_000, seed: int = 0,
             extractor: FeatureExtractor | None = None, reference=None, judge=None,
             judge_class: int | None = None) -> dict:
    """Metrics of `pretrained` and every generator in `methods` (name -> generator, or an
    eval.filtering.FilteredSampler, whose rejected share is reported too). FID features come from
    `extractor` (default: the classifier's penultimate layer); the real side from `real_images`, or
    from `reference` (eval/reference_stats.py: statistics computed once). With a second classifier
    `judge` (undesired class `judge_class`, default the same index), every model's n_undesired,
    feature_ratio and PUL are also counted by it, as n_undesired_judge2, ... (same bank, one pass)."""
    extractor = extractor or classifier_extractor(classifier)
    judges = {"": (lambda x: predict(classifier, x), undesired_class)}
    if judge is not None:
        judges[SECOND] = (lambda x: predict(judge, x), undesired_class if judge_class is None else judge_class)
    if reference is None:
        reference = reference_from_images(extractor, real_images, n_fid=n_fid, seed=seed)
    real_stats, real_rows = (reference.mu, reference.sigma), reference.rows
    retrained_stats = generator_statistics(extractor, retrained, n_fid, seed + 1) if retrained is not None else None

    def undesired(G) -> dict:
        counts = count_undesired_by(G, judges, n=n_bank, seed=seed, shard=_shard())
        out = {}
        for suffix, count in counts.items():
            n = distributed.sum_counts(count)
            out.update({f"n_undesired{suffix}": n, f"feature_ratio{suffix}": feature_ratio(n, n_bank)})
        if isinstance(G, FilteredSampler):      # every process labelled the whole stream: no sum
            out["rejected"] = 100.0 * (1 - G.last_draw["kept"] / G.last_draw["drawn"])
        return out

    def measure(G) -> dict:
        mu, sigma, rows = generator_statistics(extractor, G, n_fid, seed + 1, keep_rows=True)
        return {**undesired(G), "fid": frechet_distance(mu, sigma, *real_stats),
                "ret_fid": frechet_distance(mu, sigma, *retrained_stats) if retrained_stats is not None else None,
                **kid_and_precision_recall(real_rows, rows, seed)}

    base = measure(pretrained)

    def puls(counts: dict) -> dict:
        # undefined when the pre-trained model made no undesired sample: reported as missing, not 0
        return {f"pul{s}": percentage_unlearned(base[f"n_undesired{s}"], counts[f"n_undesired{s}"])
                if base[f"n_undesired{s}"] else None for s in judges}
    result = {"class": undesired_class, "n_bank": n_bank, "n_fid": n_fid, "seed": seed,
              "fid_features": extractor.record, "pretrained": base, "methods": {}}
    if retrained is not None:
        # The reference a judge of unlearning needs: a generator that never saw the class still
        # makes samples the classifier reads as the class (its errors on generated images), so its
        # PUL is the highest that "removed the feature entirely" reaches under this classifier.
        counts = undesired(retrained)
        result["retrained"] = {**counts, "fid": frechet_distance(*retrained_stats, *real_stats), **puls(counts)}
    for name, G in methods.items():
        m = measure(G)
        m.update(puls(m))
        result["methods"][name] = m
    return result


def _reference_stats(args, features: dict, resolution: int):
    """--real-stats, checked to be in these features (an extractor's record, for the classifier its
    file's sha256), at this resolution, without the class."""
    from .eval.reference_stats import load_stats

    try:
        reference = load_stats(args.real_stats)
        reference.check_fits(features, resolution, args.undesired_class, f"--real-stats {args.real_stats}")
    except ValueError as err:
        raise UsageError(str(err)) from err
    return reference


def register(subparsers) -> None:
    from .cli_options import command_description

    p = subparsers.add_parser("evaluate", help="PUL, FID and Ret-FID of generators against the pre-trained one",
                              description=command_description(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gen", required=True, help="the pre-trained checkpoint")
    p.add_argument("--model", action="append", default=[], metavar="NAME=FILE", help="a generator to judge (repeat)")
    p.add_argument("--classifier", required=True)
    p.add_argument("--class", dest="undesired_class", type=int, required=True, help="the undesired class")
    p.add_argument("--data", default="digits", help="real data (the undesired class is left out)")
    p.add_argument("--retrained", help="generator retrained without the class (Ret-FID); missing if not given")
    p.add_argument("--judge", metavar="FILE",
                   help="a second, independently trained classifier: every PUL and feature ratio is also counted "
                        "by it (…_judge2 in metrics.json), so an edit that only fools --classifier shows")
    p.add_argument("--filter", action="store_true",
                   help="also judge the output filter: --gen's samples with those --classifier puts in --class "
                        "dropped (rejection sampling; its rejected share is reported)")
    p.add_argument("--inception", metavar="FILE",
                   help="FID's Inception-v3 for the features: NVlabs' TorchScript inception-2015-12-05.pt or "
                        "pytorch-fid's pt_inception-2015-12-05-6726825d.pth (torch-fidelity's file of the same "
                        "weights too; the kind is detected); default: the classifier's penultimate features")
    p.add_argument("--real-stats", metavar="FILE",
                   help="the real side from a statistics file (atu fid-stats, or pytorch-fid's .npz: FID only) "
                        "instead of reading --data; it must be in this evaluation's features")
    p.add_argument("--n-bank", type=int, default=15_000)
    p.add_argument("--n-fid", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=0)
    add_device_option(p, "cpu, cuda, cuda:1, ... (under torchrun cuda = cuda:LOCAL_RANK)")
    p.add_argument("--out", required=True, help="metrics.json to write")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=_main)


def _main(args) -> int:
    with distributed.session(args.device) as device:
        return _run(args, device)


def _run(args, device: str) -> int:
    from .cli_options import check_device
    from .data import load_dataset

    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"--out {out} exists; pass --force to overwrite")
    if args.n_bank < 1 or args.n_fid < 2:
        raise UsageError("--n-bank must be >= 1 and --n-fid >= 2")
    try:
        check_device(device)
    except ValueError as err:
        raise UsageError(str(err)) from err
    models = named_files(args.model)
    read_generator = lambda f: ckpt.load(f).generator(device=device).eval()      # noqa: E731
    pretrained = read_input("--gen", args.gen, read_generator)
    loaded = {name: read_input(f"--model {name}", f, read_generator) for name, f in models.items()}
    retrained = read_input("--retrained", args.retrained, read_generator) if args.retrained else None
    classifier = read_input("--classifier", args.classifier, load_classifier).to(device)
    n_classes = int(classifier.config()["num_classes"])
    if not 0 <= args.undesired_class < n_classes:
        raise UsageError(f"--class {args.undesired_class}: the classifier knows classes 0..{n_classes - 1}")
    judge = read_input("--judge", args.judge, load_classifier).to(device) if args.judge else None
    if judge is not None and int(judge.config()["num_classes"]) != n_classes:
        raise UsageError(f"--judge {args.judge} knows {judge.config()['num_classes']} classes, --classifier "
                         f"{n_classes}; the second judge must judge the same classes")
    if args.filter:
        if "filter" in loaded:
            raise UsageError("--model filter=...: the name 'filter' is the output filter's row (--filter)")
        loaded["filter"] = FilteredSampler(pretrained, classifier, args.undesired_class)
    for name, G in [("--gen", pretrained), *((f"--model {n}", g) for n, g in loaded.items())] + \
            ([("--retrained", retrained)] if retrained else []):
        if G.size != pretrained.size:
            raise UsageError(f"{name} makes {G.size} px images, --gen {pretrained.size} px")
    extractor = None
    if args.inception:
        try:
            extractor = load_inception(args.inception, resolution=pretrained.size, device=device)
        except ValueError as err:
            raise UsageError(str(err)) from err
    reference, real = None, None
    if args.real_stats:
        features = extractor.record if extractor else classifier_features_record(args.classifier)
        reference = _reference_stats(args, features, pretrained.size)
    else:
        try:
            real = load_dataset(args.data, resolution=pretrained.size, exclude_classes=[args.undesired_class]).images()
        except (ValueError, OSError) as err:
            raise UsageError(f"--data {args.data}: {err}") from err
    metrics = evaluate(pretrained, loaded, classifier, args.undesired_class, real, retrained=retrained,
                       n_bank=args.n_bank, n_fid=args.n_fid, seed=args.seed, extractor=extractor, reference=reference,
                       judge=judge)
    if not distributed.is_main():
        return 0
    metrics["inputs"] = {"gen": file_record(args.gen), "classifier": file_record(args.classifier),
                         "retrained": file_record(args.retrained) if args.retrained else None,
                         "models": {n: file_record(f) for n, f in models.items()},
                         "judge": file_record(args.judge) if args.judge else None,
                         "data": reference.record.get("data") if reference is not None and reference.record else
                         None if reference is not None else args.data,
                         "real_stats": file_record(args.real_stats) if args.real_stats else None}
    metrics["provenance"] = {**provenance(), "processes": distributed.world_size()}
    write_text(out, json.dumps(metrics, indent=2))
    for name, m in [("pretrained", metrics["pretrained"]), *metrics["methods"].items()]:
        ret = "missing" if m["ret_fid"] is None else f"{m['ret_fid']:.2f}"
        pul = "" if "pul" not in m else "PUL undefined  " if m["pul"] is None else f"PUL {m['pul']:.1f}%  "
        if m.get("pul" + SECOND) is not None:
            pul += f"(judge 2: {m['pul' + SECOND]:.1f}%)  "
        if "rejected" in m:
            pul += f"rejects {m['rejected']:.1f}% of draws  "
        print(f"{name:>12}: {pul}undesired {m['n_undesired']}/{args.n_bank} ({m['feature_ratio']:.2f}%)  FID {m['fid']:.2f}  "
              f"Ret-FID {ret}" + ("" if m["kid"] is None else f"  KID {m['kid']:.4g}")
              + ("" if m["precision"] is None else f"  precision {m['precision']:.1f}%  recall {m['recall']:.1f}%"))
    print(f"atu evaluate: {out}")
    return 0
