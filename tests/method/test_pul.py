"""PUL: the closed form, its undefined case, and counting on a seeded bank against a direct count."""

import pytest
import torch

from atu.eval.pul import count_undesired, percentage_unlearned
from atu.models import Generator, narrow_channels


@pytest.mark.parametrize("before, after, want", [(200, 10, 95.0), (200, 200, 0.0), (50, 0, 100.0), (40, 60, -50.0)])
def test_percentage_unlearned_closed_form(before, after, want):
    assert percentage_unlearned(before, after) == pytest.approx(want)


def test_percentage_unlearned_refuses_what_it_cannot_define():
    with pytest.raises(ValueError, match="undefined"):
        percentage_unlearned(0, 3)
    with pytest.raises(ValueError, match=">= 0"):
        percentage_unlearned(10, -1)


def test_count_undesired_counts_the_same_bank_as_a_direct_count():
    torch.manual_seed(0)
    G = Generator(16, style_dim=16, n_mlp=1, channels=narrow_channels(16, 4)).eval()
    red_over_green = lambda x: x[:, 0].mean((1, 2)) > x[:, 1].mean((1, 2))  # noqa: E731
    want = int(red_over_green(G.sample(150, seed=4)).sum())
    assert 0 < want < 150
    assert count_undesired(G, red_over_green, n=150, seed=4, batch_size=32) == want
    assert count_undesired(G, lambda x: ~red_over_green(x), n=150, seed=4, batch_size=7) == 150 - want
