"""Metadata a checkpoint file carries (saved training arguments, constructor arguments, dataset
settings) as a bounded JSON-able copy.

What a pickle holds is a graph, not a tree: shared references let a few kilobytes describe a list
of a billion items, and nesting can run thousands deep. A real record holds a few dozen values a
few levels deep, so the copy refuses anything beyond MAX_VALUES values or MAX_DEPTH levels with a
CheckpointError instead of expanding it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import CheckpointError

MAX_VALUES = 10_000
MAX_DEPTH = 16
MAX_TEXT = 4096  # characters kept of one string


def plain_metadata(value: Any, what: str = "a metadata record") -> Any:
    """A JSON-able copy: numbers, strings, flags and None as they are; mappings with string keys and
    lists; anything else by its repr's type name in angle brackets."""
    budget = [MAX_VALUES]

    def copy(item: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise CheckpointError(f"{what} holds more than {MAX_VALUES:,} values (a real one holds a few dozen)")
        if item is None or isinstance(item, (bool, int, float)):
            return item
        if isinstance(item, str):
            return item[:MAX_TEXT]
        if depth >= MAX_DEPTH and isinstance(item, (Mapping, list, tuple, set, frozenset)):
            raise CheckpointError(f"{what} is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, Mapping):
            return {str(k)[:200]: copy(v, depth + 1) for k, v in item.items()}
        if isinstance(item, (list, tuple, set, frozenset)):
            return [copy(v, depth + 1) for v in item]
        return f"<{type(item).__name__}>"

    return copy(value, 0)
