"""`atu fid-stats`: the real data's reference statistics, computed once for every later evaluation.

  atu fid-stats --data mnist --exclude-class 8 --classifier judge.safetensors --resolution 32 --out no8.npz
  atu fid-stats --data folder:faces --attributes-file list_attr_celeba.txt --exclude-attribute Eyeglasses \\
      --inception pt_inception-2015-12-05-6726825d.pth --resolution 256 --out no_glasses.npz

The file (eval/reference_stats.py) holds the features' mean and covariance over every image and the
features of a seeded subset of n-fid images (KID's and precision/recall's real set), with a record of
the extractor and the data; `atu evaluate --real-stats FILE` uses it instead of reading the images
and refuses it when its features, resolution or left-out class are not the evaluation's. With the
same --n-fid and --seed, the numbers equal those `atu evaluate --data` computes itself.
"""

from __future__ import annotations

from pathlib import Path

from ..classifiers import load_classifier
from ..data import load_dataset
from ..eval.extractors import classifier_extractor, classifier_features_record, load_inception
from ..eval.reference_stats import reference_from_images, save_stats
from ..util.devices import check_device
from ..util.provenance import provenance
from ..util.validate import count_arg, seed_arg
from .options import UsageError, add_device_option, command_parser, read_input


def register(subparsers) -> None:
    p = command_parser(
        subparsers, "fid-stats", "real-data statistics for FID, KID and precision/recall, computed once", __doc__
    )
    p.add_argument("--data", required=True, help="digits | mnist | mnist:DIR | folder:DIR")
    p.add_argument(
        "--exclude-class",
        type=int,
        action="append",
        default=[],
        dest="exclude_classes",
        help="leave this class out (repeat), as FID's real data of a removed class",
    )
    p.add_argument("--exclude-attribute", help="folder data: leave out the images with this attribute")
    p.add_argument("--attributes-file", help="folder data: CelebA-format attribute file")
    features = p.add_mutually_exclusive_group(required=True)
    features.add_argument("--classifier", help="the judge whose penultimate features FID is measured in")
    features.add_argument("--inception", metavar="FILE", help="FID's Inception-v3 (as atu evaluate --inception)")
    p.add_argument("--resolution", type=int, required=True, help="the generator's image size")
    p.add_argument(
        "--n-fid", type=count_arg, default=5_000, help="real images in KID's and P/R's subset (default 5000)"
    )
    p.add_argument("--seed", type=seed_arg, default=0, help="the evaluation seed the subset is drawn for (default 0)")
    add_device_option(p)
    p.add_argument("--out", required=True, help="statistics file to write (.npz)")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.set_defaults(func=_main)


def _main(args) -> int:

    out = Path(args.out)
    if out.suffix != ".npz":
        raise UsageError(f"--out {out}: must end in .npz")
    if out.exists() and not args.force:
        raise UsageError(f"--out {out} exists; pass --force to overwrite")
    if args.resolution < 4 or args.n_fid < 2:
        raise UsageError("--resolution must be >= 4 and --n-fid >= 2")
    check_device(args.device)
    if args.classifier:
        extractor = classifier_extractor(read_input("--classifier", args.classifier, load_classifier).to(args.device))
        extractor.record = classifier_features_record(args.classifier)
    else:
        extractor = load_inception(args.inception, resolution=args.resolution, device=args.device)
    try:
        data = load_dataset(
            args.data,
            resolution=args.resolution,
            exclude_classes=args.exclude_classes,
            exclude_attribute=args.exclude_attribute,
            attributes_file=args.attributes_file,
        )
    except (ValueError, OSError, KeyError) as err:
        raise UsageError(f"--data {args.data}: {err}") from err
    stats = reference_from_images(extractor, data.images(), n_fid=args.n_fid, seed=args.seed)
    stats.record = {
        "extractor": extractor.record,
        "data": args.data,
        "excluded_classes": sorted(args.exclude_classes),
        "excluded_attribute": args.exclude_attribute,
        "resolution": args.resolution,
        "n_images": len(data),
        "n_fid": args.n_fid,
        "seed": args.seed,
        "provenance": provenance(),
    }
    save_stats(out, stats)
    print(f"atu fid-stats: {len(data)} images, {stats.mu.numel()} features, {stats.rows.shape[0]} rows kept: {out}")
    return 0
