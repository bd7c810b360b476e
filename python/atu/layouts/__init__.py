"""State-dict layouts of rosinality/stylegan2-pytorch models (names, shapes, kinds), as TSV files.

They are the contract our StyleGAN2 models must match, and the real shape lists that the penalty
tests and benchmarks run on.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

LAYOUTS = {
    "G32": "rosinality_G32_style128.tsv",
    "G256": "rosinality_G256_style512.tsv",
    "D32": "rosinality_D32.tsv",
    "D256": "rosinality_D256.tsv",
}


@dataclass(frozen=True)
class Entry:
    name: str
    shape: tuple[int, ...]
    kind: str  # "parameter" or "buffer"


def load(layout: str) -> list[Entry]:
    """Every state_dict entry of the named layout ("G32", "G256", "D32", "D256"), in order."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {sorted(LAYOUTS)}")
    text = resources.files(__name__).joinpath(LAYOUTS[layout]).read_text()
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, shape, kind = line.split("\t")
        dims = tuple(int(x) for x in shape.strip("[]").split(",") if x.strip())
        entries.append(Entry(name, dims, kind))
    return entries


def parameter_shapes(layout: str) -> list[tuple[int, ...]]:
    """Shapes of the trainable parameters of a layout, in state_dict order."""
    return [e.shape for e in load(layout) if e.kind == "parameter"]
