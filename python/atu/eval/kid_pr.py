"""KID and precision/recall of generated against real features, in float64.

KID (Bińkowski et al., 2018): the unbiased estimate of the squared MMD between the two feature
distributions under the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over random
subsets of equal size m (as the reference implementations do, so that its cost stays m² per subset):

    MMD²_u = 1/(m(m−1)) Σ_{i≠j} [k(x_i, x_j) + k(y_i, y_j)] − 2/m² Σ_{i,j} k(x_i, y_j)

Unlike FID it has an unbiased estimator, so it is comparable across sample sizes, and it is 0 in
expectation when the two distributions are the same.

Precision and recall (Kynkäänniemi et al., 2019): each set's manifold is the union of balls around
its points, of radius the distance to the point's k-th nearest neighbour within the set (k = 3 by
default). Precision is the share of generated points inside the real manifold (quality), recall the
share of real points inside the generated one (coverage).
"""

from __future__ import annotations

import torch


def _float64(features: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or features.ndim != 2:
        raise ValueError(f"{name} must be an [N, D] tensor of features")
    return features.detach().to(device="cpu", dtype=torch.float64)


def _polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased MMD² estimate of one pair of equally sized sets under the cubic kernel."""
    m = x.shape[0]
    kxx, kyy, kxy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    off_diagonal = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(off_diagonal - 2.0 * kxy.sum() / (m * m))


def kid(
    real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD² over `subsets` random subsets of min(subset_size, N) points
    of each set, drawn with a seeded generator; std is over subsets (ddof 1, 0 for one subset)."""
    x, y = _float64(real, "real"), _float64(fake, "fake")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"real features have {x.shape[1]} dimensions, fake ones {y.shape[1]}")
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 points per set, got {x.shape[0]} real and {y.shape[0]} fake")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor(
        [
            mmd2_unbiased(
                x[torch.randperm(x.shape[0], generator=g)[:m]], y[torch.randperm(y.shape[0], generator=g)[:m]]
            )
            for _ in range(subsets)
        ],
        dtype=torch.float64,
    )
    return float(values.mean()), float(values.std()) if subsets > 1 else 0.0


def _kth_neighbour_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    distances = torch.cdist(points, points)
    # k-th nearest other point: index k of the sorted row, index 0 being the point itself
    return distances.kthvalue(k + 1, dim=1).values


def _inside(manifold: torch.Tensor, radii: torch.Tensor, queries: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    hits = []
    for start in range(0, queries.shape[0], batch):
        d = torch.cdist(queries[start : start + batch], manifold)
        hits.append((d <= radii[None, :]).any(dim=1))
    return torch.cat(hits)


def covered(manifold: torch.Tensor, queries: torch.Tensor, k: int) -> torch.Tensor:
    """Which query rows fall inside the manifold of `manifold`'s rows (the union of each row's ball
    out to its k-th nearest other row): [n_queries] bool."""
    return _inside(manifold, _kth_neighbour_radii(manifold, k), queries)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, *, k: int = 3) -> tuple[float, float]:
    """(precision, recall), each in [0, 1], with k-th-nearest-neighbour balls as manifolds."""
    x, y = _float64(real, "real"), _float64(fake, "fake")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"real features have {x.shape[1]} dimensions, fake ones {y.shape[1]}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k >= min(x.shape[0], y.shape[0]):
        raise ValueError(f"k must be an int in 1..{min(x.shape[0], y.shape[0]) - 1}, got {k!r}")
    precision = covered(x, y, k).double().mean()
    recall = covered(y, x, k).double().mean()
    return float(precision), float(recall)
