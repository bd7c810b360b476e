"""docs/commands.md, generated from the command-line parsers so that it cannot drift from them:

    python -m atu.command_docs > docs/commands.md

(tests/commands/test_docs.py fails when the file and the parsers disagree.)
"""

from __future__ import annotations

import argparse
import sys

from .cli import build_parser
from .util.help import option_help

HEADER = """# Commands

Every `atu` command and its options, generated from the parsers (`python -m atu.command_docs >
docs/commands.md`; a test keeps the two equal). `atu COMMAND --help` prints the same. Every command
also takes `--ops compiled|reference` (which implementation of atu_ext's ops runs). Bad input exits
with status 2 before any work; a failed run (a diverged loss) exits 1; Ctrl-C exits 130 after saving.
"""


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    metavar = ""
    if action.nargs != 0:
        name = action.metavar or (
            f"{{{','.join(map(str, action.choices))}}}" if action.choices else action.dest.upper()
        )
        metavar = f" {name}" + (" ..." if action.nargs in ("+", "*") else "")
    return ", ".join(f"`{flag}{metavar}`" for flag in action.option_strings)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown(parser: argparse.ArgumentParser) -> str:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in subparsers._choices_actions}
    lines = [HEADER]
    lines += ["| command | what it does |", "|---|---|"]
    lines += [f"| [`atu {name}`](#atu-{name}) | {_cell(helps.get(name) or '')} |" for name in subparsers.choices]
    for name, command in subparsers.choices.items():
        lines += ["", f"## atu {name}", "", _cell(helps.get(name) or ""), "", "| option | |", "|---|---|"]
        for action in command._actions:
            if isinstance(action, argparse._HelpAction) or action.dest == "ops":
                continue
            help_text = option_help(action)
            if action.required:
                help_text = f"(required) {help_text}"
            lines.append(f"| {_flags(action)} | {_cell(help_text)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    sys.stdout.write(markdown(build_parser()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
