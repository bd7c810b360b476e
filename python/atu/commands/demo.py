"""`atu demo`: the command line of atu.study.demo (its parser, checks and exit codes)."""

from __future__ import annotations

import argparse
import sys

from .. import assets
from ..study import demo as demo_stage
from ..study.config import from_dict
from ..study.demo import DEFAULT_METHODS, demo_config
from ..study.methods import METHODS
from ..toy import run_mog_demo
from ..util.validate import count_arg, seed_arg
from .options import UsageError, add_class_option, add_feature_option, command_parser
from .run import add_study_options, execute


def register(subparsers) -> None:

    p = command_parser(
        subparsers, "demo", "the whole method on the shipped MNIST models (or --toy mog)", demo_stage.__doc__
    )
    p.add_argument("--out", help="output folder (default atu-demo; atu-demo-mog with --toy mog)")
    add_class_option(
        p,
        "the digit to remove (default 8); several: one feature each, one report each and the study's summary "
        "(e.g. --class 1 4 8, the paper's Table 1)",
        type=int,
        nargs="+",
        metavar="DIGIT",
    )
    add_feature_option(p, "remove a measured feature instead of a class (Moon et al.'s thick strokes)")
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(DEFAULT_METHODS),
        metavar="METHOD",
        help=f"from {', '.join(METHODS)}: the stage-2 variants (the redaction family among them), latent "
        "(latent feature unlearning) and filter (rejection sampling, a reference), or a stage-2 "
        "method with one setting changed, METHOD@KEY=VALUE (e.g. redact@redact=0.3); default el2_paper "
        "(EL2 in the paper's update, as atu unlearn runs it); the extrapolation baseline always runs",
    )
    p.add_argument(
        "--seeds", nargs="+", type=seed_arg, default=[0], help="training seeds (default 0); several → mean ± std"
    )
    p.add_argument(
        "--negatives",
        type=_negatives_arg,
        nargs="+",
        metavar="N",
        help="mark only the first N undesired samples of the 5,000-sample bank, as a user who marks N and "
        "stops (the bank's desired samples stay the positives); default: every undesired sample; several "
        "counts (`all` for every one): the whole demo once per count, and the report's tables and charts of "
        "the negatives marked against quality",
    )
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply the demo's step budgets (default 1)")
    p.add_argument(
        "--data",
        choices=sorted(assets.SHIPPED),
        default=assets.DEFAULT_SET,
        help="the shipped set: mnist (real MNIST, 60,000 digits) or digits (scikit-learn's 1,797, 8 px "
        f"upsampled: smaller, for quick runs) (default {assets.DEFAULT_SET})",
    )
    p.add_argument("--toy", choices=["mog"], help="run the 2-D toy instead of a shipped set")
    add_study_options(p)
    p.set_defaults(func=_main, default_out=default_out)


def _negatives_arg(text: str) -> int | None:
    """A count of marks, or `all` (None): every undesired sample of the bank."""
    if text == "all":
        return None
    if not text.strip().lstrip("+-").isdigit():
        raise argparse.ArgumentTypeError(f"expected a count or all, got {text!r}")
    return count_arg(text)


def default_out(args) -> str:
    return "atu-demo-mog" if args.toy == "mog" else "atu-demo"


def _main(args) -> int:
    args.out = args.out or default_out(args)
    if args.toy == "mog":
        if args.negatives is not None:
            raise UsageError("--negatives: the toy's feedback is drawn by its own rule; it goes with the shipped sets")
        return _toy(args)

    if args.feature and args.undesired_class:
        raise UsageError("--class and --feature: the demo removes either classes or one measured feature")
    cfg = from_dict(
        demo_config(
            args.undesired_class or [8],
            args.methods,
            args.seeds,
            steps_scale=args.steps_scale,
            device=args.device or "auto",
            data=args.data,
            feature=args.feature,
            negatives=args.negatives,
        )
    )
    args.device = None  # already in the configuration
    return execute(cfg, args, "atu demo")


def _toy(args) -> int:

    metrics = run_mog_demo(
        args.out, seed=args.seeds[0], device=args.device or "cpu", progress=not args.no_progress and sys.stderr.isatty()
    )
    print(f"atu demo: toy report: {metrics.get('report', args.out)}")
    return 0
