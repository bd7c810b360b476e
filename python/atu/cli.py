"""The `atu` command. Each subcommand's command line (parser, checks of the arguments, exit codes)
is a module atu/commands/<name>.py whose `register(subparsers)` adds its parser and sets `func`; the
work itself lives in the packages below (stages/, gan/, eval/, study/, ...). This file only wires
them together."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from .util.help import HelpFormatter

# The modules of atu/commands/ that provide a `register(subparsers)`, in the order `atu --help` lists them.
SUBCOMMAND_MODULES = (
    "pretrain",
    "train_classifier",
    "convert",
    "feedback",
    "label",
    "adapt",
    "unlearn",
    "latent_unlearn",
    "extrapolate",
    "evaluate",
    "fid_stats",
    "attack",
    "generate",
    "run",
    "demo",
    "check_ops",
)


# Exceptions other than atu's own (util/errors.py) that still mean "this input cannot be used": a
# dataclass check's ValueError, a missing file or one in the way (OSError): exit 2.
INPUT_ERRORS = (ValueError, OSError)


def add_ops_option(p: argparse.ArgumentParser) -> None:
    """--ops, on every command: which implementation of atu_ext's ops runs (atu_ext.ops_mode)."""
    from atu_ext import ops_mode

    p.add_argument(
        "--ops",
        choices=ops_mode.MODES,
        default=None,
        help=f"compiled: atu_ext's kernels; reference: plain PyTorch on any device, for a build "
        f"without kernels for your GPU (default: ${ops_mode.ENV_VAR}, else compiled)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atu", description="Adapt-then-Unlearn for StyleGAN2.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"atu.commands.{name}").register(sub)
    for command_parser in sub.choices.values():
        add_ops_option(command_parser)
        command_parser.formatter_class = HelpFormatter  # every option's default in --help
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        import atu_ext
    except ValueError as err:  # ATU_OPS names no mode: refused before anything runs
        print(f"atu: {err}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.ops is not None:
        atu_ext.ops_mode.set_default(args.ops)
    from .util import outputs
    from .util.errors import AtuError

    out = getattr(args, "out", None)
    if out is None and hasattr(args, "default_out"):  # a command whose --out has a computed default
        out = args.default_out(args)
    writes_out = out is not None and os.environ.get("RANK", "0") == "0"  # torchrun: rank 0 writes
    try:
        if writes_out:
            outputs.check_writable(out)
        with outputs.held(out) if writes_out else contextlib.nullcontext():
            return int(args.func(args) or 0)
    except AtuError as err:  # input that cannot be used (2) or a run that failed (1)
        print(f"atu {args.command}: error: {err}", file=sys.stderr)
        return err.exit_status
    except INPUT_ERRORS as err:
        # A check outside atu's own error types (a configuration's value out of range, a file that
        # is missing or in the way): about the input too, so one line and exit 2. ATU_DEBUG=1 shows
        # the traceback instead.
        if os.environ.get("ATU_DEBUG"):
            raise
        print(f"atu {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\natu: interrupted; completed work is saved and the run can be resumed", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as err:
        from .util.memory import out_of_memory

        tried = out_of_memory(err)
        if tried is None or os.environ.get("ATU_DEBUG"):
            raise
        # a run that started and could not go on: exit 1, its last checkpoint (if any) intact
        print(
            f"atu {args.command}: error: out of memory{f' (it tried to allocate {tried})' if tried else ''}; "
            f"{_memory_advice(parser, args.command)}",
            file=sys.stderr,
        )
        return 1


def _memory_advice(parser: argparse.ArgumentParser, command: str) -> str:
    """The options of this command that lower its memory, named for the user."""
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    options = {flag for action in subcommands.choices[command]._actions for flag in action.option_strings}
    levers = [
        shown
        for flag, shown in (
            ("--batch", "--batch"),
            ("--batch-size", "--batch-size"),
            ("--k", "--k"),
            ("--fisher-samples", "--fisher-samples"),
            ("--sample-every", "--sample-every 0"),
        )
        if flag in options
    ]
    advice = f"lower {', '.join(levers)}" if levers else "use a smaller model or a machine with more memory"
    resume = " and continue with --resume (what was saved before is intact)" if "--resume" in options else ""
    return advice + resume


if __name__ == "__main__":
    sys.exit(main())
