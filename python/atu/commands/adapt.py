"""`atu adapt`: the command line of atu.stages.adapt (its parser, checks and exit codes)."""

from __future__ import annotations

from .. import checkpoint as ckpt
from ..stages import adapt as adapt_stage
from ..stages.adapt import AdaptConfig, adapt
from ..util import distributed, settings
from .options import add_training_options, command_parser, run_options, training_session


def register(subparsers) -> None:
    p = command_parser(
        subparsers, "adapt", "stage 1: adapt the generator to the undesired samples (EWC), k times", adapt_stage.__doc__
    )
    p.add_argument(
        "--gen", required=True, help="pre-trained checkpoint (atu or rosinality .pt): θ_G = its g_ema, and d"
    )
    p.add_argument("--feedback", required=True, help="feedback bundle (atu feedback); its undesired samples are used")
    settings.add_options(p, AdaptConfig)
    add_training_options(p)
    p.set_defaults(func=_main)


def _main(args) -> int:
    with training_session(args, AdaptConfig) as (device, cfg):
        paths = adapt(args.gen, args.feedback, args.out, cfg, **run_options(args, device))
        main = distributed.is_main()
    for path in paths if main else []:
        moved = ckpt.load_atu(path).metadata.get("moved_from_theta_g")
        note = (
            f" (||θ_N − θ_G|| = {moved['all']:.4g}; in the EWC-anchored layers {moved['anchored']:.4g})"
            if moved
            else ""
        )  # files written before atu recorded it
        print(f"atu adapt: {path}{note}")
    return 0
