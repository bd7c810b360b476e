"""A classifier's classes by name: the label names its training recorded, and the undesired class a
user names by number or by name ("8", "Eyeglasses")."""

from __future__ import annotations

from torch import nn


def label_names(classifier: nn.Module) -> list[str]:
    """The classifier's class names from its training metadata, else the class numbers."""
    names = getattr(classifier, "metadata", {}).get("label_names")
    n = classifier.num_classes
    return [str(x) for x in names] if isinstance(names, list) and len(names) == n else [str(c) for c in range(n)]


def resolve_class(classifier: nn.Module, value: int | str) -> int:
    """The index of the undesired class, given as a number or as one of the classifier's label
    names (e.g. "Eyeglasses" for an attribute classifier); ValueError listing the valid ones."""
    names = label_names(classifier)
    if isinstance(value, str) and value in names:
        return names.index(value)
    try:
        index = int(value)
    except (TypeError, ValueError):
        index = None
    if index is None or isinstance(value, bool) or not 0 <= index < classifier.num_classes:
        listing = ", ".join(f"{i} ({name})" if name != str(i) else str(i) for i, name in enumerate(names))
        raise ValueError(f"class {value!r} is not one of the classifier's {classifier.num_classes} classes: {listing}")
    return index
