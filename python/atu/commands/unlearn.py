"""`atu unlearn`: the command line of atu.stages.unlearn (its parser, checks and exit codes)."""

from __future__ import annotations

from ..stages import unlearn as unlearn_stage
from ..stages.unlearn import UnlearnConfig, unlearn
from ..util import distributed, settings
from .options import adapted_models, add_training_options, command_parser, run_options, training_session


def register(subparsers) -> None:
    p = command_parser(
        subparsers,
        "unlearn",
        "stage 2: train on the desired samples, repelled from the adapted models",
        unlearn_stage.__doc__,
    )
    p.add_argument("--gen", required=True, help="pre-trained checkpoint: θ_G = its g_ema, and d")
    p.add_argument(
        "--adapted",
        nargs="+",
        help="the --out folder of `atu adapt`, or the adapted model files (not needed with --gamma 0)",
    )
    p.add_argument("--feedback", required=True, help="feedback bundle; its desired samples are used")
    p.add_argument(
        "--labeller", metavar="FILE", help="the classifier that labelled the feedback (for --redact-source labeller)"
    )
    settings.add_options(p, UnlearnConfig)
    add_training_options(p)
    p.set_defaults(func=_main)


def _main(args) -> int:
    with training_session(args, UnlearnConfig) as (device, cfg):
        adapted = adapted_models(args.adapted)
        run = run_options(args, device)
        path = unlearn(args.gen, adapted, args.feedback, args.out, cfg, labeller=args.labeller, **run)
        main = distributed.is_main()
    if main:
        print(f"atu unlearn: {path}")
    return 0
