"""Checks of hyper-parameters, shared by the commands' configurations: each error names the
option, the value given and what is allowed, before any work starts."""

from __future__ import annotations

import argparse
import math

# Upper bounds, checked before any work: a count beyond them is a typo (1e12 samples, 1e23 steps)
# that would otherwise run until killed or fail hours in. StyleGAN2's own longest runs are under a
# million steps; a study's banks hold thousands of samples.
MAX_COUNT = 10_000_000  # steps, samples, batch sizes, any other count
MAX_MODELS = 64  # stage 1's k adapted models
MAX_SEED = 2**32 - 1  # every seed atu passes on (numpy's legacy seeding takes 32 bits)


def positive_int(name: str, value, at_most: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= at_most:
        raise ValueError(f"{name} must be an integer from 1 to {at_most:,}, got {_brief(value)}")
    return value


def model_count(name: str, value) -> int:
    return positive_int(name, value, at_most=MAX_MODELS)


def seed_value(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must be an integer from 0 to {MAX_SEED:,}, got {_brief(value)}")
    return value


def _brief(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def positive(name: str, value) -> float:
    if non_negative(name, value) == 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


def one_of(name: str, value, allowed: tuple) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
    return value


def integer(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def boolean(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def non_negative_int(name: str, value, at_most: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= at_most:
        raise ValueError(f"{name} must be an integer from 0 to {at_most:,}, got {_brief(value)}")
    return value


# ---- the same bounds as argparse types: a flag out of range is refused by the parser (exit 2) ----


def count_arg(text: str) -> int:
    """`type=` of a count flag (--n, --steps, --batch-size, ...): an integer from 1 to MAX_COUNT."""
    return _parsed(text, positive_int)


def non_negative_count_arg(text: str) -> int:
    return _parsed(text, non_negative_int)


def seed_arg(text: str) -> int:
    """`type=` of a seed flag: an integer from 0 to MAX_SEED."""
    return _parsed(text, seed_value)


def _parsed(text: str, check) -> int:

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {_brief(text)}") from None
    try:
        return check("the value", value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace("the value ", "")) from None
