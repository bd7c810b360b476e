"""`atu convert`: the command line of atu.checkpoint.convert (its parser, checks and exit codes)."""

from __future__ import annotations

from ..checkpoint import convert as convert_stage
from ..checkpoint.convert import TARGETS, convert, report
from .options import command_parser


def register(subparsers) -> None:
    p = command_parser(
        subparsers,
        "convert",
        "convert a checkpoint between atu's format and rosinality's .pt layout",
        convert_stage.__doc__,
    )
    p.add_argument("source", metavar="IN", help="checkpoint to read (atu .safetensors, rosinality/ATU .pt, state dict)")
    p.add_argument("target", metavar="OUT", help="file to write")
    p.add_argument("--to", choices=TARGETS, help="output format (default: from OUT's extension)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(func=_main)


def _main(args) -> int:
    conversion = convert(args.source, args.target, to=args.to, force=args.force)  # errors: cli.main, exit 2
    print(report(conversion))
    return 0
