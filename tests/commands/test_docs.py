"""The documents stay true to the code: docs/commands.md is what the parsers generate, and every
relative link in README.md and docs/ points at a file (and heading) that exists."""

import re
from pathlib import Path

import pytest

from atu.cli import build_parser
from atu.command_docs import markdown

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_commands_md_is_generated_from_the_parsers():
    assert (ROOT / "docs" / "commands.md").read_text() == markdown(build_parser()), (
        "docs/commands.md is stale: python -m atu.command_docs > docs/commands.md"
    )


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"(?m)^#+ (.*)$", path.read_text())
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_relative_links_reach_existing_files_and_headings(document):
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        file_part, _, anchor = target.partition("#")
        path = (document.parent / file_part).resolve() if file_part else document
        assert path.exists(), f"{document.name}: link to missing {target}"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{document.name}: no heading #{anchor} in {path.name}"


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def test_every_commands_help_is_a_summary_not_the_module_docstring():
    import argparse

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        description = command.description or ""
        assert description.startswith(f"`atu {name}"), name
        assert len(description.splitlines()) <= 20, f"atu {name} --help: {len(description.splitlines())} lines"
        assert "docs/commands.md" in description, name


def test_every_option_says_what_it_does_and_its_default():
    """Before: `atu extrapolate --help` showed no defaults for --scales or --n-strip, and --seed and
    --device had no help text."""
    import argparse

    from atu.util.help import option_help

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in subparsers.choices.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            shown = option_help(action)
            assert shown.strip(), (name, action.option_strings)
            if action.default not in (None, False, argparse.SUPPRESS) and not action.required:
                assert "default" in shown.lower(), (name, action.option_strings, shown)
    assert "latents per row of strip.png (default: 8)" in " ".join(
        subparsers.choices["extrapolate"].format_help().split()
    )
    # argparse's % formatting is applied in both: a percent sign shows once, never as "%%"
    demo_help = " ".join(subparsers.choices["demo"].format_help().split())
    assert "the thickest 10% of strokes" in demo_help and "%%" not in demo_help
    assert "%%" not in (ROOT / "docs" / "commands.md").read_text()
