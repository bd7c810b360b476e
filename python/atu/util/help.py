"""How every option shows its help: its text with its default added where the text does not give
one. One rule for `atu COMMAND --help` (HelpFormatter) and docs/commands.md (command_docs.py)."""

from __future__ import annotations

import argparse


def option_help(action: argparse.Action) -> str:
    """An option's help as `--help` and docs/commands.md show it: its text with its default added
    where the text does not already give one (flags, required options and None defaults have none)."""
    text = action.help if action.help not in (None, argparse.SUPPRESS) else ""
    if "%" in text:  # argparse's format: %(default)s and the like, and %% for a percent sign
        text = text % vars(action)
    default = action.default
    if action.required or action.nargs == 0 or default in (None, argparse.SUPPRESS) or "default" in text.lower():
        return text
    shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
    return f"{text} (default: {shown})".strip()


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """`--help` with every option's default (option_help) and descriptions kept as written."""

    def _expand_help(self, action: argparse.Action) -> str:
        return option_help(action)
