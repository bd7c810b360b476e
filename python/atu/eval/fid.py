"""Fréchet distance between Gaussians fitted to features (FID), in float64.

FID = ||μ₁ − μ₂||² + tr(Σ₁) + tr(Σ₂) − 2·tr((Σ₁Σ₂)^{1/2}).
Σ₁Σ₂ is similar to the symmetric PSD matrix A·Σ₂·A with A = Σ₁^{1/2}, so the trace of its square
root is Σ sqrt(eig(A·Σ₂·A)): two symmetric eigendecompositions, no complex sqrtm and no
imaginary parts to discard, and tiny negative eigenvalues from rounding are clipped to zero.
The feature extractor is pluggable (the classifier's penultimate layer by default; Inception-v3
for the standard FID numbers).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..util import distributed


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance (float64) of [N, D] features; N >= 2."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must be [N >= 2, D], got {tuple(features.shape)}")
    x = features.detach().to(torch.float64)
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / (x.shape[0] - 1)


class FeatureMoments:
    """Count n, mean μ and scatter S = Σ(x − μ)(x − μ)ᵀ of features in float64, built batch by
    batch. Two such summaries of disjoint sample sets merge exactly (Chan et al.'s update:
    S = S_a + S_b + δδᵀ·n_a·n_b/n, δ = μ_b − μ_a), so shards (batches, processes) combine, in any
    order, into the whole set's statistics up to rounding. Raw sums Σx, Σxxᵀ would combine the same
    way but lose digits to cancellation when the mean is large next to the spread."""

    def __init__(self, dim: int | None = None):
        self.n = 0
        self.mean = torch.zeros(dim, dtype=torch.float64) if dim is not None else None
        self.scatter = torch.zeros(dim, dim, dtype=torch.float64) if dim is not None else None

    @property
    def dim(self) -> int | None:
        return None if self.mean is None else self.mean.numel()

    def add(self, features: torch.Tensor) -> None:
        x = features.detach().flatten(1).to(device="cpu", dtype=torch.float64)
        if x.shape[0] == 0:
            return
        batch = FeatureMoments()
        batch.n, batch.mean = x.shape[0], x.mean(0)
        xc = x - batch.mean
        batch.scatter = xc.T @ xc
        self.merge(batch)

    def merge(self, other: FeatureMoments) -> None:
        if other.n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.scatter = other.n, other.mean.clone(), other.scatter.clone()
            return
        if other.dim != self.dim:
            raise ValueError(f"features of dimension {other.dim} merged into statistics of dimension {self.dim}")
        n = self.n + other.n
        delta = other.mean - self.mean
        self.scatter = self.scatter + other.scatter + torch.outer(delta, delta) * (self.n * other.n / n)
        self.mean = self.mean + delta * (other.n / n)
        self.n = n

    def over_ranks(self) -> FeatureMoments:
        """The moments of every rank merged, in rank order, on every rank (itself outside torchrun);
        a rank without samples contributes nothing. Gathered through one all-reduce of a
        zero-padded [world, 1 + D + D²] buffer in which each rank fills its own row."""
        if not distributed.active():
            return self
        own = self.dim or 0
        # [Σd, ranks with features, Σd²]: all those ranks share one d iff (Σd)² = k·Σd²
        d_sum, k, d_sq = (int(v) for v in distributed.all_reduce_sum(torch.tensor([own, int(own > 0), own * own])))
        if k == 0 or d_sum * d_sum != k * d_sq:
            raise ValueError(f"the ranks' features disagree in dimension or are missing (this rank: {self.dim})")
        dim = d_sum // k
        rows = torch.zeros(distributed.world_size(), 1 + dim + dim * dim, dtype=torch.float64)
        if self.n:
            rows[distributed.rank()] = torch.cat(
                [torch.tensor([float(self.n)], dtype=torch.float64), self.mean, self.scatter.flatten()]
            )
        rows = distributed.all_reduce_sum(rows)
        merged = FeatureMoments()
        for row in rows:
            part = FeatureMoments(dim)
            part.n = int(round(float(row[0])))
            part.mean, part.scatter = row[1 : 1 + dim].clone(), row[1 + dim :].view(dim, dim).clone()
            merged.merge(part)
        return merged

    def statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and unbiased covariance, as feature_statistics gives for the same features."""
        if self.n < 2:
            raise ValueError(f"need features of >= 2 samples, got {self.n}")
        return self.mean, self.scatter / (self.n - 1)


def _psd_sqrt(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    mu1, mu2, sigma1, sigma2 = (t.to(torch.float64) for t in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.numel(),) * 2:
        raise ValueError(
            f"mismatched statistics: mu {tuple(mu1.shape)} / {tuple(mu2.shape)}, "
            f"sigma {tuple(sigma1.shape)} / {tuple(sigma2.shape)}"
        )
    a = _psd_sqrt(sigma1)
    middle = a @ sigma2 @ a
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    value = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * tr_sqrt
    return float(value.clamp_min(0))


@torch.no_grad()
def extract_features(
    feature_fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, batch_size: int = 256
) -> torch.Tensor:
    return torch.cat(
        [
            feature_fn(images[i : i + batch_size]).flatten(1).double().cpu()
            for i in range(0, images.shape[0], batch_size)
        ]
    )


def fid(
    feature_fn: Callable[[torch.Tensor], torch.Tensor],
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    batch_size: int = 256,
) -> float:
    """FID between two image sets under feature_fn."""
    sa = feature_statistics(extract_features(feature_fn, images_a, batch_size))
    sb = feature_statistics(extract_features(feature_fn, images_b, batch_size))
    return frechet_distance(*sa, *sb)
