"""`atu evaluate`: the command line of atu.eval.evaluate (its parser, checks and exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

from .. import checkpoint as ckpt
from ..classifiers import load_classifier
from ..classifiers.judges import ClassJudge, Judge, MeasureJudge
from ..data import load_dataset, parse_spec
from ..eval import evaluate as evaluate_stage
from ..eval.evaluate import SECOND, evaluate
from ..eval.extractors import classifier_extractor, classifier_features_record, load_inception
from ..eval.filtering import FilteredSampler
from ..eval.reference_stats import load_stats
from ..util import distributed
from ..util.atomic import write_text
from ..util.devices import check_device
from ..util.provenance import file_record, provenance
from ..util.validate import count_arg, seed_arg
from .options import (
    UsageError,
    add_class_option,
    add_device_option,
    add_feature_option,
    command_parser,
    named_files,
    read_input,
)


def _reference_stats(args, features: dict, resolution: int):
    """--real-stats, checked to be in these features (an extractor's record, for the classifier its
    file's sha256), at this resolution, without the class."""

    try:
        reference = load_stats(args.real_stats)
        reference.check_fits(features, resolution, args.undesired_class, f"--real-stats {args.real_stats}")
    except ValueError as err:
        raise UsageError(str(err)) from err
    return reference


def _judges(args, classifier, resolution: int, device: str) -> tuple[Judge, Judge | None]:
    """(the judge of --class or --feature, the --judge classifier's judge of the same) checked."""
    if (args.undesired_class is None) == (args.feature is None):
        raise UsageError("say what is undesired with exactly one of --class C or --feature MEASURE:topP")
    if args.feature and args.real_stats:
        raise UsageError("--real-stats with --feature: statistics files leave out classes, not features; use --data")
    judge = read_input("--judge", args.judge, load_classifier).to(device) if args.judge else None
    if args.feature:
        try:
            first = MeasureJudge.over(args.feature, args.data, resolution)
        except (ValueError, OSError) as err:
            raise UsageError(f"--data {args.data}: {err}") from err
        try:  # the feature's own classifier (atu train-classifier --feature) names it as a class
            second = ClassJudge.of(judge, args.feature) if judge is not None else None
        except ValueError as err:
            raise UsageError(f"--judge {args.judge}: {err} (atu train-classifier --feature trains one)") from err
        return first, second
    n_classes = int(classifier.config()["num_classes"])
    if not 0 <= args.undesired_class < n_classes:
        raise UsageError(f"--class {args.undesired_class}: the classifier knows classes 0..{n_classes - 1}")
    if judge is not None and int(judge.config()["num_classes"]) != n_classes:
        raise UsageError(
            f"--judge {args.judge} knows {judge.config()['num_classes']} classes, --classifier "
            f"{n_classes}; the second judge must judge the same classes"
        )
    second = ClassJudge(judge, args.undesired_class) if judge is not None else None
    return ClassJudge(classifier, args.undesired_class), second


def _left_out(args, classifier) -> dict:
    """What FID's real images leave out (load_dataset's keywords): the measured feature, the digit
    class, or for folder data the images with the attribute the classifier was trained to tell."""
    folder = parse_spec(args.data)[0] == "folder"
    if args.attributes_file and not folder:
        raise UsageError(f"--attributes-file goes with folder: data, not --data {args.data}")
    if args.feature:
        return {"exclude_feature": args.feature}
    if not folder:
        return {"exclude_classes": [args.undesired_class]}
    attribute = getattr(classifier, "metadata", {}).get("attribute")
    if attribute is None or args.attributes_file is None or args.undesired_class != 1:
        raise UsageError(
            f"--data {args.data}: FID's real images leave out those with the undesired attribute, which "
            "needs --attributes-file, a classifier trained on it (atu train-classifier --attribute NAME) "
            "and --class 1 (the attribute present); or --real-stats from atu fid-stats --exclude-attribute"
        )
    return {"exclude_attribute": attribute, "attributes_file": args.attributes_file}


def register(subparsers) -> None:
    p = command_parser(
        subparsers, "evaluate", "PUL, FID and Ret-FID of generators against the pre-trained one", evaluate_stage.__doc__
    )
    p.add_argument("--gen", required=True, help="the pre-trained checkpoint")
    p.add_argument("--model", action="append", default=[], metavar="NAME=FILE", help="a generator to judge (repeat)")
    p.add_argument(
        "--classifier", required=True, help="the classifier that judges the samples (PUL) and gives FID its features"
    )
    add_class_option(p, "the undesired class (or --feature)", type=int)
    add_feature_option(
        p,
        "instead of --class: a measured feature of digits judges PUL, its threshold over --data's real images "
        "(--classifier then gives FID its features)",
    )
    p.add_argument("--data", default="digits", help="real data (the undesired class or feature is left out)")
    p.add_argument(
        "--attributes-file",
        help="folder data: its CelebA-format attribute table; the images with the classifier's attribute "
        "are left out of FID's real side",
    )
    p.add_argument("--retrained", help="generator retrained without the class (Ret-FID); missing if not given")
    p.add_argument(
        "--judge",
        metavar="FILE",
        help="a second, independently trained classifier: every PUL and feature ratio is also counted "
        "by it (…_judge2 in metrics.json), so an edit that only fools --classifier shows",
    )
    p.add_argument(
        "--filter",
        action="store_true",
        help="also judge the output filter: --gen's samples with those --classifier puts in --class "
        "dropped (rejection sampling; its rejected share is reported)",
    )
    p.add_argument(
        "--inception",
        metavar="FILE",
        help="FID's Inception-v3 for the features: NVlabs' TorchScript inception-2015-12-05.pt or "
        "pytorch-fid's pt_inception-2015-12-05-6726825d.pth (torch-fidelity's file of the same "
        "weights too; the kind is detected); default: the classifier's penultimate features",
    )
    p.add_argument(
        "--real-stats",
        metavar="FILE",
        help="the real side from a statistics file (atu fid-stats, or pytorch-fid's .npz: FID only) "
        "instead of reading --data; it must be in this evaluation's features",
    )
    p.add_argument("--n-bank", type=count_arg, default=15_000, help="samples judged for PUL")
    p.add_argument("--n-fid", type=count_arg, default=5_000, help="samples for FID, KID and precision/recall")
    p.add_argument("--seed", type=seed_arg, default=0, help="seeds the sample bank and the real subset")
    add_device_option(p, "cpu, cuda, cuda:1, ... (under torchrun cuda = cuda:LOCAL_RANK)")
    p.add_argument("--out", required=True, help="metrics.json to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    p.set_defaults(func=_main)


def _main(args) -> int:
    with distributed.session(args.device) as device:
        return _run(args, device)


def _run(args, device: str) -> int:

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
    read_generator = lambda f: ckpt.load(f).generator(device=device).eval()  # noqa: E731
    pretrained = read_input("--gen", args.gen, read_generator)
    loaded = {name: read_input(f"--model {name}", f, read_generator) for name, f in models.items()}
    retrained = read_input("--retrained", args.retrained, read_generator) if args.retrained else None
    classifier = read_input("--classifier", args.classifier, load_classifier).to(device)
    first, second = _judges(args, classifier, pretrained.size, device)
    try:  # read before any sampling, so a folder without what FID needs is refused first
        left_out = None if args.real_stats else _left_out(args, classifier)
    except ValueError as err:
        raise UsageError(f"--data {args.data}: {err}") from err
    if args.filter:
        if "filter" in loaded:
            raise UsageError("--model filter=...: the name 'filter' is the output filter's row (--filter)")
        loaded["filter"] = FilteredSampler.judged_by(pretrained, first)
    for name, G in [("--gen", pretrained), *((f"--model {n}", g) for n, g in loaded.items())] + (
        [("--retrained", retrained)] if retrained else []
    ):
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
            real = load_dataset(args.data, resolution=pretrained.size, **left_out).images()
        except (ValueError, OSError) as err:
            raise UsageError(f"--data {args.data}: {err}") from err
    metrics = evaluate(
        pretrained,
        loaded,
        first,
        real,
        retrained=retrained,
        n_bank=args.n_bank,
        n_fid=args.n_fid,
        seed=args.seed,
        extractor=extractor or classifier_extractor(classifier),
        reference=reference,
        second_judge=second,
    )
    if not distributed.is_main():
        return 0
    metrics["inputs"] = {
        "gen": file_record(args.gen),
        "classifier": file_record(args.classifier),
        "retrained": file_record(args.retrained) if args.retrained else None,
        "models": {n: file_record(f) for n, f in models.items()},
        "judge": file_record(args.judge) if args.judge else None,
        "data": reference.record.get("data")
        if reference is not None and reference.record
        else None
        if reference is not None
        else args.data,
        "real_stats": file_record(args.real_stats) if args.real_stats else None,
        "attributes_file": file_record(args.attributes_file) if args.attributes_file else None,
    }
    metrics["provenance"] = {**provenance(), "processes": distributed.world_size()}
    write_text(out, json.dumps(metrics, indent=2))
    for name, m in [("pretrained", metrics["pretrained"]), *metrics["methods"].items()]:
        ret = "missing" if m["ret_fid"] is None else f"{m['ret_fid']:.2f}"
        pul = "" if "pul" not in m else "PUL undefined  " if m["pul"] is None else f"PUL {m['pul']:.1f}%  "
        if m.get("pul" + SECOND) is not None:
            pul += f"(judge 2: {m['pul' + SECOND]:.1f}%)  "
        if "rejected" in m:
            pul += f"rejects {m['rejected']:.1f}% of draws  "
        print(
            f"{name:>12}: {pul}undesired {m['n_undesired']}/{args.n_bank} ({m['feature_ratio']:.2f}%)  "
            f"FID {m['fid']:.2f}  "
            f"Ret-FID {ret}"
            + ("" if m["kid"] is None else f"  KID {m['kid']:.4g}")
            + ("" if m["precision"] is None else f"  precision {m['precision']:.1f}%  recall {m['recall']:.1f}%")
        )
    print(f"atu evaluate: {out}")
    return 0
