"""`atu latent-unlearn`: the command line of atu.latent.run (its parser, checks and exit codes)."""

from __future__ import annotations

from ..latent import run as latent_unlearn_stage
from ..latent.run import LatentConfig, latent_unlearn
from ..util import settings
from ..util.devices import check_device
from .options import add_device_option, add_schedule_options, command_parser, run_options


def register(subparsers) -> None:
    p = command_parser(
        subparsers,
        "latent-unlearn",
        "baseline: latent feature unlearning (Moon et al. 2024) in W",
        latent_unlearn_stage.__doc__,
    )
    p.add_argument(
        "--gen", required=True, help="pre-trained checkpoint: f = θ_G = its g_ema (and its d, carried along)"
    )
    p.add_argument("--feedback", required=True, help="feedback bundle: its latents and marks give the direction")
    p.add_argument("--out", required=True, help="run folder (refused if it already holds a run, unless --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    settings.add_options(p, LatentConfig)
    add_device_option(p)
    add_schedule_options(p)
    p.set_defaults(func=_main)


def _main(args) -> int:
    check_device(args.device)
    cfg = settings.from_options(LatentConfig, args)
    path = latent_unlearn(args.gen, args.feedback, args.out, cfg, **run_options(args))
    print(f"atu latent-unlearn: {path}")
    return 0
