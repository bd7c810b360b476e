"""`atu extrapolate`: the command line of atu.stages.extrapolate (its parser, checks and exit codes)."""

from __future__ import annotations

from pathlib import Path

from ..stages import extrapolate as extrapolate_stage
from ..stages.extrapolate import DEFAULT_SCALES, extrapolate
from ..util.validate import count_arg, seed_arg
from .options import adapted_models, command_parser


def register(subparsers) -> None:
    p = command_parser(
        subparsers,
        "extrapolate",
        "baseline: move θ_G away from the adapted models (no training)",
        extrapolate_stage.__doc__,
    )
    p.add_argument("--gen", required=True, help="pre-trained checkpoint (θ_G = its g_ema)")
    p.add_argument("--adapted", required=True, nargs="+", help="the `atu adapt` folder, or θ_N model files")
    p.add_argument("--out", required=True, help="folder for the θ_s files and strip.png")
    p.add_argument("--scales", type=float, nargs="+", default=list(DEFAULT_SCALES), help="values of s")
    p.add_argument("--n-strip", type=count_arg, default=8, help="latents per row of strip.png")
    p.add_argument("--seed", type=seed_arg, default=0, help="seeds the latents of strip.png")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--device", default="cpu", help="where the models run (cpu, cuda, cuda:1, ...)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    each = Path(args.gen).stat().st_size if Path(args.gen).is_file() else 0
    if each:  # a fixed cost worth saying before it is paid: one model file per scale
        print(
            f"atu extrapolate: writing {len(args.scales)} models of about {each / 2**20:,.0f} MiB each "
            f"({len(args.scales) * each / 2**20:,.0f} MiB) to {args.out}"
        )
    adapted = adapted_models(args.adapted)
    files = extrapolate(
        args.gen,
        adapted,
        args.out,
        args.scales,
        n_strip=args.n_strip,
        seed=args.seed,
        force=args.force,
        device=args.device,
    )
    print(f"atu extrapolate: {len(files)} models and {Path(args.out) / 'strip.png'}")
    return 0
