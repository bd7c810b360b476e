"""The user's marks: which samples of a bank are undesired, as indices into it.

A marks file is either JSON, `{"undesired": [3, 17, ...]}` (other keys are ignored, so a labelling
tool may add its own) or a plain list `[3, 17, ...]`, or text with one index per line, `#` starting
a comment. Indices count from 0 in the bank's order. Every problem is reported at once, naming the
entries, because a user fixing a hand-made file wants the whole list, not the first mistake.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from numbers import Integral
from pathlib import Path
from typing import Any

from ..util.errors import InputError

# Listing more bad entries than this helps nobody; the count says how many there were.
_SHOWN = 8


class MarksError(InputError):
    """A marks file or list that cannot be read as indices into the bank."""


def read_marks(path: str | os.PathLike) -> list[Any]:
    """The entries of a marks file, in file order. JSON entries come back as written (check_marks
    judges them); text lines must be integers, and a line that is not is reported by number."""
    path = Path(path)
    if not path.is_file():
        raise MarksError(
            f"marks file {path} does not exist" if not path.exists() else f"marks file {path} is not a file"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise MarksError(
            f"{path}: not a text file (JSON or one index per line): {err.reason} at byte {err.start}"
        ) from err
    if text.lstrip()[:1] in ("{", "["):
        return _from_json(path, text)
    return _from_text(path, text)


def check_marks(marks: Iterable[Any], n: int) -> list[int]:
    """The marks as sorted int indices, after checking every entry is an int in [0, n) and appears
    once; otherwise a MarksError naming every bad entry by position and value."""
    entries = marks.tolist() if hasattr(marks, "tolist") else list(marks)
    not_int, out_of_range, seen, repeated = [], [], {}, {}
    for position, value in enumerate(entries):
        # bool is an Integral in Python, but True is surely a mistake for index 1
        if isinstance(value, bool) or not isinstance(value, Integral):
            not_int.append(f"#{position}: {value!r}")
            continue
        value = int(value)
        if not 0 <= value < n:
            out_of_range.append(f"#{position}: {value}")
        elif value in seen:
            repeated.setdefault(value, [seen[value]]).append(position)
        else:
            seen[value] = position
    problems = []
    if not_int:
        problems.append(f"not integer indices: {_listing(not_int)}")
    if out_of_range:
        problems.append(f"outside the bank of {n} samples (valid: 0..{n - 1}): {_listing(out_of_range)}")
    if repeated:
        problems.append("repeated: " + _listing([f"{v} ({_positions(p)})" for v, p in repeated.items()]))
    if problems:
        raise MarksError("marks: " + "; ".join(problems) + " (#k = the k-th entry, counting from 0)")
    return sorted(seen)


def _from_json(path: Path, text: str) -> list[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise MarksError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from err
    except RecursionError:  # [[[[...]]]] nested past the parser's depth
        raise MarksError(f"{path}: nested too deeply to be a list of marks") from None
    if isinstance(data, dict):
        if "undesired" not in data:
            raise MarksError(
                f'{path}: a JSON object needs the key "undesired" (a list of sample indices); '
                f"it has {sorted(data) or 'no keys'}"
            )
        data = data["undesired"]
    if not isinstance(data, list):
        raise MarksError(f"{path}: the undesired samples must be a JSON list of indices, got {type(data).__name__}")
    return data


def _from_text(path: Path, text: str) -> list[int]:
    marks, bad = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            marks.append(int(entry))
        except ValueError:
            bad.append(f"line {number}: {entry!r}")
    if bad:
        raise MarksError(
            f"{path}: every line must hold one sample index (or a # comment); not an index: {_listing(bad)}"
        )
    return marks


def _positions(positions: list[int]) -> str:
    shown = ", ".join(f"#{p}" for p in positions[:_SHOWN])
    return shown + (f" and {len(positions) - _SHOWN} more times" if len(positions) > _SHOWN else "")


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")
