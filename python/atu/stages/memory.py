"""What a stage needs in memory on a CPU, before it runs: the peak resident memory of one `atu adapt`
or `atu unlearn` process (a training step with R1 and the path-length term, the end-of-run sample
grid, checkpoint and model files) for a generator and discriminator at a batch size.

The model is linear in two sizes, each a count of float32 values:
- the parameters of G and D (`static`): what every stage keeps a fixed number of copies of (G, its
  EMA, their gradients and Adam's two moments, D likewise, θ_G and the Fisher in stage 1) and what a
  checkpoint serialises; stage 2 holds besides one generator per adapted model (k, not fitted);
- the activations of one image (`activations`): Σ over resolutions r of channels(r)·r², the size of
  one feature map per resolution; a training step keeps many per image (G's forward for D's and G's
  steps, D's forward and backward, the double backward of R1 and of the path length).
(A third size, G's convolution weights once per image, fitted a coefficient of zero: atu's CPU
convolution never builds per-sample weights.) The coefficients are least-squares fits to peaks
measured over 64- to 512-px generators at batches 2 to 8 above a fixed floor, the process with
Python, torch and atu loaded (bench/experiments/stage_memory.py; the record and the fit:
docs/scaling.md). A GPU holds the same tensors but not the process floor, and caches freed blocks:
the model is for CPUs and a first guess on a GPU.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from torch import nn

from ..util import distributed
from ..util.memory import available_bytes, gib

FLOAT_BYTES = 4
# The process before its models: Python, torch and atu (`atu adapt --help` alone is 0.23 GiB) and what
# the allocator keeps of freed reads. Fixed by hand, not fitted: it decides the small models' peaks (a
# 64-px model at half width, tests/method/test_memory_model.py, is best predicted at 0.6 to 0.7 GB) and
# barely the large ones' (fits from 0.4 to 0.8 GB differ by under a point in their worst error).
FLOOR_BYTES = 6e8


@dataclass(frozen=True)
class Sizes:
    generator: int  # parameter values of G
    static: int  # parameter values of G and D
    activations: int  # values of one image's feature maps, one map per resolution of G and of D


@dataclass(frozen=True)
class Coefficients:
    per_static: float  # copies of every parameter alive at the peak
    per_activation: float  # feature maps of one image alive at the peak


def sizes(G: nn.Module, D: nn.Module) -> Sizes:
    generator = sum(p.numel() for p in G.parameters())
    static = generator + sum(p.numel() for p in D.parameters())
    activations = sum(c * r * r for r, c in G.channels.items()) + sum(c * r * r for r, c in D.channels.items())
    return Sizes(generator, static, activations)


# Fitted per stage (see the module's docstring); stage 1 trains its k models one after the other in
# one process, so k does not enter its peak; stage 2 holds the k adapted generators.
COEFFICIENTS: dict[str, Coefficients] = {
    "adapt": Coefficients(per_static=9.894, per_activation=5.972),
    "unlearn": Coefficients(per_static=7.569, per_activation=5.318),
}


def stage_peak_bytes(G: nn.Module, D: nn.Module, batch: int, stage: str, *, k: int = 2) -> int:
    """The predicted peak resident bytes of one process running `stage` ("adapt" or "unlearn") at
    `batch` with k adapted models."""
    if stage not in COEFFICIENTS:
        raise ValueError(f"stage must be one of {sorted(COEFFICIENTS)}, got {stage!r}")
    c, s = COEFFICIENTS[stage], sizes(G, D)
    adapted = k * s.generator if stage == "unlearn" else 0
    values = c.per_static * s.static + adapted + batch * c.per_activation * s.activations
    return int(FLOOR_BYTES + FLOAT_BYTES * values)


def warn_if_tight(G: nn.Module, D: nn.Module, batch: int, stage: str, *, k: int, device) -> None:
    """Says on stderr, before any work, when a CPU run's predicted peak is more than the memory free:
    the kernel may stop it partway (a GPU says so itself, with an out-of-memory error)."""
    if torch.device(device).type != "cpu" or not distributed.is_main():
        return
    free = available_bytes(device)
    need = stage_peak_bytes(G, D, batch, stage, k=k)
    if free is not None and need > free:
        print(
            f"atu {stage}: at batch {batch} this run needs about {gib(need)} at its peak and {gib(free)} is free;"
            f" it may be stopped partway (a smaller --batch needs less: docs/scaling.md)",
            file=sys.stderr,
        )
