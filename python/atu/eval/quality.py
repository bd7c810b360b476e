"""Quality of a generator against real data: FID under a feature extractor, class frequencies."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .fid import extract_features, feature_statistics, frechet_distance

FeatureFn = Callable[[torch.Tensor], torch.Tensor]


def generator_fid(
    generator, feature_fn: FeatureFn, real_images: torch.Tensor, *, n: int = 2000, seed: int = 0, batch_size: int = 256
) -> float:
    """FID between n seeded samples of `generator` and `real_images` ([N, 3, R, R] in [-1, 1])."""
    if real_images.shape[-2:] != (generator.size, generator.size):
        raise ValueError(
            f"real images are {tuple(real_images.shape[-2:])} px, the generator makes {generator.size}×{generator.size}"
        )
    fake = generator.sample(n, seed=seed, batch_size=batch_size)
    real_stats = feature_statistics(extract_features(feature_fn, real_images, batch_size))
    fake_stats = feature_statistics(extract_features(feature_fn, fake, batch_size))
    return frechet_distance(*fake_stats, *real_stats)


@torch.no_grad()
def class_frequencies(
    generator,
    classify: Callable[[torch.Tensor], torch.Tensor],
    num_classes: int,
    *,
    n: int = 2000,
    seed: int = 0,
    batch_size: int = 256,
) -> list[float]:
    """Fraction of n seeded samples that `classify` (images -> labels) puts in each class."""
    labels = torch.cat([classify(images) for _, images, _ in generator.iter_samples(n, seed, batch_size=batch_size)])
    return (torch.bincount(labels.cpu(), minlength=num_classes).double() / n).tolist()
