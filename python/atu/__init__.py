"""atu: Adapt-then-Unlearn for StyleGAN2 — make a pre-trained generator stop producing a feature.

The Python API (docs/python.md) works on modules and tensors:

    import atu
    G, D = atu.load("550000.pt")                      # rosinality .pt, NVlabs .pkl, atu .safetensors
    bank = atu.mark(atu.sample(G, 5000), judge="mnist", undesired=8)
    adapted = atu.adapt(G, D, bank, steps=500)        # stage 1: k generators adapted to the feature
    G2 = atu.unlearn(G, D, bank, adapted, method="el2", steps=1600)   # stage 2
    atu.evaluate({"el2": G2}, pretrained=G, judge="mnist", undesired=8)
    atu.save(G2, "unlearned.safetensors", D=D)

Its names are loaded on first use, so `import atu` alone stays light (the command line imports
only what its command needs).
"""

from __future__ import annotations

from importlib import import_module, metadata

try:
    __version__ = metadata.version("atu")
except metadata.PackageNotFoundError:  # the source tree, not installed
    __version__ = "0+unknown"

API = (
    "load",
    "load_judge",
    "feature_judge",
    "sample",
    "mark",
    "adapt",
    "unlearn",
    "filter",
    "extrapolate",
    "evaluate",
    "save",
    "device_of",
)
__all__ = ["__version__", *API]


def __getattr__(name: str):
    if name in API:
        return getattr(import_module(".api", __name__), name)
    raise AttributeError(f"module 'atu' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(API))
