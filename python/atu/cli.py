"""The `atu` command. Each subcommand lives in the module that does the work: that module's
`register(subparsers)` adds its parser and sets `func`; this file only wires them together."""
from __future__ import annotations

import argparse
import importlib
import sys

# Modules that provide a `register(subparsers)` function, in the order `atu --help` lists them.
SUBCOMMAND_MODULES = ("pretrain", "classifiers.train", "convert", "feedback.collect", "label.command", "adapt",
                      "unlearn", "latent_unlearn", "extrapolate", "evaluate", "attack", "study.command", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atu", description="Adapt-then-Unlearn for StyleGAN2.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"atu.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\natu: interrupted; completed work is saved and the run can be resumed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
