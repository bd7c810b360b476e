"""PUL, the paper's Percentage of samples with the Undesired feature that are Left out:

    PUL = 100 · (n_neg(θ_G) − n_neg(θ)) / n_neg(θ_G)

n_neg counts the samples of a fixed latent bank (default 15,000; the same seeds for both generators)
in which the judge finds the feature (classifiers/judges.py: a classifier's class, or a measurement).
100 = the feature is gone, 0 = unchanged, negative = the model makes it more often.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def percentage_unlearned(n_neg_pretrained: int, n_neg_unlearned: int) -> float:
    if n_neg_pretrained < 0 or n_neg_unlearned < 0:
        raise ValueError(f"counts must be >= 0, got {n_neg_pretrained} and {n_neg_unlearned}")
    if n_neg_pretrained == 0:
        raise ValueError(
            "PUL is undefined: the pre-trained generator made no undesired sample in the bank "
            "(use a larger bank or check the classifier and class)"
        )
    return 100.0 * (n_neg_pretrained - n_neg_unlearned) / n_neg_pretrained


# holds(images) -> bool [N]: which images hold the feature (a Judge's `holds`, classifiers/judges.py)
Holds = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def count_undesired(
    generator, holds: Holds, *, n: int = 15_000, seed: int = 0, batch_size: int = 256, shard: tuple[int, int] = (0, 1)
) -> int:
    """How many of n seeded samples hold the feature by `holds`. Samples are drawn batch by batch
    (G.iter_samples), so a 15,000-sample bank never sits in memory. With shard = (i, m), only that
    share of the bank's batches is counted (the shares add up)."""
    return count_undesired_by(generator, {"": holds}, n=n, seed=seed, batch_size=batch_size, shard=shard)[""]


@torch.no_grad()
def count_undesired_by(
    generator,
    judges: dict[str, Holds],
    *,
    n: int = 15_000,
    seed: int = 0,
    batch_size: int = 256,
    shard: tuple[int, int] = (0, 1),
) -> dict[str, int]:
    """count_undesired for several judges ({name: holds}) over one pass of the bank: each sample is
    generated once and judged by all."""
    counts = dict.fromkeys(judges, 0)
    batch_size = generator.images_per_pass(at_most=batch_size)  # fewer per pass at high resolution
    for _, images, _ in generator.iter_samples(n, seed, batch_size=batch_size, shard=shard):
        for name, holds in judges.items():
            counts[name] += int(holds(images).sum())
    return counts
