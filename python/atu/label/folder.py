"""The folder `atu label --out DIR` works in.

  DIR/bank.safetensors       the seeded samples, unjudged (drawn once; reopening DIR reuses them)
  DIR/feedback.safetensors   the person's marks on them: the bundle `atu adapt` / `atu unlearn` read

Keeping the bank separate from the marks means a Save never rewrites the samples themselves, and
the bank records exactly which generator, n and seed it came from, so a command line asking for a
different bank is caught before anything in DIR changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..feedback import FeedbackBundle

BANK_NAME = "bank.safetensors"
FEEDBACK_NAME = "feedback.safetensors"


@dataclass(frozen=True)
class LabelFolder:
    root: Path

    @property
    def bank_file(self) -> Path:
        return self.root / BANK_NAME

    @property
    def feedback_file(self) -> Path:
        return self.root / FEEDBACK_NAME


def bank_differences(
    bank: FeedbackBundle, *, generator_sha256: str | None, n: int | None, seed: int | None, truncation: float | None
) -> list[str]:
    """How an existing bank differs from the one asked for (None = not asked, anything goes); empty
    when it is the same bank. Compared by the generator's bytes, not its path: a moved file is the
    same generator, a retrained one at the same path is not."""
    generator = bank.metadata.get("generator", {})
    sampling = bank.metadata.get("sampling", {})
    differences = []
    if generator_sha256 is not None and generator.get("sha256") != generator_sha256:
        differences.append(
            f"it was drawn from another generator ({generator.get('path', 'unrecorded')}, "
            f"sha256 {str(generator.get('sha256'))[:12]}...)"
        )
    for name, asked in (("n", n), ("seed", seed), ("truncation", truncation)):
        if asked is not None and sampling.get(name) != asked:
            differences.append(f"it has --{name} {sampling.get(name)}, not {asked}")
    if n is not None and len(bank) != n:
        differences.append(f"it holds {len(bank)} samples, not {n}")
    return differences


def same_samples(a: FeedbackBundle, b: FeedbackBundle) -> bool:
    """Whether two bundles hold the same samples (latents and images, bit for bit)."""
    return (
        a.latents.shape == b.latents.shape
        and a.images.shape == b.images.shape
        and torch.equal(a.latents, b.latents)
        and torch.equal(a.images, b.images)
    )
