"""The sample bank: n seeded samples of the pre-trained generator, before anyone has judged them.

The bank is exactly `generator.sample(n, seed, truncation=..., batch_size=...)` (same z, same
noise, same images), so the seed in its metadata redraws it, and the stored z are the latents each
image came from. The images are kept as the uint8 pictures a user is shown: labelling and the
training stages all see those same bytes.
"""

from __future__ import annotations

import os
import sys

import torch
from tqdm import tqdm

from ..checkpoint.feedback_bundle import FeedbackBundle, images_to_uint8
from ..util.provenance import file_record, provenance

DEFAULT_N = 5000
# How `atu feedback` describes a bank nobody has labelled yet (every sample counts as desired).
UNLABELLED = {"kind": "none"}


def draw_bank(
    generator,
    n: int = DEFAULT_N,
    seed: int = 0,
    *,
    truncation: float = 1.0,
    batch_size: int | None = None,
    generator_file: str | os.PathLike | None = None,
    progress: bool = False,
) -> FeedbackBundle:
    """n samples of `generator` with their z, as a FeedbackBundle with no sample marked undesired.

    `generator_file`, when given, is recorded (path and SHA-256) so the bundle names the weights it
    came from; the generator's architecture and the sampling settings are always recorded."""

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"draw_bank: n must be a positive int, got {n!r}")
    if not 0 < truncation <= 1:
        raise ValueError(f"draw_bank: truncation must be in (0, 1] (1 = none), got {truncation}")
    batch_size = generator.images_per_pass() if batch_size is None else batch_size
    latents, images = [], []

    # where stderr is not a terminal (a log file, a notebook's captured output) one line per 30 s
    refresh = 0.1 if sys.stderr.isatty() else 30.0
    with tqdm(
        total=n,
        desc=f"draw samples ({generator.size} px, {batch_size} per pass)",
        unit="sample",
        disable=not progress,
        mininterval=refresh,
    ) as bar:
        for z, img, _ in generator.iter_samples(n, seed, truncation=truncation, batch_size=batch_size):
            latents.append(z.float())
            images.append(images_to_uint8(img))
            bar.update(len(z))
    described = {"config": generator.config()}
    if generator_file is not None:
        described.update(file_record(generator_file))
    metadata = {
        "generator": described,
        "sampling": {
            "method": "atu.models.Generator.sample",
            "n": n,
            "seed": seed,
            "truncation": truncation,
            "batch_size": batch_size,
        },
        "labeller": dict(UNLABELLED),
        "counts": {"n": n, "undesired": 0, "desired": n},
        "provenance": provenance(),
    }
    return FeedbackBundle(torch.cat(latents), torch.cat(images), torch.zeros(n, dtype=torch.bool), metadata)
