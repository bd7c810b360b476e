"""KID and precision/recall against loops written from the definitions, and against hand-placed points."""

import math

import pytest
import torch

from atu.eval.kid_pr import kid, mmd2_unbiased, precision_recall


def _mmd2_loops(x, y):
    d = len(x[0])
    k = lambda a, b: (sum(ai * bi for ai, bi in zip(a, b)) / d + 1.0) ** 3  # noqa: E731
    m = len(x)
    same = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    cross = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return same - 2 * cross


def test_the_unbiased_mmd_equals_the_definitions_double_sum():
    g = torch.Generator().manual_seed(0)
    x, y = (
        torch.randn(7, 3, generator=g, dtype=torch.float64),
        torch.randn(7, 3, generator=g, dtype=torch.float64) + 0.5,
    )
    assert math.isclose(mmd2_unbiased(x, y), _mmd2_loops(x.tolist(), y.tolist()), rel_tol=1e-12)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_the_shift():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(400, 8, generator=g)
    same = torch.randn(400, 8, generator=g)
    mean, std = kid(real, same, subsets=50, subset_size=200)
    assert abs(mean) < 2 * std  # overlapping subsets are correlated: bound by one estimate's spread
    shifted = [kid(real, same + s, subsets=10, subset_size=200)[0] for s in (0.25, 0.5, 1.0)]
    assert shifted[0] < shifted[1] < shifted[2] and shifted[0] > abs(mean)
    assert kid(real, same, subsets=5, seed=3) == kid(real, same, subsets=5, seed=3)  # seeded


def test_precision_and_recall_of_hand_placed_points():
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    fake = torch.tensor([[0.5, 0.5], [10.0, 10.0]])
    # real balls (k=1) have radius 1: the centre is inside, (10, 10) is not; the fake balls have
    # radius |(10,10) − (0.5,0.5)| ≈ 13.4, so every real point is covered
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)


def test_precision_and_recall_equal_a_loop_over_points():
    g = torch.Generator().manual_seed(2)
    real, fake = (
        torch.randn(30, 4, generator=g, dtype=torch.float64),
        torch.randn(25, 4, generator=g, dtype=torch.float64) * 1.5,
    )

    def manifold_share(manifold, queries, k):
        radii = [sorted(float((p - q).norm()) for q in manifold)[k] for p in manifold]
        return sum(any(float((q - p).norm()) <= r for p, r in zip(manifold, radii)) for q in queries) / len(queries)

    assert precision_recall(real, fake, k=3) == pytest.approx(
        (manifold_share(real, fake, 3), manifold_share(fake, real, 3))
    )


def test_bad_inputs_are_refused_naming_them():
    x = torch.randn(5, 3)
    with pytest.raises(ValueError, match="real features have 3 dimensions, fake ones 2"):
        kid(x, torch.randn(5, 2))
    with pytest.raises(ValueError, match="k must be an int in 1..4"):
        precision_recall(x, x, k=5)
    with pytest.raises(ValueError, match="at least 2 points"):
        kid(x[:1], x)


@pytest.mark.parametrize("shift", [0.0, 0.7])
def test_precision_and_recall_equal_prdc(shift):
    """Against prdc (Naeem et al.'s reference implementation of Kynkäänniemi et al.'s precision and
    recall, k-NN balls on numpy and scikit-learn): the same points, the same k."""
    import numpy as np
    import prdc  # the test extra installs it: a missing oracle fails, never skips

    g = torch.Generator().manual_seed(5)
    real = torch.randn(300, 16, generator=g, dtype=torch.float64)
    fake = torch.randn(250, 16, generator=g, dtype=torch.float64) * 1.2 + shift
    theirs = prdc.compute_prdc(real_features=real.numpy(), fake_features=fake.numpy(), nearest_k=3)
    ours = precision_recall(real, fake, k=3)
    assert ours == pytest.approx((float(theirs["precision"]), float(theirs["recall"])), abs=1e-12)
    assert 0 < ours[0] < 1 and 0 < ours[1] < 1 and np.isfinite(theirs["density"])
