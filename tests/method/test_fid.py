"""The Fréchet distance against closed forms and against an independent scipy computation."""

import numpy as np
import pytest
import scipy.linalg
import torch

from atu.eval.fid import feature_statistics, fid, frechet_distance


def _random_psd(d, seed):
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(d, d, generator=g, dtype=torch.float64)
    return m @ m.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_diagonal_covariances_match_the_closed_form():
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, -1.0])
    s1, s2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    want = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * (s1 * s2).sqrt()).sum()  # 10 + 4 + 1 + 0
    assert frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2)) == pytest.approx(float(want), abs=1e-12)


def test_scaled_covariance_closed_form():
    """Σ₂ = c²Σ₁ commutes with Σ₁: FID = ||Δμ||² + (1 − c)² tr(Σ₁)."""
    s1 = _random_psd(20, 0)
    mu = torch.zeros(20, dtype=torch.float64)
    assert frechet_distance(mu, s1, mu + 0.5, 9.0 * s1) == pytest.approx(20 * 0.25 + 4.0 * float(s1.trace()), rel=1e-10)


def test_general_case_matches_scipy_sqrtm():
    s1, s2 = _random_psd(16, 1), _random_psd(16, 2)
    mu1, mu2 = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    covmean = scipy.linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    want = float(((mu1 - mu2) ** 2).sum()) + np.trace(s1.numpy()) + np.trace(s2.numpy()) - 2 * np.trace(covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-9)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(want, rel=1e-9)


def test_identical_and_rank_deficient_statistics_give_zero():
    x = torch.randn(5, 12, dtype=torch.float64)  # 5 samples in 12-D: a singular covariance
    mu, sigma = feature_statistics(x)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_feature_statistics_match_numpy():
    x = torch.randn(50, 4)
    mu, sigma = feature_statistics(x)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x.double().numpy(), rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(mu.numpy(), x.double().numpy().mean(0), rtol=1e-12)


def test_fid_of_samples_approaches_the_population_value():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(20000, 2, generator=g)
    b = torch.randn(20000, 2, generator=g) * 2 + torch.tensor([1.0, 0.0])
    # population: ||Δμ||² = 1, tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) = 2·(1 + 4 − 4) = 2
    assert fid(lambda t: t, a, b, batch_size=4096) == pytest.approx(3.0, abs=0.1)


def test_bad_statistics_are_rejected():
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(torch.randn(1, 3))
    with pytest.raises(ValueError, match="mismatched"):
        frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3))


# ---- generator-level helpers (atu.eval.quality) -------------------------------------------------------


def _tiny_generator():
    from atu.models import Generator, narrow_channels

    torch.manual_seed(0)
    return Generator(16, style_dim=16, n_mlp=1, channels=narrow_channels(16, 4)).eval()


def test_generator_fid_is_the_fid_of_its_seeded_samples_and_checks_resolution():
    from atu.eval.quality import generator_fid

    G = _tiny_generator()
    mean_rgb = lambda x: x.mean(dim=(2, 3))  # noqa: E731
    real = torch.rand(300, 3, 16, 16, generator=torch.Generator().manual_seed(5)) * 2 - 1
    got = generator_fid(G, mean_rgb, real, n=200, seed=7)
    # the same batching as generator_fid's: a convolution's last bits may depend on the batch size
    want = fid(mean_rgb, G.sample(200, seed=7, batch_size=256), real)
    assert got == pytest.approx(want, rel=1e-12)
    assert generator_fid(G, mean_rgb, G.sample(400, seed=8), n=400, seed=9) < 0.05 * got
    with pytest.raises(ValueError, match="32.*16×16|16×16"):
        generator_fid(G, mean_rgb, torch.zeros(4, 3, 32, 32))


def test_class_frequencies_count_the_classifier_answers():
    from atu.eval.quality import class_frequencies

    G = _tiny_generator()
    brighter_red = lambda x: (x[:, 0].mean((1, 2)) > x[:, 1].mean((1, 2))).long()  # noqa: E731
    shares = class_frequencies(G, brighter_red, 3, n=100, seed=1, batch_size=32)
    images = G.sample(100, seed=1)
    n_red = int(brighter_red(images).sum())
    assert shares == pytest.approx([(100 - n_red) / 100, n_red / 100, 0.0])
